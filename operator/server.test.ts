import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { ManualTimers } from "../test/helpers/manual-timers.ts";
import { Controller } from "./controller.ts";
import { buildOperatorServer } from "./server.ts";

describe("operator HTTP server", () => {
  it("is healthy at once, ready once synced, and exposes the controller's figures", async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "c", server: "http://127.0.0.1:1", skipTLSVerify: true }],
      users: [{ name: "u", token: "t" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    const controller = new Controller({
      kubeConfig: kc,
      namespace: "vesmon-system",
      timers: new ManualTimers(),
      log: pino({ level: "silent" }),
    });
    controller.stats.reconciles["profile/ok"] = 3;
    controller.stats.seconds.profile = 0.25;
    let synced = false;
    const app = buildOperatorServer({ controller, synced: () => synced, isLeader: () => true });
    expect((await app.inject("/healthz")).statusCode).toBe(200);
    expect((await app.inject("/readyz")).statusCode).toBe(503);
    synced = true;
    expect((await app.inject("/readyz")).json()).toEqual({ status: "ready", leader: true });
    const metrics = (await app.inject("/metrics")).body;
    expect(metrics).toMatch(/^vesmon_operator_reconciles_total\{kind="profile",result="ok"\} 3$/m);
    expect(metrics).toMatch(/^vesmon_operator_reconcile_seconds_total\{kind="profile"\} 0\.25$/m);
    expect(metrics).toMatch(/^vesmon_operator_leader 1$/m);
    expect(metrics).toMatch(/^vesmon_operator_queue_depth 0$/m);
    expect(metrics).toMatch(/^vesmon_operator_list_watch_failures_total\{resource="nodes"\} 0$/m);
  });
});
