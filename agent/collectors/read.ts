import { readFile } from "node:fs/promises";
import { SourceUnavailableError } from "./collector.ts";

/** Reads a host file as text; a missing or unreadable file becomes a SourceUnavailableError naming the path. */
export async function readSource(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new SourceUnavailableError(
      `${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}
