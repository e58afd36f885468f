import { type FileHandle, open } from "node:fs/promises";
import { SourceUnavailableError } from "./collector.ts";

/**
 * Buffers host files are read into, reused. /proc and cgroup files report a size of 0, so `readFile` reads them
 * in fresh 64 KiB chunks: several per collection cycle, garbage that makes the small young generation collect
 * more often. A read takes a buffer from here (or makes one) and gives it back once the text is decoded.
 */
const free: Buffer[] = [];
const FIRST_SIZE = 64 * 1024;
/** Buffers kept for reuse, and the largest kept: a rare big file does not stay in memory. */
const KEEP = 4;
const KEEP_SIZE = 1024 * 1024;

/** Reads a host file as text; a missing or unreadable file becomes a SourceUnavailableError naming the path. */
export async function readSource(path: string): Promise<string> {
  try {
    return await readText(path);
  } catch (err) {
    throw new SourceUnavailableError(
      `${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

/** Reads a file as UTF-8 text, as `readFile(path, "utf8")` does (its errors as they come), through a reused buffer. */
export async function readText(path: string): Promise<string> {
  const handle = await open(path, "r");
  try {
    return await readAll(handle);
  } finally {
    await handle.close().catch(() => {});
  }
}

async function readAll(handle: FileHandle): Promise<string> {
  let buf = free.pop() ?? Buffer.allocUnsafeSlow(FIRST_SIZE);
  try {
    let length = 0;
    for (;;) {
      if (length === buf.length) {
        const bigger = Buffer.allocUnsafeSlow(buf.length * 2);
        buf.copy(bigger, 0, 0, length);
        buf = bigger;
      }
      const { bytesRead } = await handle.read(buf, length, buf.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return buf.toString("utf8", 0, length);
  } finally {
    if (free.length < KEEP && buf.length <= KEEP_SIZE) free.push(buf);
  }
}
