import { type ChildProcess, execFile } from "node:child_process";
import { once } from "node:events";
import { rmSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { type AddressInfo, createServer } from "node:net";
import { cpus, release, totalmem } from "node:os";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Clock ticks per second of utime/stime in /proc/<pid>/stat (USER_HZ, 100 on every Linux we target). */
export const CLOCK_TICKS = 100;

/** utime + stime of a process in seconds, or 0 when it is gone. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  // comm may hold spaces and parentheses, so count the fields from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / CLOCK_TICKS;
}

/** Sum of `cpuSeconds` over several processes. */
export async function cpuSecondsOf(pids: readonly number[]): Promise<number> {
  let sum = 0;
  for (const pid of pids) sum += await cpuSeconds(pid);
  return sum;
}

/** A "Key:   123 kB" line of a /proc file, in KiB; 0 when absent. */
const kibField = (text: string, key: string) =>
  Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0);

/** Peak (VmHWM) and current (VmRSS) resident memory of a process in MiB; 0 when it is gone. */
export async function rssMiB(pid: number): Promise<{ peak: number; now: number }> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  return { peak: kibField(status, "VmHWM") / 1024, now: kibField(status, "VmRSS") / 1024 };
}

/**
 * Resident memory of a process in MiB from /proc/<pid>/smaps_rollup: all of it, the anonymous part (heaps,
 * stacks, malloc arenas) and the rest, file-backed pages (the binary, shared libraries, ICU data); 0 when gone.
 */
export async function residentMiB(pid: number): Promise<{ rss: number; anonymous: number; file: number }> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, "utf8").catch(() => "");
  const rss = kibField(text, "Rss") / 1024;
  const anonymous = kibField(text, "Anonymous") / 1024;
  return { rss, anonymous, file: rss - anonymous };
}

/** The names (`comm`) of a process's threads; empty when it is gone. */
export async function threadNames(pid: number): Promise<string[]> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const names = await Promise.all(
    tasks.map((t) => readFile(`/proc/${pid}/task/${t}/comm`, "utf8").catch(() => "")),
  );
  // A thread that ended between the readdir and its read leaves an empty name.
  return names.map((n) => n.trim()).filter((n) => n !== "");
}

/** What the figures were measured on. */
export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  /** "v2" (unified only), "v1" (legacy or hybrid). */
  cgroup: string;
  os: string;
}

/** Describes this machine. */
export async function describeMachine(): Promise<Machine> {
  const osRelease = await readFile("/etc/os-release", "utf8").catch(() => "");
  const fsType = await run("stat", ["-fc", "%T", "/sys/fs/cgroup"]).then(
    (r) => r.stdout.trim(),
    () => "",
  );
  return {
    cpuModel: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    cgroup: fsType === "cgroup2fs" ? "v2" : "v1",
    os: /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1] ?? "unknown",
  };
}

/** Installed versions of Debian packages by `dpkg-query -W`; absent ones are left out. */
export async function packageVersions(names: readonly string[]): Promise<Record<string, string>> {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: this is dpkg-query's format syntax, not a template.
  const format = "${Package} ${Version} ${db:Status-Status}\n";
  // dpkg-query exits 1 when a name is unknown; the stdout for the rest is still there.
  const out = await run("dpkg-query", ["-W", "-f", format, ...names]).then(
    (r) => r.stdout,
    (err: { stdout?: string }) => err.stdout ?? "",
  );
  const versions: Record<string, string> = {};
  for (const line of out.split("\n")) {
    const [name, version, status] = line.trim().split(/\s+/);
    if (name && version && status === "installed") versions[name] = version;
  }
  return versions;
}

/** SIGTERM, then SIGKILL after `graceMs` (10 s); resolves once the process has exited. */
export async function terminate(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

/** A free TCP port on 127.0.0.1 (bound, read and released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, "close");
  return port;
}

/**
 * The child processes a benchmark has running, killed (SIGKILL) should it be interrupted (SIGINT, SIGTERM: then
 * `dir` is removed and the process exits 130) or exit before stopping them. `release` ends the guard, killing
 * what is left.
 */
export function guardChildren(dir?: string): { children: Set<ChildProcess>; release: () => void } {
  const children = new Set<ChildProcess>();
  const killAll = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  };
  // Synchronously: a measurement seeing its children die must not get to report a failure first.
  const onSignal = () => {
    killAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  process.once("exit", killAll);
  return {
    children,
    release: () => {
      killAll();
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      process.off("exit", killAll);
    },
  };
}
