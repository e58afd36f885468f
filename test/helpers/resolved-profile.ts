import type { MonitoringProfile, ResolvedProfileSpec } from "../../api/v1alpha1/types.ts";
import { validateMonitoringProfile } from "../../api/v1alpha1/validators.ts";

/** A MonitoringProfile spec validated (defaults filled in) and resolved as the agent runs it; throws when invalid. */
export function resolvedProfile(
  spec: object,
  name = "p",
): { name: string; generation: number; spec: ResolvedProfileSpec } {
  const r = validateMonitoringProfile({
    apiVersion: "vesmon.io/v1alpha1",
    kind: "MonitoringProfile",
    metadata: { name },
    spec,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const { nodeSelector: _n, ...resolved } = (r.value as MonitoringProfile).spec;
  return { name, generation: 1, spec: resolved };
}
