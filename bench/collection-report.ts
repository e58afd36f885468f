import { type CollectionResult, type Spread, summarise } from "./collection.ts";
import type { Machine } from "./proc.ts";
import { SETTLE_REASON, SETTLED_AFTER_SECONDS } from "./setup.ts";

/** What the collection JSON holds next to the figures. */
export interface CollectionContext {
  date: string;
  mode: "quick" | "full";
  machine: Machine;
  versions: Record<string, string>;
}

// RSS of `node -e` doing nothing, on the machines this was written on (PEERS.md: ~45 MiB; Node 24 here: ~42 MiB).
const NODE_FLOOR_MIB = 45;

const fmt = (s: Spread, digits = 1) => {
  const f = (n: number) => n.toFixed(digits);
  return s.min === s.max ? f(s.median) : `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
};

function sentenceList(items: readonly string[]): string {
  return items.length < 2 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;
}

/** The "Collection cost on real VMs" section of docs/benchmarks.md, findings included, from the measured figures. */
export function collectionMarkdown(
  result: CollectionResult,
  ctx: CollectionContext,
  jsonFile: string,
): string {
  const { plan } = result;
  const rows = summarise(result);
  const agentWarmup = result.runs.find((r) => r.peer === "vesmon agent")?.warmupSeconds ?? 10;
  const table = [
    "| N | peer | peer CPU ms/cycle | libvirtd ms/cycle (minus idle) | peer + libvirtd | QEMU extra ms/cycle | RSS peak / steady MiB | values per cycle |",
    "|---|---|---|---|---|---|---|---|",
    ...rows.map(
      (r) =>
        `| ${r.guests} | ${r.peer} | ${fmt(r.peerMs)} | ${fmt(r.libvirtdNetMs)} | **${fmt(r.totalMs)}** | ${fmt(r.qemuExtraMs, 0)} | ${fmt(r.rssPeakMiB)} / ${fmt(r.rssSteadyMiB)} | ${fmt(r.values, 0)} ¹ |`,
    ),
  ].join("\n");
  const idle = result.idle
    .map(
      (i) =>
        `N=${i.guests} run ${i.repetition}: libvirtd ${i.libvirtdMsPerSecond.toFixed(2)} ms/s, QEMU ${i.qemuMsPerSecond.toFixed(1)} ms/s, libvirtd RSS ${i.libvirtdRssMiB} MiB`,
    )
    .join("; ");
  const notes = [...new Map(rows.map((r) => [r.peer, r.valuesNote])).entries()]
    .map(([peer, note]) => `${peer}: ${note}`)
    .join("; ");
  const perProcess = rows
    .filter((r) => Object.keys(r.perProcessMs).length > 1)
    .map(
      (r) =>
        `N=${r.guests}: ${Object.entries(r.perProcessMs)
          .map(([k, s]) => `${k} ${fmt(s)}`)
          .join(", ")} ms/cycle`,
    )
    .join("; ");

  const findings: string[] = [];
  for (const n of plan.guestCounts) {
    const at = rows.filter((r) => r.guests === n);
    if (at.length === 0) continue;
    const byCpu = [...at].sort((a, b) => a.totalMs.median - b.totalMs.median);
    const byOwnCpu = [...at].sort((a, b) => a.peerMs.median - b.peerMs.median);
    const byRss = [...at].sort((a, b) => a.rssSteadyMiB.median - b.rssSteadyMiB.median);
    const agent = at.find((r) => r.peer === "vesmon agent");
    findings.push(
      `- **N=${n}, CPU per ${plan.intervalSeconds} s cycle (peer + libvirtd, medians):** ${sentenceList(byCpu.map((r) => `${r.peer} ${r.totalMs.median.toFixed(1)} ms`))}. ` +
        `Cheapest without QEMU: ${byCpu[0]!.peer}. Cheapest in its own process: ${byOwnCpu[0]!.peer} (${byOwnCpu[0]!.peerMs.median.toFixed(1)} ms).`,
    );
    // QEMU's monitor answers the stats queries too; counted in, the order can change.
    const withQemu = (r: (typeof at)[number]) => r.totalMs.median + Math.max(0, r.qemuExtraMs.median);
    const byHost = [...at].sort((a, b) => withQemu(a) - withQemu(b));
    findings.push(
      `- **N=${n}, the whole host (peer + libvirtd + QEMU extra, medians):** ${sentenceList(byHost.map((r) => `${r.peer} ${withQemu(r).toFixed(0)} ms`))}. ` +
        (byHost[0]!.peer === byCpu[0]!.peer
          ? `${byHost[0]!.peer} stays cheapest.`
          : `Counting QEMU, ${byHost[0]!.peer} wins: ${byCpu[0]!.peer}'s stats queries keep QEMU's monitor busy for ${Math.max(0, byCpu[0]!.qemuExtraMs.median).toFixed(0)} ms per cycle, against ${Math.max(0, byHost[0]!.qemuExtraMs.median).toFixed(0)} ms for ${byHost[0]!.peer}.`),
    );
    if (agent) {
      const winners = at.filter((r) => r !== agent && r.rssSteadyMiB.median < agent.rssSteadyMiB.median);
      findings.push(
        `- **N=${n}, memory:** ${sentenceList(byRss.map((r) => `${r.peer} ${r.rssSteadyMiB.median.toFixed(1)} MiB`))} (steady RSS; the exporters' figure is both processes together). ` +
          (winners.length
            ? `On memory ${sentenceList(winners.map((r) => r.peer))} ${winners.length > 1 ? "win" : "wins"}, clearly. A bare Node runtime takes about ${NODE_FLOOR_MIB} MiB, a floor a C or Go daemon does not have; the agent's other ~${Math.round(agent.rssSteadyMiB.median - NODE_FLOOR_MIB)} MiB are its loaded modules and heap (see "Where the agent's memory goes"), and that is the agent's weakest figure.`
            : "The agent uses the least memory here."),
      );
      const cheaperOwn = at.filter((r) => r !== agent && r.peerMs.median < agent.peerMs.median);
      if (cheaperOwn.length)
        findings.push(
          `- **N=${n}, the peer's own CPU:** ${sentenceList(cheaperOwn.map((r) => `${r.peer} (${r.peerMs.median.toFixed(1)} ms)`))} spend${cheaperOwn.length > 1 ? "" : "s"} less CPU in ${cheaperOwn.length > 1 ? "their own processes" : "its own process"} than the agent (${agent.peerMs.median.toFixed(1)} ms); the difference on libvirtd's side is what decides the totals above.`,
        );
    }
  }
  if (plan.guestCounts.length > 1) {
    const [lo, hi] = [plan.guestCounts[0]!, plan.guestCounts.at(-1)!];
    const growth = [...new Set(rows.map((r) => r.peer))].flatMap((peer) => {
      const a = rows.find((r) => r.peer === peer && r.guests === lo);
      const b = rows.find((r) => r.peer === peer && r.guests === hi);
      if (!a || !b) return [];
      const per = (x: Spread, y: Spread) => ((y.median - x.median) / (hi - lo)).toFixed(2);
      return [
        `${peer} +${per(a.peerMs, b.peerMs)} ms own and +${per(a.libvirtdNetMs, b.libvirtdNetMs)} ms libvirtd`,
      ];
    });
    findings.push(`- **Growth per extra guest per cycle (N=${lo} → ${hi}):** ${growth.join("; ")}.`);
  }

  return `## Collection cost on real VMs

What one collection cycle costs the host: the agent against collectd and the Prometheus exporters, one after
another on the same running guests, at the same ${plan.intervalSeconds} s interval, in the same run
(${ctx.mode} mode: N = ${plan.guestCounts.join(" and ")} guests, ${plan.repetitions} run${plan.repetitions > 1 ? "s" : ""} of ${plan.windowSeconds} s windows per peer).
Raw figures in \`bench/results/${jsonFile}\`.

**Setup.** A private libvirtd with only the qemu driver (\`test/helpers/libvirtd.ts\`) runs N diskless TCG guests
(64 MiB, 2 vCPUs, one virtio disk, one tap NIC, a balloon; SeaBIOS idles with nothing to boot). The peers, each
with its host and libvirt part:

- **vesmon agent**: \`node dist/agent/main.js\` (the build the image ships) with collectors cpu, memory, interface, disk and virt (its
  default stat groups state, cpu-total, balloon, vcpu, interface and block; read-only socket) every ${plan.intervalSeconds} s; VES 7.2.1 events every 5 s (the CRD's minimum
  measurementInterval) to an in-process vesmon listener.
- **collectd** 5.12: plugins cpu, memory, interface, disk and virt (the ExtraStats of \`PEERS.md\`, RefreshInterval 60),
  write_http JSON to an in-process sink.
- **libvirt-exporter + node-exporter**: both Debian exporters with their default collectors, scraped every
  ${plan.intervalSeconds} s by an in-process fetch loop.

**Method** (as in the peer baseline, \`PEERS.md\`). Warm-up (agent ${agentWarmup} s${agentWarmup >= SETTLED_AFTER_SECONDS ? `, so that its RSS has settled: ${SETTLE_REASON}` : ""}, collectd 10 s, exporters 5 s), then a
${plan.windowSeconds} s window; \`utime+stime\` from \`/proc/<pid>/stat\` of the peer's processes, of libvirtd and of all
QEMU processes at both ends; VmHWM and VmRSS at the end. ms per cycle = window CPU ÷ cycles (window ÷ interval; for
the exporters, scrapes completed). "libvirtd (minus idle)" subtracts libvirtd's rate in an idle window with no peer
before each run (${idle}). "QEMU extra" is the guests' CPU above that idle rate and moves by ±5 ms/s between windows
on its own, so read values under ~15 ms as zero. The receivers' CPU is not counted. With
${plan.repetitions > 1 ? "several runs the cells show the median and (min–max)" : "one run per peer the cells show that run"}; the clock tick is 10 ms, i.e. ${(10 / plan.windowSeconds).toFixed(2)} ms per cycle over one window.

${table}

¹ ${notes}. The agent's figure is per 5 s event set, the others' per ${plan.intervalSeconds} s cycle: the agent samples every
cycle but reports windows, so its values per second are a fifth of the figure.
${perProcess ? `\nThe exporters per process: ${perProcess}.\n` : ""}${result.skipped.length ? `\nNot measured: ${result.skipped.map((s) => `${s.peer} (${s.reason})`).join("; ")}.\n` : ""}
### Findings

${findings.join("\n")}
- Most of a libvirt client's cost is in libvirtd and in QEMU's monitor, not in the client: that is where the peers
  differ most. collectd's virt plugin makes many per-domain calls per cycle; the libvirt exporter reads few fields
  (17 series per guest); the agent makes one GetAllDomainStats call per cycle for the groups no cheaper source
  serves (state and vcpu; balloon and block once per measurement window) and reads VM CPU time from the VM's
  cgroup and vNIC counters from the host side of its tap ("What each figure costs", below). Of those groups vcpu,
  balloon and block cost QEMU a QMP round trip per guest (PEERS.md §4). Asking for fewer groups (\`stats:\` in
  the virt collector), or a longer interval for virt than for the host collectors, lowers it further.
- Not comparable one to one: the peers read different sets of things (node-exporter runs ~40 host collectors;
  the agent also aggregates and serialises VES events), and these are idle TCG guests on a small shared machine.
  KVM guests under load will cost QEMU differently.
`;
}
