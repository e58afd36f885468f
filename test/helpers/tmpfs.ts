import { execFile } from "node:child_process";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A small tmpfs of its own, to fill up for real: ENOSPC from the kernel, not from a mock. Needs root. */
export interface Tmpfs {
  /** The mount point. */
  readonly dir: string;
  /** Fills every free byte with a ballast file (4 KiB writes, then single bytes until ENOSPC). */
  fill(): Promise<void>;
  /** Deletes the ballast: the space is back. */
  free(): Promise<void>;
  /** Unmounts and removes the mount point. */
  unmount(): Promise<void>;
}

/** Mounts a tmpfs of `bytes` on a fresh directory (`mount -t tmpfs -o size=…`). */
export async function mountTmpfs(bytes: number): Promise<Tmpfs> {
  const dir = await mkdtemp(join(tmpdir(), "vesmon-tmpfs-"));
  await run("mount", ["-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", dir]).catch((err: Error) => {
    throw new Error(`cannot mount a tmpfs on ${dir} (these tests run as root): ${err.message}`);
  });
  const ballast = join(dir, "ballast");
  return {
    dir,
    async fill() {
      const h = await open(ballast, "a");
      try {
        for (const chunk of [Buffer.alloc(4096, 1), Buffer.alloc(1, 1)])
          for (;;) {
            const { bytesWritten } = await h.write(chunk).catch((err: NodeJS.ErrnoException) => {
              if (err.code === "ENOSPC") return { bytesWritten: 0 };
              throw err;
            });
            if (bytesWritten < chunk.length) break;
          }
      } finally {
        await h.close();
      }
    },
    async free() {
      await rm(ballast, { force: true });
    },
    async unmount() {
      // Lazy, so a file a failed test left open cannot keep the mount (and the test run) hanging.
      await run("umount", ["--lazy", dir]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
