// The result of the kubevirt-daemons benchmark and its section of docs/benchmarks.md, kept apart from the
// measuring code so the rendering is tested from a fixture without starting anything.
import type { Machine } from "./proc.ts";

/** One way of holding `vms` guests: all in one daemon, or one daemon each. */
export interface Scenario {
  vms: number;
  daemons: number;
}

/** How much to measure. */
export interface KubevirtDaemonsPlan {
  scenarios: readonly Scenario[];
  repetitions: number;
  /** Measured collections per scenario and repetition, after `warmup` unmeasured ones. */
  collections: number;
  warmup: number;
  /** Pause between two collections, ms. */
  pauseMs: number;
}

/** One scenario, one repetition, per collection. */
export interface KubevirtDaemonsRun extends Scenario {
  repetition: number;
  /** Wall time of one collection, ms. */
  wallMs: { median: number; p95: number; max: number };
  /** CPU of the collecting process per collection, ms. */
  agentCpuMs: number;
  /** CPU of the simulators' process per collection, ms (not a real daemon's cost). */
  simCpuMs: number;
  /** File descriptors the collecting process held while collecting. */
  fds: number;
}

/** Everything one plan measured. */
export interface KubevirtDaemonsResult {
  mode: "quick" | "full";
  plan: KubevirtDaemonsPlan;
  /** Daemons the collector reads at once (the daemon pool's default). */
  concurrency: number;
  machine: Machine;
  /** The 1-minute load average at the start and the end (the machine may be shared). */
  load: { start: number; end: number };
  runs: KubevirtDaemonsRun[];
}

const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);

/** "a–b" from the smallest to the largest value, or one value when they agree at that precision. */
function range(values: readonly number[], fmt: (n: number) => string): string {
  const lo = fmt(Math.min(...values));
  const hi = fmt(Math.max(...values));
  return lo === hi ? lo : `${lo}–${hi}`;
}

/** One cell: the runs' figures in repetition order, "run 1 / run 2". */
const perRun = (runs: readonly KubevirtDaemonsRun[], f: (r: KubevirtDaemonsRun) => string) =>
  runs.map(f).join(" / ");

const runsOf = (result: KubevirtDaemonsResult, s: Scenario) =>
  result.runs
    .filter((r) => r.vms === s.vms && r.daemons === s.daemons)
    .sort((a, b) => a.repetition - b.repetition);

/** The "KubeVirt: one daemon per VM" section of docs/benchmarks.md: table and findings from the measured figures. */
export function kubevirtDaemonsMarkdown(result: KubevirtDaemonsResult): string {
  const { plan, machine: m } = result;
  const reps = plan.repetitions;
  const runLabel = reps > 1 ? ` (${Array.from({ length: reps }, (_, i) => `run ${i + 1}`).join(" / ")})` : "";
  const rows = plan.scenarios.map((s) => {
    const runs = runsOf(result, s);
    const fds = [...new Set(runs.map((r) => r.fds))];
    return `| ${s.vms} | ${s.daemons === 1 ? "1 (all guests)" : `${s.daemons} (one guest each)`} | ${perRun(runs, (r) => `${f1(r.wallMs.median)}; ${f1(r.wallMs.p95)}; ${f1(r.wallMs.max)}`)} | **${perRun(runs, (r) => f1(r.agentCpuMs))}** | ${perRun(runs, (r) => f1(r.simCpuMs))} | ${fds.join(" / ")} |`;
  });
  const table = [
    `| VMs | daemons | collection wall ms, median; p95; max${runLabel} | agent CPU ms per collection${runLabel} | simulators' CPU ms per collection ¹${runLabel} | fds held |`,
    "|---|---|---|---|---|---|",
    ...rows,
  ].join("\n");
  return `## KubeVirt: one daemon per VM (simulated libvirt)

**What.** On a KubeVirt node every VM has its own libvirt daemon (in its virt-launcher pod), so the virt collector
(\`libvirt.discovery: kubevirt\` or \`kubelet-dir\`) keeps one connection per daemon and makes one bulk stats call to
each, ${result.concurrency} at a time. This compares that with one daemon holding the same guests.

**Setup.** \`npm run bench -- --only kubevirt-daemons\` (or \`node bench/kubevirt-daemons.ts\`) runs the collector in
its own process, as the agent does, against **simulated daemons** (\`bench/libvirt-sim-fleet.ts\`: \`LibvirtSim\`
instances in one separate process, one socket each, reached through a kubelet-like tree
\`<root>/var/lib/kubelet/pods/<uid>/volumes/kubernetes.io~empty-dir/libvirt-runtime/\` with \`kubelet-dir\`
discovery), not real libvirtd: libvirtd's and QEMU's cost is absent, only the agent's side is measured. Each guest
has the simulator's shape (2 vCPUs, one disk, one NIC, a balloon). The collector has the default sources (CPU from
the VM's cgroup, vNICs from the host taps) and this host's \`/proc\` and \`/sys/fs/cgroup\`, where no simulated
VM has a tap or a cgroup, as a virt-launcher's VM has none there (its tap is in the pod's network namespace, its
QEMU under \`kubepods\`): from its second collection on, each daemon's one bulk call carries \`cpu-total\` and
\`interface\` too.

**Method.** ${result.mode} mode: ${plan.collections} collections per row, ${plan.pauseMs} ms apart, after
${plan.warmup} warm-up ones; every collection must read every VM without an error. CPU is the collecting process's user+system
time per collection (discovery scan, calls, decoding, samples); wall time from the call to its result; fds are
counted at the end of the row. ${reps} run${reps > 1 ? "s" : ""} on ${m.cpuModel}, ${m.cores} cores, kernel
${m.kernel}; the 1-minute load was ${f2(result.load.start)} at the start and ${f2(result.load.end)} at the end.

${table}

¹ For information: the simulator copies pre-encoded records, a real daemon asks QEMU.

### Findings

${findings(result).join("\n")}
`;
}

