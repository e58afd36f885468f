/**
 * Requests seen by the fake API server, as `VERB resource` (e.g. `PATCH nodemonitors`, `WATCH nodes`) → count;
 * `REPEAT resource` counts the writes whose body was byte for byte the previous write to the same object.
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

/** One size, one repetition of the operator-scale benchmark. */
export interface OperatorScaleRun {
  nodes: number;
  profiles: number;
  repetition: number;
  /** How many profiles select a node (computed from the selectors by the benchmark, not the operator). */
  profilesPerNode: { mean: number; min: number; max: number };
  /** NodeMonitors expected: one per node selected by at least one profile. */
  nodeMonitors: number;
  /** From the operator's start to its "informers synced" and "leading" log lines, seconds. */
  syncedSeconds: number | null;
  leadingSeconds: number | null;
  /** From the operator's start to the converged state; null when it did not get there in time. */
  convergeSeconds: number | null;
  /** What was still pending when the benchmark gave up waiting, if it did. */
  pendingAtEnd?: { nodeMonitors: number; profiles: number };
  /** Requests from the operator's start to convergence. */
  initial: RequestCounts;
  initialReconciles: Reconciles;
  /** utime + stime of the operator process until convergence, start-up included. */
  operatorCpuSeconds: number;
  /** The fake API server's CPU over the same time (its benchmark bookkeeping taken out), and its RSS. */
  apiServerCpuSeconds: number;
  apiServerRssMiB: number;
  /** Operator VmHWM and VmRSS at convergence, and VmRSS after the idle period. */
  rssPeakMiB: number;
  rssConvergedMiB: number;
  rssSteadyMiB: number;
  idle: { seconds: number; requests: RequestCounts; operatorCpuSeconds: number };
  change: {
    profile: string;
    affectedNodes: number;
    /** From the profile update to every affected NodeMonitor and the profile status being current. */
    convergeSeconds: number | null;
    requests: RequestCounts;
    /** Requests in the 2 s after reconvergence. */
    trailingRequests: RequestCounts;
    operatorCpuSeconds: number;
    apiServerCpuSeconds: number;
    reconciles: Reconciles;
  };
  operatorWarnings: number;
  warningSamples: string[];
}

/** Everything one operator-scale run measured. */
export interface OperatorScaleResult {
  date: string;
  mode: "quick" | "full";
  node: string;
  cores: number;
  plan: {
    nodeCounts: readonly number[];
    repetitions: number;
    idleSeconds: number;
    convergeTimeoutSeconds: number;
  };
  runs: OperatorScaleRun[];
}

const NAMES: Record<string, string> = {
  nodemonitors: "NodeMonitor",
  "monitoringprofiles/status": "profile status",
  secrets: "Secret",
  events: "Event",
  leases: "Lease",
};
const WRITE_RESOURCES = ["nodemonitors", "monitoringprofiles/status", "events", "leases", "secrets"] as const;
type Writes = Record<(typeof WRITE_RESOURCES)[number] | "other" | "total", number>;

