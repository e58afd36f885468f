import { type ChildProcess, execFile } from "node:child_process";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
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

/** Peak (VmHWM) and current (VmRSS) resident memory of a process in MiB; 0 when it is gone. */
export async function rssMiB(pid: number): Promise<{ peak: number; now: number }> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
  return { peak: kib("VmHWM") / 1024, now: kib("VmRSS") / 1024 };
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
