import type { PipelineProfile } from "../pipeline/profile-pipeline.ts";
import type { NodeMonitorEntry, SpecResult } from "./cluster-validation.ts";
import { type AgentProfile, verdictOf } from "./profile-view.ts";

/** A profile the agent runs, with the uid of the MonitoringProfile it came from. */
export interface RunningProfile extends PipelineProfile {
  uid?: string;
}

/** Why a profile the NodeMonitor names is not run at its current generation (reported in the status). */
export interface ProfileNote {
  name: string;
  state: "Refused" | "Pending";
  /** The generation the note is about. */
  observedGeneration?: number;
  message: string;
}

/** What combining reads. */
export interface CombineInput {
  /** The profiles the (validated) NodeMonitor names. */
  entries: readonly NodeMonitorEntry[];
  /** The MonitoringProfiles as cached, by name. */
  profiles: ReadonlyMap<string, AgentProfile>;
  /** Validated specs, by specKey. */
  specs: ReadonlyMap<string, SpecResult>;
  /** What runs now, by profile name. */
  running: ReadonlyMap<string, RunningProfile>;
}

/** The key a validated spec is kept under: a profile's spec is fixed for one uid and generation. */
export function specKey(p: AgentProfile): string {
  return `${p.metadata.uid ?? ""}/${p.metadata.generation ?? 0}`;
}

/**
 * Which profiles the node runs, from its NodeMonitor and the MonitoringProfiles (pure). Each profile the
 * NodeMonitor names runs at the current generation once the operator has accepted that generation (Accepted
 * True with observedGeneration equal to it) and the agent's own validation passes. Until the operator has
 * judged an edit, the generation running keeps running. A generation the operator refuses stops the profile,
 * as it did when the operator took a refused profile out of the NodeMonitors (which it still does). A
 * generation the agent's validation refuses leaves the previous one running, reported Refused. A profile
 * that is missing, or was re-created (another uid than the NodeMonitor names), is not run. An entry with an
 * embedded spec (an operator from before the redesign) runs that spec, as agents did then.
 */
export function combine(input: CombineInput): { profiles: RunningProfile[]; notes: ProfileNote[] } {
  const profiles: RunningProfile[] = [];
  const notes: ProfileNote[] = [];
  for (const e of input.entries) {
    if (e.spec) {
      profiles.push({ name: e.name, generation: e.generation ?? 0, spec: e.spec });
      continue;
    }
    const p = input.profiles.get(e.name);
    if (!p || (e.uid !== undefined && p.metadata.uid !== e.uid)) {
      notes.push({
        name: e.name,
        state: "Pending",
        message: p
          ? `MonitoringProfile "${e.name}" has uid ${p.metadata.uid ?? "(none)"}, not ${e.uid} as the NodeMonitor names`
          : `MonitoringProfile "${e.name}" not found`,
      });
      continue;
    }
    const generation = p.metadata.generation ?? 0;
    const previous = input.running.get(e.name);
    const keep = previous && previous.uid === p.metadata.uid ? previous : undefined;
    const verdict = verdictOf(p);
    if (verdict === "refused") continue;
    if (verdict === "pending") {
      if (keep) profiles.push(keep);
      else
        notes.push({
          name: e.name,
          state: "Pending",
          observedGeneration: generation,
          message: `waiting for the operator to accept generation ${generation}`,
        });
      continue;
    }
    const checked = input.specs.get(specKey(p));
    if (checked?.ok) {
      profiles.push({
        name: e.name,
        ...(p.metadata.uid ? { uid: p.metadata.uid } : {}),
        generation,
        spec: checked.spec,
      });
      continue;
    }
    if (keep) profiles.push(keep);
    notes.push({
      name: e.name,
      state: checked ? "Refused" : "Pending",
      observedGeneration: generation,
      message: checked ? checked.message : `generation ${generation} not validated yet`,
    });
  }
  return { profiles, notes };
}
