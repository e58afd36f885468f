import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { ManualTimers } from "../test/helpers/manual-timers.ts";
import { Agent } from "./agent.ts";
import { CollectorRegistry } from "./collectors/registry.ts";
import { HOST } from "./collectors/sample.ts";
import { AgentMetrics } from "./metrics.ts";
import { answer } from "./server.ts";

describe("agent HTTP server", () => {
  it("is healthy at once, ready after the first apply, and exposes its own and the measurements' metrics", async () => {
    const timers = new ManualTimers();
    timers.advance(1_800_000_000_000);
    const registry = new CollectorRegistry().register({
      name: "load",
      async create() {
        return {
          name: "load" as const,
          async collect() {
            return {
              time: timers.now(),
              samples: [{ metric: "host.load.midterm", value: 0.5, unit: "load" as const, source: HOST }],
              errors: [],
            };
          },
          async close() {},
        };
      },
    });
    const agent = new Agent({
      registry,
      env: { paths: undefined as never, now: () => timers.now(), log: pino({ level: "silent" }) },
      timers,
      node: "n",
      stateDir: await mkdtemp(join(tmpdir(), "vesmon-srv-")),
      credentialsDir: "/nonexistent",
      stdout: new PassThrough(),
      log: pino({ level: "silent" }),
    });
    const metrics = new AgentMetrics(agent);
    const get = (url: string) => answer(agent, metrics, "GET", url);
    const json = async (url: string) => JSON.parse((await get(url)).body) as unknown;
    expect((await get("/healthz")).status).toBe(200);
    expect((await get("/healthz?verbose")).status).toBe(200);
    expect((await get("/nowhere")).status).toBe(404);
    expect((await answer(agent, metrics, "POST", "/healthz")).status).toBe(404);
    expect(await get("/readyz")).toMatchObject({ status: 503 });
    expect(await json("/readyz")).toEqual({
      status: "not ready",
      reason: "waiting for the first configuration",
    });
    await agent.apply([
      {
        name: "p",
        generation: 1,
        spec: {
          collectors: [{ name: "load", interval: "1s" }],
          events: {
            measurementInterval: "10s",
            heartbeatInterval: "60s",
            vesVersion: "7.2.1",
            mode: "host",
            naming: { eventNamePublisher: "Vesmon" },
          },
          faults: { vmLifecycle: true, collectorFailures: true },
          sinks: [{ name: "scrape", prometheus: {} }],
          applyPolicy: "BestEffort",
        },
      },
    ]);
    timers.advance(1000);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(await json("/readyz")).toEqual({ status: "ready", applies: 1 });
    const scraped = await get("/metrics");
    expect(scraped.contentType).toMatch(/^text\/plain/);
    const text = scraped.body;
    expect(text).toMatch(/^vesmon_scrape_collector_success\{profile="p",collector="load"\} 1$/m);
    expect(text).toMatch(/^vesmon_scrape_collector_collections_total\{profile="p",collector="load"\} 1$/m);
    expect(text).toMatch(/^vesmon_scrape_collector_missed_total\{profile="p",collector="load"\} 0$/m);
    expect(text).toMatch(/^vesmon_sink_queued_events\{profile="p",sink="scrape",kind="prometheus"\} 0$/m);
    expect(text).toMatch(/^vesmon_host_load5\{profile="p"\} 0\.5$/m);
    await agent.close();
  });
});
