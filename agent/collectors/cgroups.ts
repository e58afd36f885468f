import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { CollectorSpec } from "../../api/v1alpha1/types.ts";
import {
  type CgroupLayout,
  detectLayout,
  discoverVmScopes,
  MACHINE_ROOTS,
  normalizeCgroupPath,
  V1_CONTROLLERS,
  type V1Controller,
} from "./cgroup-layout.ts";
import {
  type IoTotals,
  parseBlkio,
  parseCount,
  parseCpuacctStat,
  parseCpuStatV2,
  parseIoStat,
  parseKeyed,
  parseLimit,
  parseMemoryStat,
  sumBlkio,
  sumIoStat,
} from "./cgroup-parse.ts";
import {
  type Collector,
  type CollectorEnv,
  type CollectorFactory,
  SourceUnavailableError,
} from "./collector.ts";
import { CounterSet } from "./counter.ts";
import { readText } from "./read.ts";
import { HOST, type Sample, type Unit } from "./sample.ts";

/** Paths reported when the spec names none: libvirt's systemd and non-systemd machine roots, and Kubernetes pods. */
export const DEFAULT_CGROUP_PATHS: readonly string[] = ["machine.slice", "machine", "kubepods.slice"];

/** v1 `cpuacct.stat` counts in USER_HZ ticks, which is 100 on every Linux ABI. */
const NS_PER_TICK = 10_000_000n;
/** Nanoseconds of CPU per second of wall time that make one percent. */
const NS_PER_PERCENT = 10_000_000;

/** What one cgroup showed in one read, times in nanoseconds; absent figures were not available. */
interface Figures {
  cpuNs?: bigint;
  userNs?: bigint;
  systemNs?: bigint;
  throttledNs?: bigint;
  memUsage?: bigint;
  memLimit?: bigint;
  memRss?: bigint;
  memCache?: bigint;
  io?: IoTotals;
  pids?: bigint;
  pidsLimit?: bigint;
}

interface Target {
  path: string;
  labels: Readonly<Record<string, string>>;
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Reads and parses the files of one cgroup; a failure becomes an error naming the file, and undefined. Errors
 * keep the order of the calls, not of the reads' completion, so a result does not depend on I/O timing.
 */
class FileReader {
  #calls = 0;
  readonly #errors: [number, string][] = [];

  get errors(): string[] {
    return this.#errors.sort((a, b) => a[0] - b[0]).map(([, message]) => message);
  }

