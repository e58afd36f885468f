import { parseDuration } from "../../api/duration.ts";
import type { CollectorSpec } from "../../api/v1alpha1/types.ts";
import type { LifecycleEventInfo } from "../libvirt/client.ts";
import { openVirtSources } from "../libvirt/discovery/open-sources.ts";
import { DOMAIN_STATES, StatsGroup } from "../libvirt/protocol.ts";
import type { Domain, DomainStatsRecord } from "../libvirt/remote.ts";
import type { Collector, CollectorEnv, CollectorFactory } from "./collector.ts";
import { CounterSet, type Rate } from "./counter.ts";
import { type DomainXmlInfo, parseDomainXml } from "./domain-xml.ts";
import { EdgeCadence } from "./edge-cadence.ts";
import { nameFilter } from "./filter.ts";
import type { CollectResult, Sample, Source, SourceEvent, Unit } from "./sample.ts";
import { bulkGroups, type CheapSources, type DomainServed, missingGroups } from "./virt-groups.ts";
import { vmName } from "./virt-naming.ts";
import { SingleDaemon, type VirtDaemon, type VirtLibvirt, type VirtSources } from "./virt-sources.ts";
import { type DomainStats, parseDomainStats } from "./virt-stats.ts";
import {
  cgroupOfDomain,
  findVmCgroups,
  readCgroupCpu,
  type VmCgroup,
  type VmCgroupCpu,
} from "./vm-cgroup-cpu.ts";
import { mergeNics, NicFallbackLog, nicsFromHost, readNetDevNow } from "./vm-tap-nic.ts";

const DEFAULT_GROUPS = ["state", "cpu-total", "balloon", "vcpu", "interface", "block"] as const;
const NS_PER_MS = 1_000_000;

/** Emits samples for one domain and remembers its counters between collections. */
class DomainSampler {
  readonly #counters: CounterSet;
  readonly #out: Sample[];
  readonly #source: Source;
  readonly #uuid: string;
  readonly #time: number;

  constructor(counters: CounterSet, out: Sample[], source: Source, uuid: string, time: number) {
    this.#counters = counters;
    this.#out = out;
    this.#source = source;
    this.#uuid = uuid;
    this.#time = time;
  }

  /**
   * A value no source can mean (below 0, not a number): published as NaN and suspect, which no sink shows and which
   * marks the VM's window suspect.
   */
  degenerate(metric: string, unit: Unit, labels?: Record<string, string>): void {
    this.#push(metric, Number.NaN, unit, labels, true);
  }

  /**
   * Appends one sample. Optional fields are set on the object rather than spread in: spreading made two throwaway
   * objects per sample, and every domain makes dozens of samples per collection.
   */
  #push(
    metric: string,
    value: number,
    unit: Unit,
    labels: Record<string, string> | undefined,
    suspect: boolean,
  ) {
    const sample: Sample = { metric, value, unit, source: this.#source };
    if (labels) sample.labels = labels;
    if (suspect) sample.suspect = true;
    this.#out.push(sample);
  }

  /** A value as read (a gauge, or an accumulated counter marked suspect after a reset or wrap). */
  gauge(
    metric: string,
    value: number | bigint | undefined,
    unit: Unit,
    labels?: Record<string, string>,
    suspect = false,
  ): void {
    if (value === undefined) return;
    const n = Number(value);
    // A state is an index, -1 for one this agent does not know; every other gauge here is a size or a count.
    if (!Number.isFinite(n) || (n < 0 && unit !== "state")) {
      this.degenerate(metric, unit, labels);
      return;
    }
    this.#push(metric, n, unit, labels, suspect);
  }

  /** The counter's increase per second since the previous read, remembered under `key`; no sample. */
  counter(key: string, value: bigint | undefined): Rate | undefined {
    return value === undefined ? undefined : this.#counters.rate(`${this.#uuid}/${key}`, value, this.#time);
  }

  /**
   * A per-second rate of a counter, scaled (ns of CPU per s of wall → percent). Nothing on a first read or a
   * reset; `suspect` tells the caller whether the counter's accumulated value can be trusted this time.
   */
  rate(
    key: string,
    metric: string,
    value: bigint | undefined,
    unit: Unit,
    scale = 1,
    labels?: Record<string, string>,
  ): { value?: number; suspect: boolean } {
    const r = this.counter(key, value);
    return r ? this.publish(r, metric, unit, scale, labels) : { suspect: false };
  }

  /** Publishes a counter's rate as `metric`, scaled; a degenerate counter is suspect and not published. */
  publish(
    r: Rate,
    metric: string,
    unit: Unit,
    scale: number,
    labels?: Record<string, string>,
  ): { value?: number; suspect: boolean } {
    if (r.reason === "invalid") {
      this.degenerate(metric, unit, labels);
      return { suspect: true };
    }
    // The accumulated value itself is right on a first read; it is suspect after a reset or a wrap.
    const suspect = r.reason === "reset" || r.reason === "wrap";
    if (r.perSecond === undefined) return { suspect };
    const v = r.perSecond * scale;
    this.#push(metric, v, unit, labels, r.suspect);
    return { value: v, suspect };
  }
}

