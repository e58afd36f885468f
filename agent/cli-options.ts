import type { parseArgs } from "node:util";
import { DEFAULT_CREDENTIALS_DIR } from "./sinks/credentials.ts";

/** The agent's command line. */
export const AGENT_USAGE = `usage: vesmon-agent [--profile FILE|DIR] [options]

In a cluster (NODE_NAME set, and in-cluster credentials or --kubeconfig) the agent runs its node's
NodeMonitor and reports in its status. Otherwise it runs standalone: collects this host's figures (and its VMs' through libvirt), turns them
into VES events and delivers them to the profile's sinks. Without --profile it runs a built-in copy of
examples/profiles/local.yaml (host collectors, plus virt when libvirt's socket is there) and prints VES
events on stdout.
A profile file or directory is watched and every edit is hot-applied; an edit that does not validate is
refused, naming the field, and the running configuration stays.

  --profile, -p FILE|DIR     MonitoringProfile YAML (a file, or every *.yaml in a directory)
  --check                    validate the profiles, print them with defaults applied, and exit
  --node-name NAME           the node's name in events (default: NODE_NAME, else the host name)
  --state-dir DIR            spools and fault state (default: AGENT_STATE_DIR, else /var/lib/vesmon)
  --credentials-dir DIR      <secret>/<key> files for sinks (default: ${DEFAULT_CREDENTIALS_DIR})
  --host-root DIR            where the host's / is mounted (default: AGENT_HOST_ROOT, else /)
  --listen HOST:PORT         /healthz, /readyz, /metrics (default: 127.0.0.1:9464; "" to disable)
  --kubeconfig FILE          cluster mode with this kubeconfig instead of the pod's service account
`;

/** The agent's flags, for parseCli. */
export const AGENT_OPTIONS = {
  profile: { type: "string", short: "p" },
  check: { type: "boolean" },
  "node-name": { type: "string" },
  "state-dir": { type: "string" },
  "credentials-dir": { type: "string" },
  "host-root": { type: "string" },
  listen: { type: "string" },
  kubeconfig: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** The parsed flags. */
export type AgentArgs = ReturnType<typeof parseArgs<{ options: typeof AGENT_OPTIONS }>>["values"];
