/**
 * Requests seen by the fake API server, as `VERB resource` (e.g. `PATCH nodemonitors`, `WATCH nodes`) → count;
 * `REPEAT resource` counts the writes whose body was byte for byte the previous write to the same object, and
 * `BYTES VERB resource` sums the bytes of the writes' bodies.
 */
export type RequestCounts = Record<string, number>;

/** Reconciles the operator counted (its /metrics) over a phase. */
export interface Reconciles {
  /** Profile status roll-ups, and the time spent in them, seconds. */
  profile: number;
  profileSeconds: number;
  /** Renders of every NodeMonitor (finished ones only). */
  nodeMonitors: number;
}

/** Median and maximum of the agents' latencies, and how many agents they cover. */
export interface LatencySpread {
  n: number;
  medianMs: number;
  maxMs: number;
}

/** One size, one repetition of the operator-scale benchmark. */
export interface OperatorScaleRun {
  nodes: number;
  profiles: number;
  repetition: number;
  /** How many profiles select a node (computed from the selectors by the benchmark, not the operator). */
  profilesPerNode: { mean: number; min: number; max: number };
  /** NodeMonitors expected: one per node selected by at least one profile. */
  nodeMonitors: number;
  /** Stored sizes at convergence; `embedsSpecs` when a NodeMonitor carries its profiles' specs. */
  sizes: {
    nodeMonitors: { count: number; meanBytes: number; maxBytes: number };
    nodes: { count: number; meanBytes: number };
    embedsSpecs?: boolean;
  };
  /** From the operator's start to its "informers synced" and "leading" log lines, seconds. */
  syncedSeconds: number | null;
  leadingSeconds: number | null;
  /** From the operator's start to the converged state; null when it did not get there in time. */
  convergeSeconds: number | null;
  /** What was still pending when the benchmark gave up waiting, if it did. */
  pendingAtEnd?: { nodeMonitors: number; profiles: number } | undefined;
  /** Requests from the operator's start to convergence. */
  initial: RequestCounts;
  initialReconciles: Reconciles;
  /** utime + stime of the operator process until convergence, start-up included. */
  operatorCpuSeconds: number;
  /** The fake API server's CPU over the same time (its benchmark bookkeeping taken out), and its RSS at the end. */
  apiServerCpuSeconds: number;
  apiServerRssMiB: number;
  /** Operator VmHWM at convergence and at the end of the run, and VmRSS after the steady phase. */
  rssConvergedPeakMiB: number;
  rssPeakMiB: number;
  rssSteadyMiB: number;
  /** The agents: how many, and the time from their start until each had applied its profiles. */
  agents: {
    count: number;
    startSeconds: number;
    /**
     * Which of the selected nodes they ran on: spread evenly over them in name order, or (absent, the first
     * runs) the first ones, which a rollout going through the nodes in order reaches first.
     */
    placement?: "spread";
  };
  /** The steady phase: only the Nodes' status changes (kubelet reports), agents running. */
  steady: {
    seconds: number;
    nodeUpdatesPerSecond: number;
    requests: RequestCounts;
    /** CPU over the phase in % of one core. */
    operatorCpuPercent: number;
    apiServerCpuPercent: number;
    agentFleetCpuPercent: number;
  };
  change: {
    profile: string;
    affectedNodes: number;
    /** From the profile update until its status has the new observedGeneration and the right selectedNodes. */
    statusSeconds: number | null;
    /** From the profile update until each agent had applied the new generation (its apply returned). */
    agentLatency: LatencySpread;
    /** Agents that had not applied it when the benchmark stopped waiting (120 s). */
    agentsMissing: number;
    /** From the update until the operator had written nothing but Lease renewals for 10 s. */
    windowSeconds: number;
    /** From the update to the operator's last write in the window: how long its rollout took. */
    lastWriteSeconds?: number;
    requests: RequestCounts;
    operatorCpuSeconds: number;
    apiServerCpuSeconds: number;
    reconciles: Reconciles;
  };
  operatorWarnings: number;
  warningSamples: string[];
  /** Each time the operator exited (it exits when it loses its lease) and was started again, as a kubelet would. */
  operatorRestarts?: { afterSeconds: number; phase?: string; why: string }[];
  /** Operator processes the kernel killed at the memory limit during the run. */
  oomKills?: number;
}