/**
 * A VM's CPU time from somewhere other than libvirt's cpu-total and vcpu groups (its cgroup), in ns. Where it
 * has a figure, it replaces libvirt's.
 */
export interface VmCpuTimes {
  totalNs?: bigint;
  userNs?: bigint;
  systemNs?: bigint;
  /** By vCPU index. */
  vcpuNs: ReadonlyMap<number, bigint>;
}

/**
 * The samples of one domain's stats at `time`: gauges, and rates from the counters remembered in `counters`
 * (nothing for a counter's first read or after a reset).
 */
export function sampleDomain(
  d: DomainStats,
  counters: CounterSet,
  time: number,
  cpuTimes?: VmCpuTimes,
): Sample[] {
  const out: Sample[] = [];
  const sampler = new DomainSampler(counters, out, { kind: "vm", name: d.name, uuid: d.uuid }, d.uuid, time);
  // CPU counters from the cgroup are remembered apart from libvirt's: a VM whose cgroup shows up (or goes) between
  // two reads starts a fresh series instead of a jump from one source's count to the other's.
  domainSamples(cpuTimes ? withCpuTimes(d, cpuTimes) : d, sampler, cpuTimes ? "cgroup/" : "");
  return out;
}

/** `d` with its CPU times replaced by `t`'s where `t` has them. */
function withCpuTimes(d: DomainStats, t: VmCpuTimes): DomainStats {
  const cpu = {
    ...d.cpu,
    ...(t.totalNs !== undefined ? { time: t.totalNs } : {}),
    ...(t.userNs !== undefined ? { user: t.userNs } : {}),
    ...(t.systemNs !== undefined ? { system: t.systemNs } : {}),
  };
  const indexes = new Set([...d.vcpus.map((v) => v.index), ...t.vcpuNs.keys()]);
  const vcpus = [...indexes]
    .sort((a, b) => a - b)
    .map((index) => {
      const v = d.vcpus.find((x) => x.index === index) ?? { index };
      const ns = t.vcpuNs.get(index);
      return ns === undefined ? v : { ...v, time: ns };
    });
  return { ...d, cpu, vcpus };
}

