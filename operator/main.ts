#!/usr/bin/env node
import { hostname } from "node:os";
import { KubeConfig } from "@kubernetes/client-node";
import { parseCli } from "../kube/cli.ts";
import { EventRecorder } from "../kube/events.ts";
import { LeaderElector } from "../kube/leader-election.ts";
import { createLogger } from "../kube/log.ts";
import { realTimers } from "../kube/timers.ts";
import { Controller } from "./controller.ts";
import { buildOperatorServer } from "./server.ts";

const USAGE = `usage: vesmon-operator [options]

Reconciles MonitoringProfiles into one NodeMonitor per selected node, keeps the agents' credentials Secret
in step, and rolls the agents' reports up into each profile's status. Leader-elected on a Lease.

  --kubeconfig FILE     use this kubeconfig instead of the pod's service account
  --namespace NS        the operator's namespace (default: OPERATOR_NAMESPACE, POD_NAMESPACE, else vesmon-system)
  --identity ID         this replica's name in the Lease (default: POD_NAME, else the host name)
  --listen HOST:PORT    /healthz, /readyz, /metrics (default: 0.0.0.0:8080)
  --credentials-secret NAME  the managed Secret the agents mount (default: vesmon-agent-credentials)
  --no-leader-elect     run without leader election (a single replica)
`;

const OPTIONS = {
  kubeconfig: { type: "string" },
  namespace: { type: "string" },
  identity: { type: "string" },
  listen: { type: "string" },
  "credentials-secret": { type: "string" },
  "no-leader-elect": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

const log = createLogger("vesmon-operator", process.env.OPERATOR_LOG_LEVEL ?? "info");

async function main(): Promise<number | undefined> {
  const cli = parseCli(OPTIONS, USAGE);
  if (!cli.ok) return cli.code;
  const args = cli.values;
  const kubeConfig = new KubeConfig();
  if (args.kubeconfig) kubeConfig.loadFromFile(args.kubeconfig);
  else kubeConfig.loadFromCluster();
  const namespace =
    args.namespace ?? process.env.OPERATOR_NAMESPACE ?? process.env.POD_NAMESPACE ?? "vesmon-system";
  const identity = args.identity ?? process.env.POD_NAME ?? hostname();
  const events = new EventRecorder({
    kubeConfig,
    component: "vesmon-operator",
    host: identity,
    timers: realTimers,
    log,
  });
  const controller = new Controller({
    kubeConfig,
    namespace,
    ...(args["credentials-secret"] ? { credentialsSecret: args["credentials-secret"] } : {}),
    timers: realTimers,
    log,
    onTransition: (p, type, reason, message) =>
      events.record(
        {
          apiVersion: p.apiVersion,
          kind: p.kind,
          name: p.metadata.name,
          ...(p.metadata.uid ? { uid: p.metadata.uid } : {}),
        },
        type,
        reason,
        message,
      ),
  });
  let synced = false;
  let leading = !!args["no-leader-elect"];
  const server = buildOperatorServer({ controller, synced: () => synced, isLeader: () => leading });
  const listen = args.listen ?? "0.0.0.0:8080";
  const at = listen.lastIndexOf(":");
  await server.listen({ host: listen.slice(0, at), port: Number(listen.slice(at + 1)) });
  await controller.start();
  synced = true;
  log.info({ namespace, identity }, "informers synced");

  let elector: LeaderElector | undefined;
  if (args["no-leader-elect"]) void controller.run();
  else {
    elector = new LeaderElector({
      kubeConfig,
      namespace,
      name: "vesmon-operator",
      identity,
      timers: realTimers,
      log,
      onStartedLeading: () => {
        leading = true;
        log.info({ identity }, "leading");
        void controller.run();
      },
      onStoppedLeading: () => {
        // Like client-go's controllers: a replica that lost the lease exits and starts afresh as a follower.
        if (!leading) return;
        leading = false;
        log.error({ identity }, "lost the lease; exiting");
        process.exit(1);
      },
    });
    elector.start();
  }

  const keepAlive = setInterval(() => {}, 1 << 30);
  const shutdown = async (signal: string) => {
    clearInterval(keepAlive);
    log.info({ signal }, "stopping");
    leading = false;
    await controller.stop();
    await elector?.stop({ release: true });
    await events.flush();
    await server.close();
    process.exit(0);
  };
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
  return undefined;
}

const code = await main();
if (code !== undefined) process.exitCode = code;