  async read<T>(path: string, parse: (text: string) => T, optional = false): Promise<T | undefined> {
    const call = this.#calls++;
    let text: string;
    try {
      text = await readText(path);
    } catch (err) {
      if (!(optional && errorCode(err) === "ENOENT")) this.#errors.push([call, `${path}: ${errorCode(err)}`]);
      return undefined;
    }
    try {
      return parse(text);
    } catch (err) {
      this.#errors.push([call, `${path}: ${(err as Error).message}`]);
      return undefined;
    }
  }
}

async function readV2(dir: string, files: FileReader): Promise<Figures> {
  // Controller files exist only where the parent enables the controller; cpu.stat's usage fields always do.
  const enabled = await files.read(join(dir, "cgroup.controllers"), (t) => new Set(t.split(/\s+/)), true);
  const has = (c: string) => enabled === undefined || enabled.has(c);
  const f = (name: string) => join(dir, name);
  const [cpu, usage, limit, mem, io, pids, pidsLimit] = await Promise.all([
    files.read(f("cpu.stat"), parseCpuStatV2),
    has("memory") ? files.read(f("memory.current"), parseCount) : undefined,
    has("memory") ? files.read(f("memory.max"), parseLimit) : undefined,
    has("memory") ? files.read(f("memory.stat"), (t) => parseMemoryStat(t, 2)) : undefined,
    has("io") ? files.read(f("io.stat"), (t) => sumIoStat(parseIoStat(t))) : undefined,
    has("pids") ? files.read(f("pids.current"), parseCount) : undefined,
    has("pids") ? files.read(f("pids.max"), parseLimit) : undefined,
  ]);
  return {
    cpuNs: cpu && cpu.usageUsec * 1000n,
    userNs: cpu && cpu.userUsec * 1000n,
    systemNs: cpu && cpu.systemUsec * 1000n,
    throttledNs: cpu?.throttledUsec === undefined ? undefined : cpu.throttledUsec * 1000n,
    memUsage: usage,
    memLimit: limit,
    memRss: mem?.rss,
    memCache: mem?.cache,
    io,
    pids,
    pidsLimit,
  };
}

/**
 * v1 figures of one cgroup. A cgroup the cpuacct hierarchy does not have (libvirt may leave a VM at the cpuacct
 * root) is counted from `unified`, the same cgroup in a hybrid host's v2 tree, when that has a cpu.stat.
 */
async function readV1(
  dirs: Partial<Record<V1Controller, string>>,
  files: FileReader,
  unified?: string,
): Promise<Figures> {
  const f = (c: V1Controller, name: string) => (dirs[c] === undefined ? undefined : join(dirs[c], name));
  const read = <T>(c: V1Controller, name: string, parse: (t: string) => T, optional = false) => {
    const path = f(c, name);
    return path === undefined ? undefined : files.read(path, parse, optional);
  };
  // The _recursive blkio files include the scope's emulator and vcpu children; older kernels lack them.
  const blkio = async (name: string) =>
    (await read("blkio", `${name}_recursive`, parseBlkio, true)) ?? read("blkio", name, parseBlkio);
  const [usage, acct, throttle, memUsage, memLimit, mem, ioBytes, ioOps, pids, pidsLimit] = await Promise.all(
    [
      read("cpuacct", "cpuacct.usage", parseCount),
      read("cpuacct", "cpuacct.stat", parseCpuacctStat),
      read("cpu", "cpu.stat", parseKeyed, true),
      read("memory", "memory.usage_in_bytes", parseCount),
      read("memory", "memory.limit_in_bytes", parseLimit),
      read("memory", "memory.stat", (t) => parseMemoryStat(t, 1)),
      blkio("blkio.throttle.io_service_bytes"),
      blkio("blkio.throttle.io_serviced"),
      read("pids", "pids.current", parseCount),
      read("pids", "pids.max", parseLimit),
    ],
  );
  const v2 =
    dirs.cpuacct === undefined && unified !== undefined
      ? await files.read(join(unified, "cpu.stat"), parseCpuStatV2, true)
      : undefined;
  return {
    cpuNs: v2 ? v2.usageUsec * 1000n : usage,
    userNs: v2 ? v2.userUsec * 1000n : acct && acct.userTicks * NS_PER_TICK,
    systemNs: v2 ? v2.systemUsec * 1000n : acct && acct.systemTicks * NS_PER_TICK,
    throttledNs: throttle?.get("throttled_time"),
    memUsage,
    memLimit,
    memRss: mem?.rss,
    memCache: mem?.cache,
    io: ioBytes && ioOps && sumBlkio(ioBytes, ioOps),
    pids,
    pidsLimit,
  };
}

class CgroupsCollector implements Collector {
  readonly name = "cgroups" as const;
  readonly #env: CollectorEnv;
  readonly #paths: readonly string[];
  /** Missing default paths are normal (a host has one machine root, maybe no Kubernetes); only chosen ones are errors. */
  readonly #pathsChosen: boolean;
  readonly #discover: boolean;
  readonly #counters = new CounterSet();

  constructor(spec: CollectorSpec, env: CollectorEnv) {
    this.#env = env;
    this.#paths = spec.paths ?? DEFAULT_CGROUP_PATHS;
    this.#pathsChosen = spec.paths !== undefined;
    this.#discover = spec.discoverVMs !== false;
  }

  async collect() {
    const time = this.#env.now();
    const root = this.#env.paths.cgroup();
    let entries: string[];
    try {
      entries = await readdir(root);
    } catch (err) {
      throw new SourceUnavailableError(`${root}: ${errorCode(err)}`);
    }
    const layout = detectLayout(entries);
    if (!layout)
      throw new SourceUnavailableError(
        `${root}: neither cgroup v2 (cgroup.controllers) nor a v1 controller (${V1_CONTROLLERS.join(", ")})`,
      );
    const errors: string[] = [];
    const targets = await this.#targets(root, layout, errors);
    const read = await Promise.all(
      targets.map(async ({ target, v1dirs }) => {
        const files = new FileReader();
        const unified = entries.includes("unified") ? join(root, "unified", target.path) : undefined;
        const figures =
          layout.version === 2
            ? await readV2(join(root, target.path), files)
            : await readV1(v1dirs, files, unified);
        return { target, figures, errors: files.errors };
      }),
    );
    const samples: Sample[] = [];
    for (const r of read) {
      this.#emit(r.target, r.figures, time, samples);
      errors.push(...r.errors);
    }
    this.#counters.sweep();
    return { time, samples, errors };
  }

  /** The configured paths that exist and the discovered VM scopes, each once, with the v1 directories holding it. */
  async #targets(root: string, layout: CgroupLayout, errors: string[]) {
    const mounts =
      layout.version === 2
        ? [root]
        : [...new Set(Object.values(layout.controllers))].map((m) => join(root, m));
    const dirsOf = new Map<string, Partial<Record<V1Controller, string>>>();
    const v1dirs = async (path: string) => {
      let dirs = dirsOf.get(path);
      if (!dirs) {
        dirs = {};
        if (layout.version === 1)
          for (const [c, mount] of Object.entries(layout.controllers) as [V1Controller, string][])
            if (await isDir(join(root, mount, path))) dirs[c] = join(root, mount, path);
        dirsOf.set(path, dirs);
      }
      return dirs;
    };
    const exists = async (path: string) =>
      layout.version === 2 ? isDir(join(root, path)) : Object.keys(await v1dirs(path)).length > 0;

