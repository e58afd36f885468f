import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { parseDomainXml } from "../agent/collectors/domain-xml.ts";
import { findVmCgroups, readCgroupCpu } from "../agent/collectors/vm-cgroup-cpu.ts";
import { nicsFromHost, readNetDevNow } from "../agent/collectors/vm-tap-nic.ts";
import { LibvirtClient } from "../agent/libvirt/client.ts";
import { StatsGroup } from "../agent/libvirt/protocol.ts";
import { startTinyGuests } from "../test/helpers/guests.ts";
import { startLibvirtd } from "../test/helpers/libvirtd.ts";
import { spread } from "./collection.ts";
import { cpuSeconds, cpuSecondsOf } from "./proc.ts";

/** The libvirt groups measured one at a time, then the six the virt collector used to ask for on every collection. */
const GROUPS = ["state", "cpu-total", "balloon", "vcpu", "interface", "block"] as const;
const ALL_SIX = GROUPS.reduce((mask, g) => mask | StatsGroup[g], 0);

/** The cost of one source of figures, per call and per guest, as medians over the runs (ms of CPU). */
export interface SourceCost {
  source: string;
  /** libvirtd's CPU per call per guest. */
  libvirtdMs: number;
  /** All QEMU processes' CPU per call per guest, above their idle rate. */
  qemuMs: number;
  /** The reading process's own CPU per call per guest (decoding the reply, or reading the files). */
  clientMs: number;
  /** Wall time of one call (all guests), ms. */
  latencyMs: number;
  /** Range of libvirtd + QEMU per call per guest over the runs. */
  min: number;
  max: number;
}

