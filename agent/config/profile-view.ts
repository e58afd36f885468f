import type { KubeObject } from "../../kube/reflector.ts";

/**
 * What an agent keeps of a MonitoringProfile: its identity, its spec without the nodeSelector (the operator
 * selects nodes; the NodeMonitor names the profiles that select this one) and the operator's verdict on it.
 * managedFields, the rest of the status (roll-up counts, failures, other conditions) and annotations are
 * dropped: every agent caches every profile, and reads none of that.
 */
export interface AgentProfile extends KubeObject {
  metadata: { name: string; uid?: string; generation?: number; resourceVersion?: string };
  spec?: unknown;
  /** The operator's Accepted condition: its status and the generation it was set for. */
  accepted?: { status: string; observedGeneration?: number; message?: string };
}

/** Whether the operator accepted, refused, or has not yet judged the profile's current generation. */
export type Verdict = "accepted" | "refused" | "pending";

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** The profile reduced to an AgentProfile; tolerant of any shape, since it runs on what the server sends. */
export function profileForAgent(o: KubeObject): AgentProfile {
  const raw = o as KubeObject & { spec?: unknown; status?: unknown };
  const { name, uid, generation, resourceVersion } = raw.metadata as AgentProfile["metadata"];
  let spec = raw.spec;
  if (isRecord(spec)) {
    const { nodeSelector: _selector, ...rest } = spec;
    spec = rest;
  }
  const conditions = isRecord(raw.status) ? raw.status.conditions : undefined;
  const accepted = Array.isArray(conditions)
    ? conditions.find((c): c is Record<string, unknown> => isRecord(c) && c.type === "Accepted")
    : undefined;
  return {
    metadata: {
      name,
      ...(typeof uid === "string" ? { uid } : {}),
      ...(typeof generation === "number" ? { generation } : {}),
      ...(typeof resourceVersion === "string" ? { resourceVersion } : {}),
    },
    ...(spec !== undefined ? { spec } : {}),
    ...(accepted
      ? {
          accepted: {
            status: String(accepted.status),
            ...(typeof accepted.observedGeneration === "number"
              ? { observedGeneration: accepted.observedGeneration }
              : {}),
            ...(typeof accepted.message === "string" ? { message: accepted.message } : {}),
          },
        }
      : {}),
  };
}

/**
 * The operator's verdict on the profile's current generation: its Accepted condition set for exactly that
 * generation, True or False. Anything else (no status yet, a condition of an older generation) is pending:
 * the operator has not checked this edit, so an agent keeps running the generation it last accepted.
 */
export function verdictOf(p: AgentProfile): Verdict {
  const a = p.accepted;
  if (!a || a.observedGeneration === undefined || a.observedGeneration !== p.metadata.generation)
    return "pending";
  return a.status === "True" ? "accepted" : a.status === "False" ? "refused" : "pending";
}