    const chosen = new Map<string, Target>();
    for (const configured of this.#paths) {
      const path = normalizeCgroupPath(configured);
      if (path === undefined)
        errors.push(`cgroup path ${JSON.stringify(configured)}: not below the cgroup root`);
      else if (await exists(path)) chosen.set(path, { path, labels: { path } });
      else if (this.#pathsChosen) errors.push(`cgroup path ${path}: not found under ${mounts.join(", ")}`);
    }
    if (this.#discover) {
      const vms = await discoverVmScopes(async (rel) => {
        const names = new Set<string>();
        for (const mount of mounts) {
          try {
            for (const d of await readdir(join(mount, rel), { withFileTypes: true }))
              if (d.isDirectory()) names.add(d.name);
          } catch (err) {
            if (errorCode(err) !== "ENOENT") errors.push(`${join(mount, rel)}: ${errorCode(err)}`);
          }
        }
        return [...names];
      });
      // A scope that is also a configured path is reported once, as the VM.
      for (const vm of vms)
        chosen.set(vm.path, { path: vm.path, labels: { path: vm.path, domain: vm.name, vmId: vm.id } });
    }
    if (chosen.size === 0)
      throw new SourceUnavailableError(
        `no cgroup found under ${mounts.join(", ")}: tried ${this.#paths.join(", ") || "no paths"}` +
          (this.#discover ? ` and VM scopes under ${MACHINE_ROOTS.join(", ")}` : ""),
      );
    return Promise.all(
      [...chosen.values()].map(async (target) => ({ target, v1dirs: await v1dirs(target.path) })),
    );
  }

  #emit(target: Target, fig: Figures, time: number, samples: Sample[]) {
    const { labels } = target;
    const gauge = (metric: string, value: bigint | number | undefined, unit: Unit) => {
      if (value !== undefined) samples.push({ metric, value: Number(value), unit, source: HOST, labels });
    };
    const rate = (metric: string, counter: bigint | undefined, unit: Unit, perUnit: number) => {
      if (counter === undefined) return;
      const r = this.#counters.rate(`${target.path}\0${metric}`, counter, time);
      if (r.perSecond === undefined) return;
      const sample: Sample = { metric, value: r.perSecond / perUnit, unit, source: HOST, labels };
      if (r.suspect) sample.suspect = true;
      samples.push(sample);
    };
    rate("cgroup.cpu.percent", fig.cpuNs, "percent", NS_PER_PERCENT);
    rate("cgroup.cpu.user.percent", fig.userNs, "percent", NS_PER_PERCENT);
    rate("cgroup.cpu.system.percent", fig.systemNs, "percent", NS_PER_PERCENT);
    rate("cgroup.cpu.throttled.percent", fig.throttledNs, "percent", NS_PER_PERCENT);
    gauge("cgroup.memory.usage", fig.memUsage, "bytes");
    gauge("cgroup.memory.limit", fig.memLimit, "bytes");
    if (fig.memUsage !== undefined && fig.memLimit !== undefined && fig.memLimit > 0n)
      gauge("cgroup.memory.usage.percent", (Number(fig.memUsage) / Number(fig.memLimit)) * 100, "percent");
    gauge("cgroup.memory.rss", fig.memRss, "bytes");
    gauge("cgroup.memory.cache", fig.memCache, "bytes");
    rate("cgroup.io.read.bytes", fig.io?.readBytes, "bytes/s", 1);
    rate("cgroup.io.write.bytes", fig.io?.writeBytes, "bytes/s", 1);
    rate("cgroup.io.read.ops", fig.io?.readOps, "ops/s", 1);
    rate("cgroup.io.write.ops", fig.io?.writeOps, "ops/s", 1);
    gauge("cgroup.pids.current", fig.pids, "count");
    gauge("cgroup.pids.limit", fig.pidsLimit, "count");
  }

  async close() {}
}

/**
 * `cgroups`: cpu, memory, io and pids of the configured cgroup paths and of each VM's libvirt scope, on cgroup
 * v1 (one hierarchy per controller, co-mounted or not) and v2. Samples are about the host; `path` (and for VMs
 * `domain` and `vmId`) labels tell the cgroups apart.
 */
export const cgroupsCollector: CollectorFactory = {
  name: "cgroups",
  async create(spec: CollectorSpec, env: CollectorEnv) {
    return new CgroupsCollector(spec, env);
  },
};