/** What the stat-groups benchmark measured. */
export interface StatGroupsResult {
  guests: number;
  runs: number;
  callsPerRun: number;
  /** Idle QEMU CPU of all guests, ms per second. */
  qemuIdleMsPerSecond: number;
  /** The 1-minute load average at the start and the end (2 cores, shared with other work). */
  load: { start: number; end: number };
  costs: SourceCost[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (v: number, digits = 3) => Number(v.toFixed(digits));

/**
 * Calls the bulk stats call with one group at a time against real TCG guests under a private libvirtd, and reads
 * the cheap sources (the VM cgroups' CPU, the taps in /proc/net/dev) as the virt collector does, counting the CPU
 * of libvirtd (its /proc/<pid>/stat), of every QEMU (above its idle rate) and of this process per call and guest.
 */
export async function measureStatGroups(opts: {
  quick: boolean;
  log: (line: string) => void;
}): Promise<StatGroupsResult> {
  const n = opts.quick ? 4 : 10;
  const runs = opts.quick ? 3 : 5;
  const calls = opts.quick ? 20 : 60;
  const load = { start: loadavg()[0] ?? 0, end: 0 };
  const lv = await startLibvirtd({ qemu: true });
  const client = new LibvirtClient({ socketPath: lv.roSocket, uri: "qemu:///system", callTimeout: 60_000 });
  try {
    const guests = await startTinyGuests(lv, n, `sg${process.pid % 10000}`);
    try {
      await client.connect();
      const pids = guests.guests.map((g) => g.pid);
      // Freshly started guests run SeaBIOS for a few seconds before they idle.
      await sleep(opts.quick ? 5_000 : 10_000);
      const idle = async (ms: number) => {
        const q0 = await cpuSecondsOf(pids);
        const t0 = performance.now();
        await sleep(ms);
        return ((await cpuSecondsOf(pids)) - q0) / ((performance.now() - t0) / 1000);
      };
      const idleRates: number[] = [];
      const samples = new Map<string, { lv: number; qemu: number; client: number; latency: number }[]>();
      const record = (source: string, s: { lv: number; qemu: number; client: number; latency: number }) =>
        samples.set(source, [...(samples.get(source) ?? []), s]);
      /** Runs `fn` `count` times, counting CPU per call per guest. */
      const time = async (
        source: string,
        count: number,
        fn: () => Promise<unknown> | unknown,
        idleRate: number,
      ) => {
        const l0 = await cpuSeconds(lv.pid);
        const q0 = await cpuSecondsOf(pids);
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        for (let i = 0; i < count; i++) await fn();
        const wall = (performance.now() - t0) / 1000;
        const c = process.cpuUsage(c0);
        const per = (seconds: number) => (seconds * 1000) / count / n;
        record(source, {
          lv: per((await cpuSeconds(lv.pid)) - l0),
          qemu: per((await cpuSecondsOf(pids)) - q0 - idleRate * wall),
          client: per((c.user + c.system) / 1e6),
          latency: (wall * 1000) / count,
        });
      };
      const cgroups = await findVmCgroups("/sys/fs/cgroup");
      const interfaces = await Promise.all(
        guests.guests.map(
          async (g) =>
            parseDomainXml(await client.getXmlDesc({ name: g.name, uuid: g.uuid, id: -1 })).interfaces,
        ),
      );
      for (let run = 1; run <= runs; run++) {
        const idleRate = await idle(opts.quick ? 3_000 : 5_000);
        idleRates.push(idleRate);
        opts.log(
          `stat-groups: run ${run}/${runs}, QEMU idle ${(idleRate * 1000).toFixed(1)} ms/s, load ${loadavg()[0]}`,
        );
        for (const g of GROUPS) await time(g, calls, () => client.getAllDomainStats(StatsGroup[g]), idleRate);
        await time("all six", calls, () => client.getAllDomainStats(ALL_SIX), idleRate);
        // The cheap sources cost no daemon: many more reads, so this process's CPU rises above the tick.
        await time("cgroup CPU read", calls * 20, () => readCgroupCpu(cgroups), idleRate);
        await time(
          "tap read (/proc/net/dev)",
          calls * 20,
          () => {
            const table = readNetDevNow("/proc/net/dev");
            for (const i of interfaces) nicsFromHost(i, table);
          },
          idleRate,
        );
      }
      load.end = loadavg()[0] ?? 0;
      if (cgroups.length < n) opts.log(`stat-groups: only ${cgroups.length} of ${n} VM cgroups found`);
      const costs = [...samples].map(([source, list]): SourceCost => {
        const median = (pick: (s: (typeof list)[number]) => number) => spread(list.map(pick)).median;
        const daemon = spread(list.map((s) => s.lv + s.qemu));
        return {
          source,
          libvirtdMs: round(median((s) => s.lv)),
          qemuMs: round(
            Math.max(
              0,
              median((s) => s.qemu),
            ),
          ),
          clientMs: round(
            median((s) => s.client),
            4,
          ),
          latencyMs: round(
            median((s) => s.latency),
            2,
          ),
          min: round(daemon.min),
          max: round(daemon.max),
        };
      });
      return {
        guests: n,
        runs,
        callsPerRun: calls,
        qemuIdleMsPerSecond: round(spread(idleRates).median * 1000, 1),
        load: { start: round(load.start, 2), end: round(load.end, 2) },
        costs,
      };
    } finally {
      await client.close();
      await guests.stop();
    }
  } finally {
    await lv.stop();
  }
}

/** A CPU figure for the table: noise below 0 (a tick of 10 ms spread over many calls) shown as 0. */
const ms = (v: number) => String(round(Math.max(0, v), 2));

/** libvirtd + QEMU per guest of the groups named, from the measured costs. */
function daemonCost(r: StatGroupsResult, sources: readonly string[]): number {
  return sources.reduce((sum, s) => {
    const c = r.costs.find((x) => x.source === s);
    return sum + (c ? c.libvirtdMs + c.qemuMs : 0);
  }, 0);
}

/** The `## What each figure costs` section. */
export function statGroupsMarkdown(r: StatGroupsResult): string {
  const row = (c: SourceCost) =>
    `| ${c.source} | ${ms(c.libvirtdMs)} | ${ms(c.qemuMs)} | ${ms(c.clientMs)} | ${ms(c.libvirtdMs + c.qemuMs)} (${ms(c.min)}–${ms(c.max)}) | ${c.latencyMs} |`;
  const before = daemonCost(r, ["all six"]);
  const every = daemonCost(r, ["state", "vcpu"]);
  const slow = daemonCost(r, ["balloon", "block"]);
  const readerCost = r.costs
    .filter((c) => c.source.startsWith("cgroup") || c.source.startsWith("tap"))
    .reduce((sum, c) => sum + c.clientMs, 0);
  const at = (collectionsPerWindow: number) => ms(every + slow / collectionsPerWindow);
  return `## What each figure costs

The libvirt bulk stats call asked for one stat group at a time against ${r.guests} idle TCG guests under a private
libvirtd, then for the six groups the virt collector used to read on every collection, and the two cheap sources
the collector now reads instead, as it reads them. CPU from \`/proc/<pid>/stat\` of libvirtd and of every QEMU
(QEMU above its idle rate of ${r.qemuIdleMsPerSecond} ms/s for all guests, measured before each run), and this
process's own CPU (\`process.cpuUsage\`), per call **per guest**; medians over ${r.runs} runs of ${r.callsPerRun}
calls (the cheap sources: 20× as many reads). The machine is shared (2 cores): the 1-minute load was
${r.load.start} at the start and ${r.load.end} at the end, so single runs vary; the range is over the runs.

| source | libvirtd ms | QEMU ms | reader ms | libvirtd + QEMU ms (range) | wall ms per call, all guests |
|---|---|---|---|---|---|
${r.costs.map(row).join("\n")}

Where each figure of the virt collector comes from by default:

| figures | default source | libvirt group asked | when |
|---|---|---|---|
| VM and vCPU CPU time | the VM's cgroup (\`cpuSource: cgroup\`) | \`cpu-total\` only for a VM without a cgroup | every collection |
| vCPU count, steal | libvirt | \`vcpu\` | every collection |
| vNIC counters | the host side of the tap in \`/proc/net/dev\` (\`nicSource: tap\`) | \`interface\` only for a VM with an interface without a host device | every collection |
| state | libvirt | \`state\` | every collection |
| memory (balloon) | libvirt | \`balloon\` | once per \`slowGroupsInterval\` (default: the measurement window) |
| disks | libvirt | \`block\` | once per \`slowGroupsInterval\` (default: the measurement window) |

- **libvirtd + QEMU per guest and collection:** the six groups on every collection cost ${ms(before)} ms (asked
  together). The defaults cost ${at(2)} ms with the built-in profile (virt every 5 s, 10 s windows), ${at(10)} ms
  with 1 s collections and 10 s windows, and ${at(1)} ms where the collection interval equals the window (then only
  cpu-total and interface are saved). What remains is mostly the vcpu group (the vCPU count and steal, which no
  cgroup counts) and, once per window, block and balloon.
- **The cheap sources cost no daemon at all,** only the agent's own reads: the cgroup CPU read and the tap read
  together cost the agent about ${ms(readerCost)} ms per guest, against the
  ${ms(daemonCost(r, ["cpu-total", "interface"]))} ms libvirtd and QEMU spent on cpu-total and interface.
- QEMU's share is its monitor answering query commands (cpu-total, vcpu, balloon and block each cost a round trip
  into every QEMU); state and interface are answered by libvirtd alone.
`;
}