function domainSamples(d: DomainStats, sampler: DomainSampler, cpuKey: string): void {
  sampler.gauge("vm.state", (DOMAIN_STATES as readonly string[]).indexOf(d.state), "state", {
    state: d.state,
  });
  const times = [
    ["cpu.time", "vm.cpu.percent", sampler.counter(`${cpuKey}cpu.time`, d.cpu?.time)],
    ["cpu.user", "vm.cpu.user.percent", sampler.counter(`${cpuKey}cpu.user`, d.cpu?.user)],
    ["cpu.system", "vm.cpu.system.percent", sampler.counter(`${cpuKey}cpu.system`, d.cpu?.system)],
  ] as const;
  const count = d.vcpuCurrent ?? (d.vcpus.length || 1);
  const grows = (times[0][2]?.delta ?? 0) > 0;
  // A count that is not a whole number of vCPUs, or 0 while the VM uses CPU, is no capacity to divide by.
  const capacity = Number.isInteger(count) && (count > 0 || (count === 0 && !grows)) ? count : undefined;
  if (capacity === undefined) sampler.degenerate("vm.vcpu.count", "count");
  else sampler.gauge("vm.vcpu.count", capacity, "count");
  for (const [, metric, rate] of times) {
    if (!rate) continue;
    // cpu.time is ns of host CPU used by the whole VM; ns/s ÷ 1e7 is percent of one CPU, ÷ vcpus of the VM's capacity.
    if (capacity) sampler.publish(rate, metric, "percent", 100 / 1e9 / capacity);
    else if (rate.perSecond !== undefined || rate.reason === "invalid") sampler.degenerate(metric, "percent");
  }
  for (const v of d.vcpus) {
    const labels = { vcpu: String(v.index) };
    sampler.rate(`${cpuKey}vcpu.${v.index}.time`, "vm.vcpu.percent", v.time, "percent", 100 / 1e9, labels);
    sampler.rate(`vcpu.${v.index}.delay`, "vm.vcpu.steal.percent", v.delay, "percent", 100 / 1e9, labels);
  }
  const b = d.balloon;
  if (b) {
    const kib = (v: bigint | undefined) => (v === undefined ? undefined : v * 1024n);
    const configured = b.maximum;
    sampler.gauge("vm.memory.configured", kib(configured), "bytes");
    sampler.gauge("vm.memory.current", kib(b.current), "bytes");
    sampler.gauge("vm.memory.available", kib(b.available), "bytes");
    sampler.gauge("vm.memory.usable", kib(b.usable), "bytes");
    sampler.gauge("vm.memory.unused", kib(b.unused), "bytes");
    sampler.gauge("vm.memory.rss", kib(b.rss), "bytes");
    // With the guest's balloon driver, used = available - usable (as KubeVirt); without it, the host's view (RSS).
    const used = b.available !== undefined && b.usable !== undefined ? b.available - b.usable : b.rss;
    if (used !== undefined && used < 0n) sampler.degenerate("vm.memory.used", "bytes");
    else if (used !== undefined && configured !== undefined && configured > 0n) {
      sampler.gauge("vm.memory.used", kib(used), "bytes", {
        basis: b.usable !== undefined ? "guest" : "rss",
      });
      sampler.gauge("vm.memory.free", kib(configured > used ? configured - used : 0n), "bytes");
      sampler.gauge("vm.memory.used.percent", (Number(used) / Number(configured)) * 100, "percent");
    }
  }
  for (const n of d.nics) {
    const labels = { interface: n.name };
    for (const dir of ["rx", "tx"] as const) {
      const c = n[dir];
      const bytes = sampler.rate(
        `net.${n.name}.${dir}.bytes`,
        `vm.interface.${dir}.bytes`,
        c.bytes,
        "bytes/s",
        1,
        labels,
      );
      const pkts = sampler.rate(
        `net.${n.name}.${dir}.pkts`,
        `vm.interface.${dir}.packets`,
        c.pkts,
        "packets/s",
        1,
        labels,
      );
      sampler.rate(`net.${n.name}.${dir}.errs`, `vm.interface.${dir}.errors`, c.errs, "count/s", 1, labels);
      sampler.rate(`net.${n.name}.${dir}.drop`, `vm.interface.${dir}.dropped`, c.drop, "count/s", 1, labels);
      sampler.gauge(`vm.interface.${dir}.bytes.total`, c.bytes, "bytes", labels, bytes.suspect);
      sampler.gauge(`vm.interface.${dir}.packets.total`, c.pkts, "packets", labels, pkts.suspect);
    }
  }
  for (const k of d.disks) {
    const labels = { disk: k.name };
    for (const [dir, name] of [
      ["rd", "read"],
      ["wr", "write"],
    ] as const) {
      const c = k[dir];
      const ops = sampler.rate(
        `block.${k.name}.${dir}.reqs`,
        `vm.disk.${name}.ops`,
        c.reqs,
        "ops/s",
        1,
        labels,
      );
      sampler.rate(`block.${k.name}.${dir}.bytes`, `vm.disk.${name}.bytes`, c.bytes, "bytes/s", 1, labels);
      const busy = sampler.rate(
        `block.${k.name}.${dir}.times`,
        `vm.disk.${name}.busy`,
        c.times,
        "ms",
        1 / NS_PER_MS,
        labels,
      );
      // ms per operation over the interval: time spent / operations done (0 when idle).
      if (ops.value !== undefined && busy.value !== undefined)
        sampler.gauge(`vm.disk.${name}.latency`, ops.value > 0 ? busy.value / ops.value : 0, "ms/op", labels);
    }
    sampler.rate(`block.${k.name}.fl.reqs`, "vm.disk.flush.ops", k.fl.reqs, "ops/s", 1, labels);
    sampler.gauge("vm.disk.capacity", k.capacity, "bytes", labels);
    sampler.gauge("vm.disk.allocation", k.allocation, "bytes", labels);
    sampler.gauge("vm.disk.physical", k.physical, "bytes", labels);
  }
}