/** Writes (POST, PUT, PATCH, DELETE) by resource: the five the operator makes, `other`, and the total. */
export function writesOf(c: RequestCounts): Writes {
  const out = Object.fromEntries([...WRITE_RESOURCES, "other", "total"].map((r) => [r, 0])) as Writes;
  for (const [k, n] of Object.entries(c)) {
    const [verb, resource = ""] = k.split(" ");
    if (!["POST", "PUT", "PATCH", "DELETE"].includes(verb!)) continue;
    out.total += n;
    out[(WRITE_RESOURCES as readonly string[]).includes(resource) ? (resource as keyof Writes) : "other"] +=
      n;
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

/** Median and range of one figure over the repetitions of a size; "–" when no repetition has it. */
function cell(values: (number | null)[], digits = 1): string {
  const v = values.filter((x): x is number => x !== null).sort((a, b) => a - b);
  if (v.length === 0) return "–";
  const f = (n: number) => n.toFixed(digits);
  const median = v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
  const missed = values.length - v.length;
  const range = v[0] === v.at(-1) ? "" : ` (${f(v[0]!)}–${f(v.at(-1)!)})`;
  return `${f(median)}${range}${missed ? ` [${missed} not converged]` : ""}`;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)] ?? 0;

/** The `## Operator scale` section of docs/benchmarks.md: method, tables and findings from the figures. */
export function operatorScaleMarkdown(result: OperatorScaleResult): string {
  const sizes = [...new Set(result.runs.map((r) => r.nodes))].sort((a, b) => a - b);
  const at = (n: number) => result.runs.filter((r) => r.nodes === n);
  const first = result.runs[0];
  const col = (n: number, f: (r: OperatorScaleRun) => number | null, digits = 1) =>
    cell(at(n).map(f), digits);
  const w = (c: RequestCounts) => writesOf(c);

  const initialTable = [
    "| nodes | profiles per node, mean (min–max) | converged after, s | operator CPU, s | API server CPU, s | writes: NodeMonitors / profile status / Events / Lease / Secret | reads: list / get / watch | profile roll-ups | operator RSS peak / after idle, MiB |",
    "|---|---|---|---|---|---|---|---|---|",
    ...sizes.map((n) => {
      const r = at(n)[0]!;
      const wr = (k: keyof Writes) => col(n, (x) => w(x.initial)[k], 0);
      const rd = (k: "list" | "get" | "watch") => col(n, (x) => readsOf(x.initial)[k], 0);
      return `| ${n} | ${r.profilesPerNode.mean} (${r.profilesPerNode.min}–${r.profilesPerNode.max}) | **${col(n, (x) => x.convergeSeconds)}** | ${col(n, (x) => x.operatorCpuSeconds)} | ${col(n, (x) => x.apiServerCpuSeconds)} | ${wr("nodemonitors")} / ${wr("monitoringprofiles/status")} / ${wr("events")} / ${wr("leases")} / ${wr("secrets")} | ${rd("list")} / ${rd("get")} / ${rd("watch")} | ${col(n, (x) => x.initialReconciles.profile, 0)} | ${col(n, (x) => x.rssPeakMiB, 0)} / ${col(n, (x) => x.rssSteadyMiB, 0)} |`;
    }),
  ].join("\n");
  const changeTable = [
    "| nodes | idle writes: Lease / other | nodes the change selects | reconverged after, s | writes: NodeMonitors / profile status / other (+ in the 2 s after) | operator CPU, s | API server CPU, s | profile roll-ups |",
    "|---|---|---|---|---|---|---|---|",
    ...sizes.map((n) => {
      const c = (x: OperatorScaleRun) => w(x.change.requests);
      const t = (x: OperatorScaleRun) => w(x.change.trailingRequests);
      return `| ${n} | ${col(n, (x) => w(x.idle.requests).leases, 0)} / ${col(n, (x) => w(x.idle.requests).total - w(x.idle.requests).leases, 0)} | ${at(n)[0]!.change.affectedNodes} | **${col(n, (x) => x.change.convergeSeconds)}** | ${col(n, (x) => c(x).nodemonitors, 0)} / ${col(n, (x) => c(x)["monitoringprofiles/status"], 0)} / ${col(n, (x) => c(x).total - c(x).nodemonitors - c(x)["monitoringprofiles/status"] - c(x).leases, 0)} (+${col(n, (x) => t(x).total - t(x).leases, 0)}) | ${col(n, (x) => x.change.operatorCpuSeconds)} | ${col(n, (x) => x.change.apiServerCpuSeconds)} | ${col(n, (x) => x.change.reconciles.profile, 0)} |`;
    }),
  ].join("\n");

  const findings: string[] = [];
  const med = (n: number, f: (r: OperatorScaleRun) => number) => median(at(n).map(f));
  const lo = sizes[0]!;
  const hi = sizes.at(-1)!;
  const converged = (n: number) => at(n).every((r) => r.convergeSeconds !== null);
  const perRollupMs = (n: number) =>
    med(n, (r) =>
      r.initialReconciles.profile
        ? (r.initialReconciles.profileSeconds * 1000) / r.initialReconciles.profile
        : 0,
    );
  if (lo !== hi && converged(lo) && converged(hi)) {
    const k = hi / lo;
    const t = med(hi, (r) => r.convergeSeconds ?? 0) / med(lo, (r) => r.convergeSeconds ?? 0);
    const cpu = med(hi, (r) => r.operatorCpuSeconds) / med(lo, (r) => r.operatorCpuSeconds);
    const rollups = med(hi, (r) => r.initialReconciles.profile);
    findings.push(
      `- **Growth.** From ${lo} to ${hi} nodes (×${k.toFixed(0)}) the time to converge grew ×${t.toFixed(1)} and the operator's CPU ×${cpu.toFixed(1)}, ` +
        `${cpu > k * 1.3 ? "worse than linear" : "about linear"}. At ${hi} nodes the operator ran ${rollups} profile roll-ups before converging ` +
        `(${(rollups / med(hi, (r) => w(r.initial).nodemonitors)).toFixed(1)} per NodeMonitor written) at ${perRollupMs(hi).toFixed(1)} ms each ` +
        `(${perRollupMs(lo).toFixed(1)} ms at ${lo} nodes), ${Math.round(med(hi, (r) => r.initialReconciles.profileSeconds))} s in all` +
        `${cpu > k * 1.3 ? ": the number of roll-ups grows with the nodes and the cost of each too, so their total grows with the square of the node count" : ""}.`,
    );
  }
  const opCpu = med(hi, (r) => r.operatorCpuSeconds);
  const apiCpu = med(hi, (r) => r.apiServerCpuSeconds);
  const perWrite = (n: number) =>
    (
      (med(n, (r) => r.apiServerCpuSeconds) * 1000) /
      Math.max(
        1,
        med(n, (r) => w(r.initial).total),
      )
    ).toFixed(1);
  const rss = `Operator RSS after the idle period: ${sizes.map((n) => `${med(n, (r) => r.rssSteadyMiB).toFixed(0)} MiB at ${n} nodes`).join(", ")}.`;
  findings.push(
    apiCpu > opCpu
      ? `- **The fake API server is the bottleneck at ${hi} nodes:** it used ${apiCpu.toFixed(0)} CPU-s to the operator's ${opCpu.toFixed(0)} until convergence, so these times say more about the fake than about the operator. ${rss}`
      : `- **${opCpu >= 2 * apiCpu ? "The operator, not the fake API server, sets the pace" : "Both processes are busy"}:** until convergence at ${hi} nodes the operator used ${opCpu.toFixed(0)} CPU-s and the fake API server ${apiCpu.toFixed(0)} ` +
          `(${perWrite(hi)} ms per write at ${hi} nodes, ${perWrite(lo)} at ${lo}). The operator applies NodeMonitors one at a time, so each apply's time in the API server adds to its own. ${rss}`,
  );
  const idleOther = (r: OperatorScaleRun) => w(r.idle.requests).total - w(r.idle.requests).leases;
  const all = (r: OperatorScaleRun) => [
    r.initial,
    r.idle.requests,
    r.change.requests,
    r.change.trailingRequests,
  ];
  const repeats = (r: OperatorScaleRun) => {
    const out: Record<string, number> = {};
    for (const c of all(r)) for (const [k, n] of Object.entries(repeatsOf(c))) out[k] = (out[k] ?? 0) + n;
    return out;
  };
  const rep = repeats(at(hi)[0]!);
  const repTotal = Object.values(rep).reduce((a, b) => a + b, 0);
  const status = (r: OperatorScaleRun) => w(r.initial)["monitoringprofiles/status"];
  findings.push(
    `- **Writes.** Until convergence at ${hi} nodes the operator wrote ${med(hi, (r) => w(r.initial).nodemonitors)} NodeMonitors for ${at(hi)[0]!.nodeMonitors} nodes, ` +
      `${med(hi, status)} statuses for ${first?.profiles} profiles and ${(med(hi, (r) => w(r.initial).events) / (first?.profiles ?? 1)).toFixed(0)} Events per profile ` +
      `(the first Accepted, Ready and Degraded conditions; with no agent, Ready stays False \`NodesPending\`). In the ${first?.idle.seconds.toFixed(0)} s after convergence it made ` +
      `${med(hi, (r) => w(r.idle.requests).leases)} Lease writes (renewals) and ${med(hi, idleOther)} other writes (${med(hi, (r) => w(r.idle.requests).secrets)} of them to the managed credentials Secret). ` +
      (repTotal > 0
        ? `Over the run at ${hi} nodes ${repTotal} writes repeated the previous write to the same object byte for byte (${Object.entries(
            rep,
          )
            .map(([k, n]) => `${NAMES[k] ?? k} ${n}`)
            .join(
              ", ",
            )}): the next reconcile read its informer cache before the watch had delivered the operator's own write.`
        : `No write repeated the previous write to the same object.`),
  );
  const ch = at(hi)[0]!.change;
  const chWrites = (r: OperatorScaleRun) =>
    w(r.change.requests).nodemonitors + w(r.change.trailingRequests).nodemonitors;
  findings.push(
    `- **A change to one profile** (${ch.profile}, selecting ${ch.affectedNodes} of ${hi} nodes) took ${cell(at(hi).map((r) => r.change.convergeSeconds))} s to reach every NodeMonitor and the status, with ` +
      `${med(hi, chWrites)} NodeMonitor writes and ${med(hi, (r) => w(r.change.requests)["monitoringprofiles/status"])} status writes; the operator spent ${med(hi, (r) => r.change.operatorCpuSeconds).toFixed(0)} CPU-s ` +
      `(${((med(hi, (r) => r.change.operatorCpuSeconds) * 1000) / ch.affectedNodes).toFixed(0)} ms per affected node) and ran ${med(hi, (r) => r.change.reconciles.profile)} profile roll-ups for it, ` +
      `about ${(med(hi, (r) => r.change.reconciles.profile) / Math.max(1, med(hi, chWrites))).toFixed(0)} per NodeMonitor written.`,
  );

  const warnings = result.runs.filter((r) => r.operatorWarnings > 0);
  return `## Operator scale

How the operator copes with many nodes: the real operator process (\`node dist/operator/main.js\`, the build the image ships, leader election on)
against the project's **fake API server** (\`test/fake-apiserver\`, in a child process of its own), which holds
**simulated Node objects: no agent runs**, so no NodeMonitor status is ever written and what is measured is the
operator's own work (rendering, applying, rolling up), not a rollout to real nodes. ${result.mode} mode, ${result.date.slice(0, 10)},
Node ${result.node}, ${result.cores} cores shared by the operator and the fake API server, ${result.plan.repetitions} run${result.plan.repetitions > 1 ? "s per size (median and range)" : " per size"}.

**Setup.** The nodes carry a zone (one of 3), a worker or control-plane role, an instance type (one of 4), a rack (one
of 20), a tier, and a quarter of the workers a \`vesmon.io/libvirt\` label. ${first?.profiles} MonitoringProfiles, each valid under the
CRD validator and accepted (their Secrets exist), select the whole fleet, one zone, one zone's libvirt hosts, one
rack, one instance type or tier, or a handful of nodes, with \`matchLabels\` and \`matchExpressions\`; one selects
nothing. Each node is selected by ${first?.profilesPerNode.min}–${first?.profilesPerNode.max} profiles (mean ${first?.profilesPerNode.mean}; a NodeMonitor holds at most 16).

**Method.** Seed the fake API server, start the operator and wait until it has **converged**: every node's
NodeMonitor lists exactly the profiles the benchmark's own label matching expects, at their current generation and
measurement interval, no other NodeMonitor exists, and every profile's status has \`observedGeneration\` equal to its
generation and \`selectedNodes\` equal to the expected count. Requests are counted from the fake's request log
(writes are POST, PUT, PATCH, DELETE); CPU is \`utime+stime\` from \`/proc\` (the operator's includes its start-up,
about ${first?.syncedSeconds ?? "–"} s to list everything); RSS is VmHWM at convergence and VmRSS after an idle period of
${result.plan.idleSeconds} s in which nothing changes (a Node process's RSS depends on when V8 collects garbage and moves between runs, so read it
as an upper bound). Then one profile's \`events.measurementInterval\` is changed and the
benchmark waits for every NodeMonitor it selects to carry the new generation and for its status to follow. "Profile
roll-ups" are the operator's own reconcile counts (\`/metrics\`).

${initialTable}

${changeTable}

### Findings

${findings.join("\n")}
${warnings.length ? `\nThe operator logged warnings: ${warnings.map((r) => `${r.nodes} nodes: ${r.warningSamples.join("; ")}`).join(" / ")}.\n` : ""}`;
}