/**
 * For the largest VM count measured both ways: what each extra daemon costs, how long the collection takes and
 * how many more descriptors it holds, compared run by run with one daemon holding the same guests.
 */
function findings(result: KubevirtDaemonsResult): string[] {
  const paired = result.plan.scenarios
    .filter((s) => s.daemons > 1)
    .filter((s) => result.plan.scenarios.some((o) => o.vms === s.vms && o.daemons === 1))
    .sort((a, b) => b.vms - a.vms)[0];
  const notMeasured = `- **Not measured here:** real virtqemud/libvirtd daemons each ask their own QEMU; that cost is on the daemons'
  side, per VM, as with one daemon.`;
  if (!paired) return [notMeasured];
  const many = runsOf(result, paired);
  const one = runsOf(result, { vms: paired.vms, daemons: 1 });
  const pairs = many.flatMap((r) => {
    const o = one.find((x) => x.repetition === r.repetition);
    return o ? [{ many: r, one: o }] : [];
  });
  const extra = paired.daemons - 1;
  const perDaemon = pairs.map((p) => (p.many.agentCpuMs - p.one.agentCpuMs) / extra);
  const cores = many.map((r) => r.agentCpuMs / 10);
  const fdsMany = Math.max(...many.map((r) => r.fds));
  const fdsOne = Math.min(...one.map((r) => r.fds));
  const fdsMore = fdsMany - fdsOne;
  const worstP95 = Math.max(...many.map((r) => r.wallMs.p95));
  const n = paired.daemons;
  const cpuMany = range(
    many.map((r) => r.agentCpuMs),
    f1,
  );
  const cpuOne = range(
    one.map((r) => r.agentCpuMs),
    f1,
  );
  const wallMany = range(
    many.map((r) => r.wallMs.median),
    f1,
  );
  const fdsPer = fdsMore === extra ? "one socket per daemon" : `${f1(fdsMore / extra)} per extra daemon`;
  return [
    `- **Per daemon:** each extra daemon costs the agent about ${range(perDaemon, f2)} ms of CPU per collection
  (${n} daemons: ${cpuMany} ms against ${cpuOne} ms for one daemon with the same ${paired.vms} guests), that is
  ${range(cores, f1)} % of one core at a 1 s interval for ${paired.vms} VMs. The cost is the per-call round trip
  (one RPC request, reply and promise per daemon) and the discovery scan (one \`readdir\` of the kubelet's pods
  directory and one \`stat\` per pod: the socket found last is checked first).`,
    `- **Wall time:** the calls run ${result.concurrency} at a time, so ${n} daemons take ${wallMany} ms per
  collection (median); the worst p95, ${f1(worstP95)} ms, is ${f1(worstP95 / 10)} % of a 1 s interval. The p95 and
  max are the machine's scheduling noise as much as the collector.`,
    `- **File descriptors:** ${fdsPer} (${fdsMany} − ${fdsOne} = ${fdsMore} more for ${n} daemons than for one).`,
    notMeasured,
  ];
}
