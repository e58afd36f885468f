import { constants } from "node:fs";
import { access, mkdir, stat, statfs } from "node:fs/promises";
import { dirname, resolve } from "node:path";

/** Filesystems a state dir must not live on: kernel views where files cannot be made (and Node's recursive mkdir loops on proc). */
const PSEUDO_FS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, "proc"],
  [0x62656572, "sysfs"],
  [0x63677270, "cgroup2"],
  [0x27e0eb, "cgroup"],
  [0x64626720, "debugfs"],
  [0x74726163, "tracefs"],
  [0x1cd1, "devpts"],
  [0x73636673, "securityfs"],
]);

/** What the checks read; the real filesystem unless a test gives another. */
export interface StateDirFs {
  stat: (path: string) => Promise<{ isDirectory(): boolean }>;
  statfs: (path: string) => Promise<{ type: number }>;
  access: (path: string, mode: number) => Promise<void>;
  mkdir: (path: string, opts: { recursive: true }) => Promise<unknown>;
}

const REAL_FS: StateDirFs = { stat, statfs, access, mkdir };

/**
 * Makes sure the agent's state dir exists and is writable, or says why it cannot be, before anything uses it.
 * The path is checked before mkdir: its first existing ancestor must be a writable directory on a real
 * filesystem (not proc, sysfs, cgroup…), so a path under /proc is refused at once instead of hanging.
 */
export async function prepareStateDir(
  path: string,
  fs: StateDirFs = REAL_FS,
): Promise<{ ok: true; path: string } | { ok: false; error: string }> {
  const full = resolve(path);
  const fail = (why: string) => ({ ok: false as const, error: `state dir ${full}: ${why}` });
  let existing = full;
  for (;;) {
    const s = await fs.stat(existing).catch((err: NodeJS.ErrnoException) => err);
    if (!(s instanceof Error)) {
      if (!s.isDirectory()) return fail(`${existing} is not a directory`);
      break;
    }
    if (s.code !== "ENOENT" && s.code !== "ENOTDIR") return fail(`cannot read ${existing} (${s.code})`);
    if (dirname(existing) === existing) return fail("no existing parent directory");
    existing = dirname(existing);
  }
  const kind = PSEUDO_FS.get((await fs.statfs(existing)).type);
  if (kind) return fail(`${existing} is on a ${kind} filesystem; pick a directory on disk (--state-dir)`);
  const writable = await fs.access(existing, constants.W_OK | constants.X_OK).catch((err) => err as Error);
  if (writable instanceof Error)
    return fail(`${existing} is not writable (${(writable as NodeJS.ErrnoException).code})`);
  if (existing !== full) {
    const made = await fs.mkdir(full, { recursive: true }).catch((err) => err as Error);
    if (made instanceof Error) return fail(`cannot create it (${(made as NodeJS.ErrnoException).code})`);
  }
  return { ok: true, path: full };
}
