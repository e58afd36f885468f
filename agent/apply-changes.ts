import type { CollectorSpec } from "../api/v1alpha1/types.ts";

/** What runs for one configuration: each profile's collectors and sinks, as the change log names them. */
export interface RunningSet {
  jobs: readonly { profile: string; id: string; spec: CollectorSpec }[];
  /** `key` changes whenever the sink is reopened (its settings changed). */
  sinks: readonly { profile: string; name: string; kind: string; key: string }[];
}

/** What one apply changed, each entry `<profile>/<collector>` or `<profile>/<sink>`. */
export interface ApplyChanges {
  jobsStarted: string[];
  jobsStopped: string[];
  /** Collectors whose settings changed (their job restarted), with the settings that did, e.g. `p/cpu (interval 10s → 5s)`. */
  jobsChanged: string[];
  sinksOpened: string[];
  sinksClosed: string[];
  /** Sinks closed and opened again because their settings changed. */
  sinksReopened: string[];
}

function changedSettings(before: CollectorSpec, after: CollectorSpec): string {
  const a = before as unknown as Record<string, unknown>;
  const b = after as unknown as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys
    .filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
    .map((k) =>
      typeof a[k] !== "object" && typeof b[k] !== "object"
        ? `${k} ${a[k] ?? "unset"} → ${b[k] ?? "unset"}`
        : k,
    )
    .join(", ");
}

/** Compares what ran before an apply with what runs after it. Pure. */
export function applyChanges(before: RunningSet, after: RunningSet): ApplyChanges {
  const jobs = (s: RunningSet) => new Map(s.jobs.map((j) => [`${j.profile}/${j.spec.name}`, j]));
  const sinks = (s: RunningSet) => new Map(s.sinks.map((k) => [`${k.profile}/${k.name}`, k]));
  const [jb, ja, sb, sa] = [jobs(before), jobs(after), sinks(before), sinks(after)];
  const out: ApplyChanges = {
    jobsStarted: [],
    jobsStopped: [],
    jobsChanged: [],
    sinksOpened: [],
    sinksClosed: [],
    sinksReopened: [],
  };
  for (const [key, j] of ja) {
    const old = jb.get(key);
    if (!old) out.jobsStarted.push(key);
    else if (old.id !== j.id) out.jobsChanged.push(`${key} (${changedSettings(old.spec, j.spec)})`);
  }
  for (const key of jb.keys()) if (!ja.has(key)) out.jobsStopped.push(key);
  for (const [key, s] of sa) {
    const old = sb.get(key);
    if (!old) out.sinksOpened.push(`${key} (${s.kind})`);
    else if (old.key !== s.key) out.sinksReopened.push(`${key} (${s.kind})`);
  }
  for (const [key, s] of sb) if (!sa.has(key)) out.sinksClosed.push(`${key} (${s.kind})`);
  return out;
}

const LABELS: readonly [keyof ApplyChanges, string][] = [
  ["jobsStarted", "started"],
  ["jobsStopped", "stopped"],
  ["jobsChanged", "changed"],
  ["sinksOpened", "opened sink"],
  ["sinksClosed", "closed sink"],
  ["sinksReopened", "reopened sink"],
];

/** One line for the log: `started p/load; changed p/cpu (interval 10s → 5s); opened sink p/ves (ves)`. */
export function summarizeChanges(c: ApplyChanges): string {
  const parts = LABELS.filter(([k]) => c[k].length).map(([k, label]) => `${label} ${c[k].join(", ")}`);
  return parts.length ? parts.join("; ") : "nothing changed";
}
