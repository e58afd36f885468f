import { mkdtemp, rm } from "node:fs/promises";
import { ListenerProcess } from "../agent/listener/process.ts";
import { startTinyGuests, type TinyGuests } from "../test/helpers/guests.ts";
import { startLibvirtd } from "../test/helpers/libvirtd.ts";
import { CollectdSink, collectd, exporters, type Peer, type PeerContext, vesmonAgent } from "./peers.ts";
import { cpuSeconds, cpuSecondsOf, rssMiB } from "./proc.ts";

/** How much to measure. */
export interface CollectionPlan {
  guestCounts: readonly number[];
  repetitions: number;
  windowSeconds: number;
  intervalSeconds: number;
  /** Whether a peer's window waits until its RSS has settled (`Peer.settleSeconds`), not only its warm-up. */
  settle?: boolean;
}

/** The quick plan (`npm run bench:quick`) and the full one (`npm run bench`). */
export const PLANS = {
  quick: { guestCounts: [10], repetitions: 1, windowSeconds: 20, intervalSeconds: 1 },
  full: { guestCounts: [10, 40], repetitions: 2, windowSeconds: 60, intervalSeconds: 1, settle: true },
} as const satisfies Record<string, CollectionPlan>;

/** Seconds from a peer's start to its window under `plan`. */
export function warmupOf(peer: Pick<Peer, "warmupSeconds" | "settleSeconds">, plan: CollectionPlan): number {
  return plan.settle ? Math.max(peer.warmupSeconds, peer.settleSeconds ?? 0) : peer.warmupSeconds;
}

/** libvirtd and QEMU with no peer running, per second. */
export interface IdleRun {
  guests: number;
  repetition: number;
  libvirtdMsPerSecond: number;
  qemuMsPerSecond: number;
  libvirtdRssMiB: number;
}

/** One window of one peer. */
export interface PeerRun {
  peer: string;
  guests: number;
  repetition: number;
  /** Seconds from the peer's start to its window (absent in results stored before it was recorded: its `warmupSeconds`). */
  warmupSeconds?: number;
  windowSeconds: number;
  cycles: number;
  /** CPU of the peer's own process(es), ms per cycle. */
  peerMsPerCycle: number;
  /** The same, per process name (the exporters are two). */
  perProcessMsPerCycle: Record<string, number>;
  /** libvirtd's CPU per cycle, and the same minus its idle rate. */
  libvirtdMsPerCycle: number;
  libvirtdNetMsPerCycle: number;
  /** All QEMU processes' CPU per cycle above their idle rate; noisy (±5 ms/s at N=10 in PEERS.md). */
  qemuExtraMsPerCycle: number;
  /** Sum over the peer's processes of VmHWM and of VmRSS at the end of the window. */
  rssPeakMiB: number;
  rssSteadyMiB: number;
  valuesPerCycle: number;
  valuesNote: string;
}

/** Everything one plan measured. */
export interface CollectionResult {
  plan: CollectionPlan;
  idle: IdleRun[];
  runs: PeerRun[];
  /** Peers left out, and why (e.g. a package that could not be installed). */
  skipped: { peer: string; reason: string }[];
}

const sleep = (s: number) => new Promise((r) => setTimeout(r, s * 1000));
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * Runs the plan: a private libvirtd with the qemu driver, tiny TCG guests, an idle window and then each peer
 * one after another on the same guests, for each guest count and repetition. Tears everything down.
 */