/** Everything one operator-scale run measured. */
export interface OperatorScaleResult {
  date: string;
  mode: "quick" | "full";
  node: string;
  cores: number;
  /** The commit measured (`git describe --always --dirty`), so figures from before and after a redesign are told apart. */
  commit?: string;
  /** The load average (1 min) when the run started: the machine is shared. */
  loadAverage?: number;
  plan: {
    nodeCounts: readonly number[];
    repetitions: number;
    steadySeconds: number;
    churnPerSecond: number;
    convergeTimeoutSeconds: number;
  };
  /** Wall time of the whole benchmark, seconds. */
  seconds?: number;
  /** The operator's memory limit (its cgroup's), MiB. */
  memoryLimitMiB?: number;
  runs: OperatorScaleRun[];
}

/** The median (upper of the two middle values) and maximum of some latencies in ms. */
export function latencySpread(ms: readonly number[]): LatencySpread {
  const s = [...ms].sort((a, b) => a - b);
  return { n: s.length, medianMs: s[Math.floor(s.length / 2)] ?? 0, maxMs: s.at(-1) ?? 0 };
}

const WRITE_VERBS = ["POST", "PUT", "PATCH", "DELETE"];
/** What only agents write (their NodeMonitor status) and what every leader renews: neither is a rollout. */
const AGENT_RESOURCES = ["nodemonitors/status"];

/** Writes (POST, PUT, PATCH, DELETE) and their body bytes by resource, e.g. `nodemonitors`, `leases`. */
export function writesByResource(c: RequestCounts): Record<string, { writes: number; bytes: number }> {
  const out: Record<string, { writes: number; bytes: number }> = {};
  for (const [k, n] of Object.entries(c)) {
    const parts = k.split(" ");
    const bytes = parts[0] === "BYTES";
    const [verb, resource = ""] = bytes ? parts.slice(1) : parts;
    if (!WRITE_VERBS.includes(verb!)) continue;
    out[resource] ??= { writes: 0, bytes: 0 };
    if (bytes) out[resource].bytes += n;
    else out[resource].writes += n;
  }
  return out;
}

/** The operator's writes (every resource but the agents' NodeMonitor status) other than Lease renewals. */
export function operatorWrites(c: RequestCounts): { writes: number; bytes: number } {
  const out = { writes: 0, bytes: 0 };
  for (const [r, w] of Object.entries(writesByResource(c)))
    if (r !== "leases" && !AGENT_RESOURCES.includes(r)) {
      out.writes += w.writes;
      out.bytes += w.bytes;
    }
  return out;
}

/** Writes that repeated the previous write to the same object, by resource. */
export function repeatsOf(c: RequestCounts): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(c))
    if (k.startsWith("REPEAT ")) out[k.slice("REPEAT ".length)] = (out[k.slice("REPEAT ".length)] ?? 0) + n;
  return out;
}

/** Reads by verb: LIST, GET (single objects and discovery), WATCH. */
export function readsOf(c: RequestCounts): { list: number; get: number; watch: number } {
  const out = { list: 0, get: 0, watch: 0 };
  for (const [k, n] of Object.entries(c)) {
    const verb = k.split(" ")[0];
    if (verb === "LIST") out.list += n;
    else if (verb === "GET") out.get += n;
    else if (verb === "WATCH") out.watch += n;
  }
  return out;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)] ?? 0;
const kib = (bytes: number) => (bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0);
const s1 = (ms: number) => (ms / 1000).toFixed(1);
const orDash = (v: number | null | undefined, digits = 1) => (v == null ? "–" : v.toFixed(digits));

