import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

// A memory cgroup with a limit, so a benchmark runs a process as a container with that limit runs it: Node reads
// the limit (process.constrainedMemory) and sizes V8's heap from it when told a percentage, and the kernel
// OOM-kills past it. cgroup v2 (memory.max) or v1's memory controller (memory.limit_in_bytes).

/** A memory cgroup made for one benchmark run. */
export interface MemoryCgroup {
  /** The file a process's pid is written to, to move it in. */
  readonly procs: string;
  /** Processes the kernel killed for the limit (`oom_kill` of v2 memory.events, v1 memory.oom_control). */
  oomKills(): number;
  /** Removes the cgroup (once no process is left in it). */
  remove(): void;
}

const V2 = "/sys/fs/cgroup/cgroup.controllers";
const V1 = "/sys/fs/cgroup/memory";

/** Makes `name` with a memory limit of `limitMiB`; throws, naming what is missing, where it cannot. */
export function makeMemoryCgroup(name: string, limitMiB: number): MemoryCgroup {
  const bytes = String(limitMiB * 1024 * 1024);
  const v2 = existsSync(V2) && readFileSync(V2, "utf8").split(/\s+/).includes("memory");
  const dir = v2 ? join("/sys/fs/cgroup", name) : join(V1, name);
  try {
    if (!v2 && !existsSync(V1)) throw new Error("no memory controller at /sys/fs/cgroup/memory");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, v2 ? "memory.max" : "memory.limit_in_bytes"), bytes);
  } catch (err) {
    throw new Error(
      `a memory cgroup of ${limitMiB} MiB at ${dir} (the chart's limit; needs root): ${(err as Error).message}`,
    );
  }
  const read = (file: string) => {
    try {
      return readFileSync(join(dir, file), "utf8");
    } catch {
      return "";
    }
  };
  return {
    procs: join(dir, "cgroup.procs"),
    oomKills: () =>
      Number(/^oom_kill (\d+)/m.exec(read(v2 ? "memory.events" : "memory.oom_control"))?.[1] ?? 0),
    remove: () => {
      try {
        rmdirSync(dir);
      } catch {
        // A process still in it (being killed): the kernel keeps the group; a later run makes its own name.
      }
    },
  };
}
