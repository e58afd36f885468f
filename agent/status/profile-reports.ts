import type { ProfileReport } from "../agent.ts";
import type { ProfileNote, RunningProfile } from "../config/combine.ts";

/**
 * The per-profile reports of NodeMonitor.status: the agent's own (what it applied or refused of what it was
 * handed), each with the generation it was asked to run, and the notes on profiles not handed over at their
 * current generation (not yet accepted by the operator, or refused by the agent's validation while the
 * previous generation keeps running). A note replaces the agent's report of the same profile but keeps its
 * appliedGeneration, so the operator sees both what runs and what was refused. Sorted by name.
 */
export function profileReports(
  reports: readonly ProfileReport[],
  asked: readonly RunningProfile[],
  notes: readonly ProfileNote[],
): ProfileReport[] {
  const generation = new Map(asked.map((p) => [p.name, p.generation]));
  const out = new Map<string, ProfileReport>();
  for (const r of reports) {
    const g = generation.get(r.name);
    out.set(r.name, { ...r, ...(g !== undefined ? { observedGeneration: g } : {}) });
  }
  for (const n of notes) {
    const applied = out.get(n.name)?.appliedGeneration;
    out.set(n.name, {
      name: n.name,
      state: n.state,
      message: n.message,
      ...(applied !== undefined ? { appliedGeneration: applied } : {}),
      ...(n.observedGeneration !== undefined ? { observedGeneration: n.observedGeneration } : {}),
    });
  }
  return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