class VirtCollector implements Collector {
  readonly name = "virt" as const;
  readonly #sources: VirtSources;
  readonly #env: CollectorEnv;
  readonly #groups: number;
  readonly #include: (name: string) => boolean;
  readonly #cpuFromCgroup: boolean;
  readonly #cheap: CheapSources;
  /** When the balloon and block groups are read: at each measurement window's edge by default. */
  readonly #slow: EdgeCadence;
  readonly #nicFallback = new NicFallbackLog();
  /**
   * By daemon client: the cheap groups that none of its running domains could be served at the previous
   * collection, asked in its bulk call rather than in a second one (a KubeVirt daemon's one VM has its tap in the
   * pod's network namespace and its cgroup under kubepods, out of the cheap sources' reach).
   */
  readonly #unservedBy = new WeakMap<object, number>();
  /** The interface table could not be read at the previous collection (logged once, and on recovery). */
  #netdevFailing = false;
  /** The VM cgroups found by the last search; searched again when a running VM has none or one went away. */
  #cgroups: VmCgroup[] | undefined;
  /** The running domains (uuid/id) present at the last search: one of them without a cgroup has none to find. */
  #searchedFor = new Set<string>();
  /** The running domains of the previous collection: only those surely existed when a search began. */
  #lastSeen = new Set<string>();
  readonly #counters = new CounterSet();
  readonly #xml = new Map<string, DomainXmlInfo>();
  #events: SourceEvent[] = [];

  constructor(sources: VirtSources, spec: CollectorSpec, env: CollectorEnv) {
    this.#sources = sources;
    this.#env = env;
    const groups: readonly (keyof typeof StatsGroup)[] = spec.stats ?? DEFAULT_GROUPS;
    this.#groups = groups.reduce((mask, g) => mask | StatsGroup[g], 0);
    this.#include = nameFilter(spec.domains);
    // The cgroup is the default: it is read at the moment the stats call returns, where libvirt's own sampling
    // moment inside the call is unknown (up to 2 pp off over a 2 s window under load), and it costs QEMU nothing.
    this.#cpuFromCgroup = (spec.cpuSource ?? "cgroup") === "cgroup";
    // The host side of a tap costs one read of /proc/net/dev for every VM, and QEMU nothing.
    const nicFromTap = (spec.nicSource ?? "tap") === "tap" && (this.#groups & StatsGroup.interface) !== 0;
    this.#cheap = { nicFromTap, cpuFromCgroup: this.#cpuFromCgroup };
    const intervalMs = parseDuration(spec.interval);
    this.#slow = new EdgeCadence(
      spec.slowGroupsInterval ? parseDuration(spec.slowGroupsInterval) : intervalMs,
      intervalMs,
    );
  }

