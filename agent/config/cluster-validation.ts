import type { ResolvedProfileSpec } from "../../api/v1alpha1/types.ts";
import { validateMonitoringProfile, validateNodeMonitor } from "../../api/v1alpha1/validators.ts";
import { formatFieldErrors } from "../../api/validate.ts";

/** One profile spec to validate, under a key the caller chose. */
export interface SpecToValidate {
  key: string;
  name: string;
  spec: unknown;
}

/** What the validation worker is asked: a NodeMonitor (when its generation is new) and profile specs. */
export interface ValidationRequest {
  nodeMonitor?: unknown;
  profiles: SpecToValidate[];
}

/** One profile the NodeMonitor names: by name and uid, or (from older operators) with its spec embedded. */
export interface NodeMonitorEntry {
  name: string;
  uid?: string;
  generation?: number;
  spec?: ResolvedProfileSpec;
}

/** A NodeMonitor as validated: what the agent needs of it, or why it is refused. */
export type NodeMonitorView =
  | { ok: true; configHash: string; entries: NodeMonitorEntry[]; omittedProfiles?: string[] }
  | { ok: false; message: string };

/** A profile spec as validated (defaults applied, nodeSelector left out), or why it is refused. */
export type SpecResult = { ok: true; spec: ResolvedProfileSpec } | { ok: false; message: string };

/** The worker's answer. */
export interface ValidationResult {
  nodeMonitor?: NodeMonitorView;
  profiles: Record<string, SpecResult>;
}

/** Validates a NodeMonitor against the CRD's schema and rules. */
export function validateNodeMonitorView(raw: unknown): NodeMonitorView {
  const r = validateNodeMonitor(raw);
  if (!r.ok) return { ok: false, message: formatFieldErrors(r.errors) };
  const { configHash, profiles = [], omittedProfiles } = r.value.spec;
  return {
    ok: true,
    configHash,
    entries: profiles.map((p) => ({
      name: p.name,
      ...(p.uid ? { uid: p.uid } : {}),
      ...(p.generation !== undefined ? { generation: p.generation } : {}),
      ...(p.spec ? { spec: p.spec } : {}),
    })),
    ...(omittedProfiles?.length ? { omittedProfiles } : {}),
  };
}

/**
 * Validates one profile's spec as the CRD does (schema, bounds, CEL rules) and applies its defaults, so the
 * agent runs exactly what the operator accepted. The message names each refused field.
 */
export function validateProfileSpec(name: string, spec: unknown): SpecResult {
  const r = validateMonitoringProfile({
    apiVersion: "vesmon.io/v1alpha1",
    kind: "MonitoringProfile",
    metadata: { name },
    spec,
  });
  if (!r.ok) return { ok: false, message: formatFieldErrors(r.errors) };
  const { nodeSelector: _selector, ...resolved } = r.value.spec;
  return { ok: true, spec: resolved };
}

/** Answers one request. */
export function validateRequest(req: ValidationRequest): ValidationResult {
  const profiles: Record<string, SpecResult> = {};
  for (const p of req.profiles) profiles[p.key] = validateProfileSpec(p.name, p.spec);
  return {
    ...("nodeMonitor" in req ? { nodeMonitor: validateNodeMonitorView(req.nodeMonitor) } : {}),
    profiles,
  };
}