export async function measureCollection(
  plan: CollectionPlan,
  opts: { root: string; skip: ReadonlyMap<string, string>; log: (line: string) => void },
): Promise<CollectionResult> {
  const peers: Peer[] = [vesmonAgent, collectd, exporters].filter((p) => !opts.skip.has(p.name));
  const result: CollectionResult = {
    plan,
    idle: [],
    runs: [],
    skipped: [...opts.skip].map(([peer, reason]) => ({ peer, reason })),
  };
  const dir = await mkdtemp("/tmp/vesmon-bench-");
  const cleanups: (() => Promise<void>)[] = [async () => rm(dir, { recursive: true, force: true })];
  // An interrupted run must not leave guests, libvirtd or a peer behind.
  const onSignal = () => {
    void (async () => {
      for (const c of cleanups.reverse()) await c().catch(() => {});
      process.exit(130);
    })();
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const lv = await startLibvirtd({ qemu: true });
    cleanups.push(() => lv.stop());
    const listener = new ListenerProcess({ maxEvents: 1_000_000 });
    await listener.start();
    cleanups.push(() => listener.close());
    const collectdSink = new CollectdSink();
    await collectdSink.start();
    cleanups.push(() => collectdSink.close());
    const ctx: PeerContext = {
      root: opts.root,
      dir,
      intervalSeconds: plan.intervalSeconds,
      socket: lv.socket,
      roSocket: lv.roSocket,
      listener,
      collectdSink,
    };

    const started: TinyGuests[] = [];
    cleanups.push(async () => {
      for (const g of started) await g.stop();
    });
    let count = 0;
    for (const n of plan.guestCounts) {
      opts.log(`collection: starting guests ${count}..${n - 1}`);
      started.push(await startTinyGuests(lv, n - count, `vb${n}`));
      count = n;
      const qemuPids = started.flatMap((g) => g.guests.map((x) => x.pid));
      // Freshly started guests run SeaBIOS for a few seconds before they idle.
      await sleep(10);
      for (let rep = 1; rep <= plan.repetitions; rep++) {
        const lv0 = await cpuSeconds(lv.pid);
        const q0 = await cpuSecondsOf(qemuPids);
        const t0 = performance.now();
        opts.log(`collection: N=${n} run ${rep}: idle window ${plan.windowSeconds} s`);
        await sleep(plan.windowSeconds);
        const seconds = (performance.now() - t0) / 1000;
        const idle: IdleRun = {
          guests: n,
          repetition: rep,
          libvirtdMsPerSecond: ((await cpuSeconds(lv.pid)) - lv0) * (1000 / seconds),
          qemuMsPerSecond: ((await cpuSecondsOf(qemuPids)) - q0) * (1000 / seconds),
          libvirtdRssMiB: (await rssMiB(lv.pid)).now,
        };
        result.idle.push(idle);

        for (const peer of peers) {
          opts.log(`collection: N=${n} run ${rep}: ${peer.name}`);
          const running = await peer.start(ctx);
          const pids = running.processes.map((p) => p.pid);
          const warmupSeconds = warmupOf(peer, plan);
          try {
            await sleep(warmupSeconds);
            running.startWindow();
            const p0 = await Promise.all(pids.map(cpuSeconds));
            const l0 = await cpuSeconds(lv.pid);
            const qs0 = await cpuSecondsOf(qemuPids);
            const w0 = performance.now();
            await sleep(plan.windowSeconds);
            const p1 = await Promise.all(pids.map(cpuSeconds));
            const l1 = await cpuSeconds(lv.pid);
            const qs1 = await cpuSecondsOf(qemuPids);
            const windowSeconds = (performance.now() - w0) / 1000;
            const rss = await Promise.all(pids.map(rssMiB));
            const values = await running.endWindow(windowSeconds);
            if (p1.some((c) => c === 0))
              throw new Error(`${peer.name} exited during the window; see its log in ${dir}`);
            const cycles = values.cycles || 1;
            const perCycle = (cpu: number) => (cpu * 1000) / cycles;
            const perProcess: Record<string, number> = {};
            for (const [i, proc] of running.processes.entries())
              perProcess[proc.name] = round(perCycle(p1[i]! - p0[i]!), 2);
            const peerCpu = p1.reduce((a, b) => a + b, 0) - p0.reduce((a, b) => a + b, 0);
            const libvirtdMs = perCycle(l1 - l0);
            const cycleSeconds = windowSeconds / cycles;
            result.runs.push({
              peer: peer.name,
              guests: n,
              repetition: rep,
              warmupSeconds,
              windowSeconds: round(windowSeconds, 2),
              cycles: round(cycles, 2),
              peerMsPerCycle: round(perCycle(peerCpu), 2),
              perProcessMsPerCycle: perProcess,
              libvirtdMsPerCycle: round(libvirtdMs, 2),
              libvirtdNetMsPerCycle: round(libvirtdMs - idle.libvirtdMsPerSecond * cycleSeconds, 2),
              qemuExtraMsPerCycle: round(perCycle(qs1 - qs0) - idle.qemuMsPerSecond * cycleSeconds, 1),
              rssPeakMiB: round(rss.reduce((a, r) => a + r.peak, 0)),
              rssSteadyMiB: round(rss.reduce((a, r) => a + r.now, 0)),
              valuesPerCycle: round(values.valuesPerCycle),
              valuesNote: values.valuesNote,
            });
          } finally {
            await running.stop();
          }
        }
      }
    }
    for (const i of result.idle) {
      i.libvirtdMsPerSecond = round(i.libvirtdMsPerSecond, 2);
      i.qemuMsPerSecond = round(i.qemuMsPerSecond, 1);
      i.libvirtdRssMiB = round(i.libvirtdRssMiB);
    }
    return result;
  } finally {
    for (const c of cleanups.reverse()) await c().catch((err: Error) => opts.log(`cleanup: ${err.message}`));
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** Median and spread of some figures. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** Median (the mean of the middle two for an even count) and range. */
export function spread(values: readonly number[]): Spread {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median: round(median, 2), min: s[0] ?? Number.NaN, max: s.at(-1) ?? Number.NaN };
}

/** Per guest count and peer: the medians and spreads of the runs. */
export function summarise(result: CollectionResult) {
  const rows = [];
  for (const n of result.plan.guestCounts)
    for (const peer of [...new Set(result.runs.map((r) => r.peer))]) {
      const runs = result.runs.filter((r) => r.guests === n && r.peer === peer);
      if (runs.length === 0) continue;
      const of = (f: (r: PeerRun) => number) => spread(runs.map(f));
      rows.push({
        guests: n,
        peer,
        runs: runs.length,
        peerMs: of((r) => r.peerMsPerCycle),
        libvirtdNetMs: of((r) => r.libvirtdNetMsPerCycle),
        totalMs: of((r) => r.peerMsPerCycle + r.libvirtdNetMsPerCycle),
        qemuExtraMs: of((r) => r.qemuExtraMsPerCycle),
        rssPeakMiB: of((r) => r.rssPeakMiB),
        rssSteadyMiB: of((r) => r.rssSteadyMiB),
        values: of((r) => r.valuesPerCycle),
        valuesNote: runs[0]!.valuesNote,
        perProcessMs: Object.fromEntries(
          Object.keys(runs[0]!.perProcessMsPerCycle).map((k) => [
            k,
            spread(runs.map((r) => r.perProcessMsPerCycle[k] ?? 0)),
          ]),
        ),
      });
    }
  return rows;
}