  async start(): Promise<void> {
    await this.#sources.start((e, daemon) => this.#onLifecycle(e, daemon));
  }

  #onLifecycle(e: LifecycleEventInfo, daemon: VirtDaemon): void {
    // Redefinition or a restart can change the XML (metadata, devices): fetch it again on the next collection.
    if (e.event === "defined" || e.event === "undefined" || e.event === "started")
      this.#xml.delete(e.domain.uuid);
    if (!this.#include(e.domain.name)) return;
    this.#events.push({
      kind: "lifecycle",
      time: this.#env.now(),
      source: { kind: "vm", name: vmName(e.domain.name, daemon).name, uuid: e.domain.uuid },
      event: e.event,
      detail: e.detail,
    });
    if (this.#events.length > 1000) this.#events.splice(0, this.#events.length - 1000);
  }

  async #info(dom: Domain, daemon: VirtDaemon, errors: string[]): Promise<DomainXmlInfo | undefined> {
    const cached = this.#xml.get(dom.uuid);
    if (cached) return cached;
    try {
      const info = parseDomainXml(await daemon.client.getXmlDesc(dom));
      this.#xml.set(dom.uuid, info);
      return info;
    } catch (err) {
      errors.push(`domain ${dom.name}: XML: ${(err as Error).message}`);
      return undefined;
    }
  }

  async collect(): Promise<CollectResult> {
    const errors: string[] = [];
    // Finding the VM cgroups takes many reads; it comes first, so their counters can be read at the stats' instant.
    const searched = this.#cpuFromCgroup && !this.#cgroups;
    if (searched) this.#cgroups = await this.#findCgroups(errors);
    const found = this.#cgroups ?? [];
    const before = this.#env.now();
    const slowDue = this.#slow.due(before);
    const bulk = bulkGroups(this.#groups, this.#cheap, slowDue);
    const read = await this.#sources.read((d) => bulk | (this.#unservedBy.get(d.client) ?? 0));
    errors.push(...read.errors);
    const after = this.#env.now();
    // Read right on return, like the cgroups, so both are taken at the instant the collection records.
    const netdev = this.#cheap.nicFromTap ? this.#readNetDev(errors) : undefined;
    if (slowDue) this.#slow.read(before);
    // libvirt samples while answering; the midpoint of the call is the best estimate of when. The cgroup counters
    // are read right on return, and then that instant is the read's time (CPU rates matter most).
    const cgroups = found.length ? readCgroupCpu(found) : undefined;
    const time = cgroups || netdev ? after : Math.round((before + after) / 2);
    if (cgroups) errors.push(...cgroups.errors);
    if (cgroups && cgroups.vms.length < found.length) this.#cgroups = undefined;
    const samples: Sample[] = [];
    const seen = new Set<string>();
    const listed: DomainStats[] = [];
    const records: DomainStatsRecord[] = [];
    const daemons: VirtDaemon[] = [];
    for (const r of read.records) {
      const d = parseDomainStats(r.record);
      if (!this.#include(d.name)) continue;
      listed.push(d);
      records.push(r.record);
      daemons.push(r.daemon);
    }
    const infos = await Promise.all(listed.map((d, i) => this.#info(d, daemons[i]!, errors)));
    const served = listed.map((d, i): DomainServed => {
      const info = infos[i];
      const cgroupCpu = cgroups && cgroupOfDomain(cgroups.vms, d);
      return {
        // A domain that is not running has no tap; a device of the name may be another VM's by now.
        ...(info && netdev && d.id > 0 ? { hostNics: nicsFromHost(info.interfaces, netdev) } : {}),
        ...(cgroupCpu ? { cgroupCpu } : {}),
      };
    });
    if (this.#cheap.nicFromTap) this.#logNicFallbacks(listed, infos, served);
    const domains = await this.#completed(listed, records, daemons, served, errors);
    domains.forEach((d, i) => {
      seen.add(d.uuid);
      const info = infos[i];
      const named = vmName(d.name, daemons[i]!);
      const labels = named.labels ? { ...info?.metadata, ...named.labels } : info?.metadata;
      if (labels && Object.keys(labels).length)
        samples.push({
          metric: "vm.info",
          value: 1,
          unit: "state",
          source: { kind: "vm", name: named.name, uuid: d.uuid },
          labels,
        });
      const cgroup = cgroups && cgroupOfDomain(cgroups.vms, d);
      // A VM started since the last search may have a cgroup by now; one that was there then has none to find
      // (the test driver's, or a host without VM cgroups), and searching every collection would cost many reads.
      if (this.#cpuFromCgroup && !cgroup && d.id > 0 && !this.#searchedFor.has(`${d.uuid}/${d.id}`))
        this.#cgroups = undefined;
      const nics = served[i]?.hostNics;
      const withNics = nics ? { ...d, nics: mergeNics(nics, d.nics) } : d;
      const asNamed = named.name === d.name ? withNics : { ...withNics, name: named.name };
      samples.push(...sampleDomain(asNamed, this.#counters, time, cgroup && cpuTimesOf(cgroup)));
    });
    const keys = domains.map((d) => `${d.uuid}/${d.id}`);
    if (searched) this.#searchedFor = new Set(keys.filter((k) => this.#lastSeen.has(k)));
    this.#lastSeen = new Set(keys);
    for (const uuid of this.#xml.keys()) if (!seen.has(uuid)) this.#xml.delete(uuid);
    // Between two reads of the slow groups their counters are not seen; they are forgotten only when all were read.
    if (slowDue) this.#counters.sweep();
    const events = this.#events;
    this.#events = [];
    return { time, samples, errors, listsEveryVm: true, ...(events.length ? { events } : {}) };
  }

  /**
   * The domains with what their cheap sources could not serve, and their daemon's bulk call did not carry, asked
   * of libvirt for them alone (one call per set of groups, usually none): a VM without a cgroup, an interface
   * without a host device.
   */
  async #completed(
    domains: DomainStats[],
    records: readonly DomainStatsRecord[],
    daemons: readonly VirtDaemon[],
    served: readonly DomainServed[],
    errors: string[],
  ): Promise<DomainStats[]> {
    const asks = new Map<VirtDaemon, Map<number, Domain[]>>();
    const unserved = new Map<object, number>();
    domains.forEach((d, i) => {
      if (d.id <= 0) return;
      const daemon = daemons[i]!;
      const missing = missingGroups(this.#groups, this.#cheap, served[i] ?? {});
      unserved.set(daemon.client, (unserved.get(daemon.client) ?? missing) & missing);
      const mask = missing & ~(this.#unservedBy.get(daemon.client) ?? 0);
      if (!mask) return;
      let byMask = asks.get(daemon);
      if (!byMask) {
        byMask = new Map();
        asks.set(daemon, byMask);
      }
      byMask.set(mask, [...(byMask.get(mask) ?? []), { name: d.name, uuid: d.uuid, id: d.id }]);
    });
    for (const [client, mask] of unserved) this.#unservedBy.set(client, mask);
    if (asks.size === 0) return domains;
    const extra = new Map<string, DomainStatsRecord["params"]>();
    // One daemon failing the extra call costs only its VMs' figures that the cheap sources could not give.
    await Promise.all(
      [...asks].map(async ([daemon, byMask]) => {
        for (const [mask, doms] of byMask)
          try {
            for (const r of await daemon.client.getAllDomainStats(mask, 0, doms))
              extra.set(r.dom.uuid, [...(extra.get(r.dom.uuid) ?? []), ...r.params]);
          } catch (err) {
            errors.push(`libvirt stats of ${doms.map((d) => d.name).join(", ")}: ${(err as Error).message}`);
          }
      }),
    );
    return domains.map((d, i) => {
      const more = extra.get(d.uuid);
      const record = more && records[i];
      return record ? parseDomainStats({ dom: record.dom, params: [...record.params, ...more] }) : d;
    });
  }

  #readNetDev(errors: string[]): ReturnType<typeof readNetDevNow> | undefined {
    const path = this.#env.paths.proc("net/dev");
    try {
      const table = readNetDevNow(path);
      if (this.#netdevFailing) this.#env.log.info({ path }, "vNIC counters from the host taps again");
      this.#netdevFailing = false;
      return table;
    } catch (err) {
      const message = `${path}: ${(err as Error).message}; vNIC counters from libvirt`;
      if (!this.#netdevFailing) this.#env.log.warn({ path, err: (err as Error).message }, message);
      this.#netdevFailing = true;
      errors.push(message);
      return undefined;
    }
  }

  /** One log line when a vNIC's counters start to come from libvirt (no host device found), one when back. */
  #logNicFallbacks(
    domains: readonly DomainStats[],
    infos: readonly (DomainXmlInfo | undefined)[],
    served: readonly DomainServed[],
  ): void {
    const now = new Set<string>();
    domains.forEach((d, i) => {
      const unserved = d.id > 0 ? served[i]?.hostNics?.unserved : undefined;
      for (const index of unserved ?? [])
        now.add(`${d.name}/${infos[i]?.interfaces[index]?.dev ?? `net${index}`}`);
    });
    const { fellBack, recovered } = this.#nicFallback.update(now);
    for (const nic of fellBack)
      this.#env.log.info(
        { nic },
        "vNIC has no host device here; its counters come from libvirt's interface group",
      );
    for (const nic of recovered)
      this.#env.log.info({ nic }, "vNIC counters from the host tap again (or it is gone)");
  }

  async #findCgroups(errors: string[]): Promise<VmCgroup[]> {
    try {
      return await findVmCgroups(this.#env.paths.cgroup());
    } catch (err) {
      errors.push(`VM cgroups: ${(err as Error).message}`);
      return [];
    }
  }

  async close(): Promise<void> {
    await this.#sources.close();
  }
}

function cpuTimesOf(c: VmCgroupCpu): VmCpuTimes {
  return {
    totalNs: c.totalNs,
    ...(c.userNs !== undefined ? { userNs: c.userNs } : {}),
    ...(c.systemNs !== undefined ? { systemNs: c.systemNs } : {}),
    vcpuNs: c.vcpuNs,
  };
}

/** A virt collector on its daemons, connected and subscribed to their lifecycle events. */
async function openOn(sources: VirtSources, spec: CollectorSpec, env: CollectorEnv): Promise<Collector> {
  const collector = new VirtCollector(sources, spec, env);
  try {
    await collector.start();
  } catch (err) {
    await sources.close();
    throw err;
  }
  return collector;
}

/** A virt collector on one libvirt client (a stand-in that records the calls, in tests). */
export function openVirtCollector(
  client: VirtLibvirt,
  spec: CollectorSpec,
  env: CollectorEnv,
): Promise<Collector> {
  return openOn(new SingleDaemon(client), spec, env);
}

/**
 * `virt`: every libvirt domain from one bulk stats call per daemon and collection, plus lifecycle events. One
 * daemon by default; with `libvirt.discovery` one per KubeVirt VM, found on the node.
 */
export const virtCollector: CollectorFactory = {
  name: "virt",
  async create(spec, env) {
    return openOn(await openVirtSources(spec, env), spec, env);
  },
};