/** The issue's goals at the largest size, each with the measured figure and whether it is met. */
function goalsTable(r: OperatorScaleRun): string {
  const ow = operatorWrites(r.change.requests);
  const rows: [string, string, string, boolean | null][] = [
    [
      "converge (fake API server)",
      "≤ 30 s",
      `${orDash(r.convergeSeconds)} s`,
      r.convergeSeconds === null ? false : r.convergeSeconds <= 30,
    ],
    ["operator RSS peak", "≤ 250 MiB", `${r.rssPeakMiB.toFixed(0)} MiB`, r.rssPeakMiB <= 250],
    [
      "operator CPU under churn",
      "≤ 5 % of a core",
      `${r.steady.operatorCpuPercent.toFixed(1)} %`,
      r.steady.operatorCpuPercent <= 5,
    ],
    [
      "one profile's change reaches every selected agent",
      "≤ 5 s",
      r.agents.placement === "spread"
        ? `${s1(r.change.agentLatency.maxMs)} s (max of ${r.change.agentLatency.n})`
        : `${s1(r.change.agentLatency.maxMs)} s (max of ${r.change.agentLatency.n}, on the first nodes only; the operator's last write came after ${(r.change.lastWriteSeconds ?? r.change.windowSeconds - 10).toFixed(0)} s)`,
      r.agents.placement === "spread"
        ? r.change.agentsMissing === 0 && r.change.agentLatency.maxMs <= 5000
        : null,
    ],
    [
      "API writes per profile change",
      "O(1), not O(selected nodes)",
      `${ow.writes} for ${r.change.affectedNodes} selected nodes`,
      ow.writes < r.change.affectedNodes / 10,
    ],
    [
      "NodeMonitor size independent of profile size",
      "state bytes per node",
      `${r.sizes.nodeMonitors.meanBytes} B mean, ${r.sizes.nodeMonitors.maxBytes} B max`,
      r.sizes.embedsSpecs === undefined ? null : !r.sizes.embedsSpecs,
    ],
  ];
  return [
    `| goal at ${r.nodes} nodes | target | measured | met |`,
    "|---|---|---|---|",
    ...rows.map(([g, t, m, ok]) => `| ${g} | ${t} | ${m} | ${ok === null ? "–" : ok ? "yes" : "**no**"} |`),
  ].join("\n");
}

