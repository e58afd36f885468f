import { existsSync } from "node:fs";
import type { MonitoringProfile } from "../../api/v1alpha1/types.ts";
import { validateMonitoringProfile } from "../../api/v1alpha1/validators.ts";
import { formatFieldErrors } from "../../api/validate.ts";
import type { HostPaths } from "../host-paths.ts";
import { DEFAULT_SOCKET } from "../libvirt/client.ts";
import type { PipelineProfile } from "../pipeline/profile-pipeline.ts";

/**
 * The profile the agent runs when given none: this host's CPU, memory, load, disks and NICs every 5 s, VES
 * 7.2.1 events every 10 s on stdout. `examples/profiles/local.yaml` is the same profile as a file (a test
 * keeps them equal).
 */
export const DEFAULT_PROFILE = {
  apiVersion: "vesmon.io/v1alpha1",
  kind: "MonitoringProfile",
  metadata: { name: "local" },
  spec: {
    collectors: [
      { name: "cpu", interval: "5s" },
      { name: "memory", interval: "5s" },
      { name: "load", interval: "5s" },
      { name: "disk", interval: "5s", devices: { exclude: ["loop*", "ram*", "zram*", "dm-*"] } },
      { name: "interface", interval: "5s", devices: { exclude: ["lo"] } },
    ],
    events: { measurementInterval: "10s", heartbeatInterval: "30s" },
    sinks: [{ name: "console", stdout: {} }],
  },
} as const;

/** The default profile, validated, with the `virt` collector added when libvirt's read-only socket is there. */
export function defaultProfile(paths: HostPaths): PipelineProfile {
  const socket = paths.root === "/" ? DEFAULT_SOCKET : `${paths.root}${DEFAULT_SOCKET}`;
  const collectors: object[] = [...DEFAULT_PROFILE.spec.collectors];
  if (existsSync(socket)) collectors.push({ name: "virt", interval: "5s", libvirt: { socket } });
  const r = validateMonitoringProfile({ ...DEFAULT_PROFILE, spec: { ...DEFAULT_PROFILE.spec, collectors } });
  if (!r.ok) throw new Error(`built-in profile is invalid: ${formatFieldErrors(r.errors)}`);
  const { nodeSelector: _none, ...spec } = (r.value as MonitoringProfile).spec;
  return { name: r.value.metadata.name, generation: 1, spec };
}
