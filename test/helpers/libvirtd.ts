import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const QEMU_DRIVER = "/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so";
// What the qemu driver needs on a host without systemd or a libvirt-qemu login (libvirt NOTES §1.4):
// run guests as root, no security driver, QEMU's stdio to files so no virtlogd is needed.
const QEMU_CONF = [
  'user = "root"',
  'group = "root"',
  "dynamic_ownership = 0",
  'security_driver = "none"',
  'stdio_handler = "file"',
  "",
].join("\n");

/**
 * A private libvirtd started for tests: its own socket directory, config and log, no systemd, and its own mount
 * namespace in which /run/libvirt, /var/lib/libvirt, /var/cache/libvirt and /etc/libvirt are private.
 */
export interface Libvirtd {
  dir: string;
  /** Read-write socket. */
  socket: string;
  /** Read-only socket. */
  roSocket: string;
  readonly pid: number;
  /** `virsh` against this daemon: `virsh("test:///default", "suspend", "test")`. */
  virsh(uri: string, ...args: string[]): Promise<string>;
  /** A URI for virsh naming this daemon's read-write socket, e.g. `uriFor("qemu:///system")`. */
  uriFor(uri: string): string;
  /** Kills the daemon and starts it again on the same sockets (the client must reconnect). */
  restart(): Promise<void>;
  /** Kills the daemon only (guests keep running); `startDaemon` brings it back on the same sockets. */
  stopDaemon(): Promise<void>;
  startDaemon(): Promise<void>;
  /** Stops the daemon, removes its directory and the cgroups libvirt left. */
  stop(): Promise<void>;
  log(): Promise<string>;
}

/** The qemu driver refuses to start unless this user exists, even when told to run guests as root. */
async function ensureQemuUser(): Promise<void> {
  if ((await run("getent", ["passwd", "libvirt-qemu"]).catch(() => ({ stdout: "" }))).stdout !== "") return;
  await run("groupadd", ["--system", "-f", "libvirt-qemu"]);
  await run("useradd", [
    "--system",
    "--no-create-home",
    "-g",
    "libvirt-qemu",
    "-s",
    "/usr/sbin/nologin",
    "libvirt-qemu",
  ]);
}

/**
 * The host directories libvirtd and its drivers keep state in (driver.pid, guest status XML, monitor sockets,
 * the capabilities cache, qemu.conf). Each private daemon gets its own copy of every one, bind-mounted over the
 * host path inside a mount namespace of its own, so it never meets another libvirtd on the machine (the host's
 * or another test's). The copies live in the daemon's directory, so a daemon restarted by `startDaemon` finds
 * the guests its predecessor started.
 */
const PRIVATE_DIRS: ReadonlyArray<[host: string, own: string]> = [
  ["/run/libvirt", "ns-run"],
  ["/var/lib/libvirt", "ns-lib"],
  ["/var/cache/libvirt", "ns-cache"],
  ["/etc/libvirt", "ns-etc"],
];

/** A shell script that mounts the daemon's private directories over the host's, then becomes `argv`. */
function isolatedLaunchScript(dir: string, argv: readonly string[]): string {
  const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const mounts = PRIVATE_DIRS.map(([host, own]) => `mount --bind ${quote(join(dir, own))} ${quote(host)}`);
  return ["set -e", ...mounts, `exec ${argv.map(quote).join(" ")}`].join("\n");
}

async function waitFor(
  check: () => boolean,
  what: string,
  proc: ChildProcess,
  timeoutMs = 10_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (proc.exitCode !== null || proc.signalCode !== null)
      throw new Error(`libvirtd exited while waiting for ${what}`);
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Removes the empty `machine` cgroup directories libvirt creates for guests on a non-systemd v1 host. */
export async function removeLeftoverMachineCgroups(root = "/sys/fs/cgroup"): Promise<void> {
  const controllers = await readdir(root).catch(() => [] as string[]);
  for (const c of controllers) {
    const machine = join(root, c, "machine");
    if (!existsSync(machine)) continue;
    const removeTree = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => []))
        if (entry.isDirectory()) await removeTree(join(dir, entry.name));
      await rmdir(dir).catch(() => {}); // busy (a guest still runs) or not empty: leave it
    };
    await removeTree(machine);
  }
}

/** Starts a private libvirtd serving the test driver, and the qemu driver too when `qemu` is set. */
export async function startLibvirtd(opts: { qemu?: boolean } = {}): Promise<Libvirtd> {
  const dir = await mkdtemp("/tmp/vesmon-lv-");
  await mkdir(join(dir, "run"));
  await mkdir(join(dir, "drivers"));
  for (const [host, own] of PRIVATE_DIRS) {
    // A bind mount needs its mount point; on a host without libvirt's packages configured it may be missing.
    await mkdir(host, { recursive: true });
    await mkdir(join(dir, own));
  }
  await writeFile(join(dir, "ns-etc", "qemu.conf"), QEMU_CONF);
  if (opts.qemu) {
    await ensureQemuUser();
    await symlink(QEMU_DRIVER, join(dir, "drivers", "libvirt_driver_qemu.so"));
  }
  const conf = join(dir, "libvirtd.conf");
  await writeFile(
    conf,
    [
      `unix_sock_dir = "${dir}/run"`,
      'unix_sock_ro_perms = "0777"',
      'unix_sock_rw_perms = "0770"',
      'auth_unix_ro = "none"',
      'auth_unix_rw = "none"',
      `log_outputs = "3:file:${dir}/libvirtd.log"`,
      "",
    ].join("\n"),
  );
  const socket = join(dir, "run", "libvirt-sock");
  const roSocket = join(dir, "run", "libvirt-sock-ro");
  let proc: ChildProcess;

  const launch = async () => {
    await rm(socket, { force: true });
    await rm(roSocket, { force: true });
    // An empty driver directory keeps the network, storage and nodedev drivers (and their daemons) out.
    const daemon = [
      "libvirtd",
      "--config",
      conf,
      "--pid-file",
      join(dir, "libvirtd.pid"),
      "--timeout",
      "900",
    ];
    // `--propagation private` keeps the mounts from leaking back to the host; `exec` makes proc.pid libvirtd's.
    proc = spawn(
      "unshare",
      ["--mount", "--propagation", "private", "sh", "-c", isolatedLaunchScript(dir, daemon)],
      {
        env: { ...process.env, LIBVIRT_DRIVER_DIR: join(dir, "drivers") },
        stdio: "ignore",
      },
    );
    await waitFor(() => existsSync(socket) && existsSync(roSocket), "libvirtd sockets", proc);
  };
  const kill = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  };
  await launch();

  const uriFor = (uri: string) =>
    `${uri.replace(/^(\w+):\/\//, "$1+unix://")}${uri.includes("?") ? "&" : "?"}socket=${socket}`;
  return {
    dir,
    socket,
    roSocket,
    get pid() {
      return proc.pid ?? -1;
    },
    uriFor,
    async virsh(uri, ...args) {
      return (await run("virsh", ["-c", uriFor(uri), ...args], { timeout: 60_000 })).stdout;
    },
    async restart() {
      await kill();
      await launch();
    },
    stopDaemon: kill,
    startDaemon: launch,
    async stop() {
      await kill();
      await rm(dir, { recursive: true, force: true });
      if (opts.qemu) await removeLeftoverMachineCgroups();
    },
    log: () => readFile(join(dir, "libvirtd.log"), "utf8").catch(() => ""),
  };
}