/** The `## Operator scale` section of docs/benchmarks.md: method, tables and findings from the figures. */
export function operatorScaleMarkdown(result: OperatorScaleResult): string {
  const runs = [...result.runs].sort((a, b) => a.nodes - b.nodes || a.repetition - b.repetition);
  const first = runs[0];
  const last = runs.at(-1);
  const converge = [
    "| nodes | profiles per node, mean (min–max) | Node object, KiB | converged after, s | operator CPU, s | fake API server CPU, s | writes: NodeMonitor / profile status / Event | reads: list / get / watch | NodeMonitor, bytes mean / max | operator RSS peak / steady, MiB |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...runs.map((r) => {
      const w = writesByResource(r.initial);
      const n = (k: string) => w[k]?.writes ?? 0;
      const rd = readsOf(r.initial);
      return `| ${r.nodes} | ${r.profilesPerNode.mean} (${r.profilesPerNode.min}–${r.profilesPerNode.max}) | ${kib(r.sizes.nodes.meanBytes)} | **${orDash(r.convergeSeconds)}** | ${r.operatorCpuSeconds.toFixed(1)} | ${r.apiServerCpuSeconds.toFixed(1)} | ${n("nodemonitors")} / ${n("monitoringprofiles/status")} / ${n("events")} | ${rd.list} / ${rd.get} / ${rd.watch} | ${r.sizes.nodeMonitors.meanBytes} / ${r.sizes.nodeMonitors.maxBytes} | **${r.rssPeakMiB.toFixed(0)}** / ${r.rssSteadyMiB.toFixed(0)} |`;
    }),
  ].join("\n");
  const steady = [
    "| nodes | Node status updates/s | operator CPU, % of a core | fake API server CPU, % | agents' CPU (one process), % | writes/s: operator / Lease / agents' status |",
    "|---|---|---|---|---|---|",
    ...runs.map((r) => {
      const w = writesByResource(r.steady.requests);
      const per = (n: number) => (n / r.steady.seconds).toFixed(2);
      return `| ${r.nodes} | ${r.steady.nodeUpdatesPerSecond.toFixed(1)} | **${r.steady.operatorCpuPercent.toFixed(1)}** | ${r.steady.apiServerCpuPercent.toFixed(1)} | ${r.steady.agentFleetCpuPercent.toFixed(1)} | ${per(operatorWrites(r.steady.requests).writes)} / ${per(w.leases?.writes ?? 0)} / ${per(w["nodemonitors/status"]?.writes ?? 0)} |`;
    }),
  ].join("\n");
  const change = [
    "| nodes | nodes it selects | every agent applied it, s: median / max | operator's last write, s | profile status current, s | operator writes: NodeMonitor / profile status / Event / other | operator bytes written, KiB | agents' status writes | operator CPU, s | fake API server CPU, s | window, s |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...runs.map((r) => {
      const c = r.change;
      const w = writesByResource(c.requests);
      const n = (k: string) => w[k]?.writes ?? 0;
      const ow = operatorWrites(c.requests);
      const other = ow.writes - n("nodemonitors") - n("monitoringprofiles/status") - n("events");
      const missing = c.agentsMissing
        ? ` (${c.agentsMissing} of ${c.agentLatency.n + c.agentsMissing} never)`
        : "";
      return `| ${r.nodes} | ${c.affectedNodes} | **${s1(c.agentLatency.medianMs)} / ${s1(c.agentLatency.maxMs)}**${missing} | ${(c.lastWriteSeconds ?? c.windowSeconds - 10).toFixed(1)}${c.lastWriteSeconds === undefined ? "¹" : ""} | ${orDash(c.statusSeconds)} | **${ow.writes}**: ${n("nodemonitors")} / ${n("monitoringprofiles/status")} / ${n("events")} / ${other} | **${kib(ow.bytes)}** | ${n("nodemonitors/status")} | ${c.operatorCpuSeconds.toFixed(1)} | ${c.apiServerCpuSeconds.toFixed(1)} | ${c.windowSeconds.toFixed(1)} |`;
    }),
  ].join("\n");

  const carrier =
    last?.sizes.embedsSpecs === undefined
      ? ""
      : last.sizes.embedsSpecs
        ? "At this commit a NodeMonitor **embeds the spec of every profile that selects its node**, so a profile edit rewrites every NodeMonitor it selects: these are the figures of the design before the carrier redesign (NodeMonitors that name their profiles, agents that watch MonitoringProfiles). **To be re-measured after that redesign merges** (`npm run bench -- --only operator-scale`): every table below, above all the NodeMonitor size, the writes and bytes per profile change, the change-to-agent latency and the RSS peak, which are the figures it is meant to change."
        : "At this commit a NodeMonitor **names** the profiles that select its node and agents read the profiles themselves.";
  const findings: string[] = [];
  if (last) {
    const ow = operatorWrites(last.change.requests);
    findings.push(
      `- **A change to one profile** (${last.change.profile}, selecting ${last.change.affectedNodes} of ${last.nodes} nodes) cost ${ow.writes} operator writes and ${kib(ow.bytes)} KiB of request bodies ` +
        `(${(ow.writes / Math.max(1, last.change.affectedNodes)).toFixed(2)} writes per selected node); the ${last.change.agentLatency.n} agents had applied it after ${s1(last.change.agentLatency.medianMs)} s (median) and ${s1(last.change.agentLatency.maxMs)} s (max)` +
        `${last.agents.placement === "spread" ? "" : `, but they sat on the first nodes it selects and the operator's last write came after ${(last.change.lastWriteSeconds ?? last.change.windowSeconds - 10).toFixed(0)} s, so the nodes last in its order waited about that long`}.`,
      `- **Under churn** (${last.steady.nodeUpdatesPerSecond.toFixed(1)} Node status updates/s for ${last.steady.seconds.toFixed(0)} s) the operator used ${last.steady.operatorCpuPercent.toFixed(1)} % of a core and the fake API server ${last.steady.apiServerCpuPercent.toFixed(1)} %; ` +
        `the operator made ${operatorWrites(last.steady.requests).writes} writes other than Lease renewals in that time.`,
    );
    for (const r of runs) {
      const w = Object.entries(writesByResource(r.steady.requests)).filter(
        ([k]) => k !== "leases" && k !== "nodemonitors/status",
      );
      const total = w.reduce((a, [, x]) => a + x.writes, 0);
      if (total > r.steady.seconds)
        findings.push(
          `- **Not quite steady at ${r.nodes} nodes:** with only the Nodes' status changing, the operator made ${total} writes in ${r.steady.seconds.toFixed(0)} s (${w.map(([k, x]) => `${k} ${x.writes}`).join(", ")}), beside ${writesByResource(r.steady.requests)["nodemonitors/status"]?.writes ?? 0} status reports of the agents.`,
        );
    }
    if (first && first !== last && first.convergeSeconds && last.convergeSeconds)
      findings.push(
        `- **Growth.** From ${first.nodes} to ${last.nodes} nodes (×${(last.nodes / first.nodes).toFixed(0)}) the time to converge grew ×${(last.convergeSeconds / first.convergeSeconds).toFixed(1)}, ` +
          `the operator's CPU to converge ×${(last.operatorCpuSeconds / Math.max(0.01, first.operatorCpuSeconds)).toFixed(1)} and its RSS peak from ${first.rssPeakMiB.toFixed(0)} to ${last.rssPeakMiB.toFixed(0)} MiB.`,
      );
    const repeats = Object.entries(repeatsOf({ ...last.initial }));
    if (repeats.length)
      findings.push(
        `- **Repeated writes.** Until convergence at ${last.nodes} nodes ${repeats.map(([k, n]) => `${n} writes to ${k}`).join(", ")} repeated the previous write to the same object byte for byte.`,
      );
  }
  for (const r of runs) {
    if (r.oomKills)
      findings.push(
        `- **The kernel OOM-killed the operator ${r.oomKills} time${r.oomKills > 1 ? "s" : ""} at ${r.nodes} nodes** (the chart's memory limit).`,
      );
    if (r.operatorRestarts?.length)
      findings.push(
        `- **The operator exited ${r.operatorRestarts.length} time${r.operatorRestarts.length > 1 ? "s" : ""} at ${r.nodes} nodes** and was started again (as a kubelet restarts it): ${r.operatorRestarts.map((x) => `after ${x.afterSeconds.toFixed(0)} s${x.phase ? `, ${x.phase}` : ""} (${x.why})`).join("; ")}. The figures of that phase include the restart and the resync after it.`,
      );
  }
  const warnings = runs.filter((r) => r.operatorWarnings > 0);
  const medSteady = median(runs.map((r) => r.steady.seconds));
  return `## Operator scale

How the operator copes with a fleet: the real operator process (\`node dist/operator/main.js\`, leader election on, with the
chart's V8 flags and env, in a memory cgroup with the chart's ${result.memoryLimitMiB ?? 384} MiB limit) against
the project's **fake API server** (\`test/fake-apiserver\`, in a child process of its own so that its CPU is measured apart),
holding **realistic Node objects** and changing their status as kubelets do, with **${first?.agents.count ?? 50} real agents** in one process
(\`bench/agent-fleet.ts\`) on ${first?.agents.count ?? 50} of the nodes. The other nodes have no agent. ${result.mode} mode, ${result.date.slice(0, 10)}${result.commit ? `, commit \`${result.commit}\`` : ""},
Node ${result.node}, ${result.cores} cores shared by the operator, the fake API server and the agents${result.loadAverage !== undefined ? ` (load average ${result.loadAverage.toFixed(1)} when it started: other work shared the machine)` : ""},
${result.plan.repetitions} run per size${result.seconds ? `; the whole benchmark took ${Math.round(result.seconds / 60)} min` : ""}.

${carrier}

**Setup.** Each Node is about ${first ? kib(first.sizes.nodes.meanBytes) : "15"} KiB as stored, as a kubelet leaves it (\`bench/operator-scale-nodes.ts\`): 50 container images with
digests and sizes, 10 conditions (the kubelet's four and six of node-problem-detector), addresses, capacity, allocatable
and nodeInfo. The nodes carry a zone (one of 3), a worker or control-plane role, an instance type (one of 4), a rack
(one of 20), a tier, and a quarter of the workers a \`vesmon.io/libvirt\` label. ${first?.profiles ?? 50} MonitoringProfiles, valid and accepted,
select the whole fleet, one zone, one zone's libvirt hosts, one rack, one instance type or tier, or a handful of
nodes; one selects nothing. Each node is selected by ${first?.profilesPerNode.min}–${first?.profilesPerNode.max} profiles (mean ${first?.profilesPerNode.mean}).
The agents run on ${first?.agents.placement === "spread" ? "nodes spread evenly over those" : "**the first nodes** (in name order) of those"} the changed profile selects that are neither libvirt hosts nor in a profile that collects every
second or prints to stdout${first?.agents.placement === "spread" ? "" : " (so a rollout that goes through the nodes in order reaches them first: their latency understates the rollout's, whose length the last operator write shows)"}; they run the real collectors on this host's \`/proc\`, and their VES collectors do not exist.

**Method.** Seed the fake, start the operator and wait until it has **converged**: every node's NodeMonitor names exactly
the profiles the benchmark's own label matching expects, no other NodeMonitor exists, and every profile's status has
\`observedGeneration\` equal to its generation and \`selectedNodes\` equal to the expected count. (Nothing about what a
NodeMonitor embeds is checked, so the same test holds for either carrier design.) Then start the agents, wait until each has applied its profiles
and the operator has written nothing but Lease renewals for 5 s; then the **steady phase**: ${result.plan.churnPerSecond} Node status updates/s (a 5000-node fleet whose kubelets report every 5 minutes), status only,
spread over the nodes, each moving the conditions' heartbeats, committed by the fake as it commits a PUT to
\`nodes/<name>/status\` (a new resourceVersion, and a MODIFIED event to every watcher, metadata-only ones included); CPU is measured over ${medSteady.toFixed(0)} s of it.
With the churn still running, one profile's \`events.measurementInterval\` is changed: the **change-to-agent latency** runs from
that update to the return of each selected agent's apply of a configuration holding the new generation (the agent itself, not
an operator write, is observed); the **window** of the change closes once the operator has written nothing but Lease renewals
for 10 s, and every write in it is counted by resource with its body's bytes (compact JSON). CPU is \`utime+stime\` from
\`/proc\`; the fake's own bookkeeping (convergence checks, request counting) is taken out of its CPU, the status updates it
makes as the kubelets are not. RSS is VmHWM (peak, over the whole run) and VmRSS after the steady phase.

${converge}

Under churn (steady phase):

${steady}

One profile changed:

${change}
${runs.some((r) => r.change.lastWriteSeconds === undefined) ? "\n¹ The window's length less its 10 quiet seconds.\n" : ""}
${last ? goalsTable(last) : ""}

### Findings

${findings.join("\n")}
${warnings.length ? `\nThe operator logged warnings: ${warnings.map((r) => `${r.nodes} nodes: ${r.warningSamples.join("; ")}`).join(" / ")}.\n` : ""}`;
}
