import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { ListenerProcess, ListenerProcessOptions } from "../../agent/listener/process.ts";
import { type VesSinkOptions, VesSinkRunner } from "../../agent/sinks/ves-sink.ts";
import type { VesSink } from "../../api/v1alpha1/types.ts";
import { receivedIds, sinkSpec, startListener, until } from "../helpers/delivery.ts";
import { eventIds, heartbeats } from "../helpers/ves-events.ts";

// The fault-injection suite: the real VES sink (spool, HTTP transport, retry, failover) against the real
// vesmon-listener, validating every event against the official schema, with its fault knobs.
const listeners: ListenerProcess[] = [];
const sinks: VesSinkRunner[] = [];
const dirs: string[] = [];
const tempDir = async (prefix: string) => {
  const d = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};
afterEach(async () => {
  for (const s of sinks.splice(0)) await s.close();
  for (const l of listeners.splice(0)) await l.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function listener(opts: ListenerProcessOptions = {}): Promise<ListenerProcess> {
  const l = await startListener(opts);
  listeners.push(l);
  return l;
}

const spec = sinkSpec;

async function sink(
  url: string,
  over: Partial<VesSinkOptions> & { spec?: VesSink } = {},
): Promise<VesSinkRunner> {
  const s = await VesSinkRunner.open({
    name: "ves",
    vesVersion: "7.2.1",
    spoolDir: await tempDir("vesmon-delivery-"),
    spec: spec(url),
    ...over,
  });
  sinks.push(s);
  return s;
}

const received = receivedIds;

async function faults(l: ListenerProcess, patch: object): Promise<void> {
  const res = await fetch(`${l.url}/control/faults`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(patch),
  });
  expect(res.status).toBe(200);
}

describe("VES delivery against vesmon-listener", () => {
  it("loses nothing and keeps the order while the listener is down for a while", async () => {
    const l = await listener();
    // A timeout well above the listener's first answer (it compiles the VES schema then), so that only the
    // outage makes batches fail.
    const s = await sink(l.url, { spec: spec(l.url, { timeout: "5s" }) });
    const all = heartbeats(60);
    s.enqueue(all.slice(0, 10));
    // Wait for the sink's own count, not the listener's: the listener records a batch before it answers, and an
    // outage that cuts the answer off makes that batch one in flight, which is resent (docs/ves.md).
    await until(() => s.status().delivered === 10, "first ten");
    await faults(l, { downFor: 2 });
    await until(() => l.state === "down", "listener down");
    for (let i = 10; i < 60; i += 10) {
      s.enqueue(all.slice(i, i + 10));
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(s.status().queued).toBeGreaterThan(0);
    await until(async () => l.state === "up" && s.status().delivered === 60, "all sixty after the outage");
    expect(await received(l)).toEqual(eventIds(all as never));
    expect(s.status()).toMatchObject({ delivered: 60, dropped: 0, queued: 0 });
    expect(s.status().retries).toBeGreaterThan(0);
  }, 30_000);

  it("loses nothing when the agent is killed with SIGKILL during an outage and started again", async () => {
    const l = await listener();
    const port = l.port;
    await l.close();
    const spoolDir = await tempDir("vesmon-kill-");
    const agent = (count: number, from: number) =>
      spawn(
        process.execPath,
        [
          join(import.meta.dirname, "../helpers/sink-agent.ts"),
          spoolDir,
          `http://127.0.0.1:${port}`,
          String(count),
          String(from),
        ],
        {
          stdio: ["ignore", "pipe", "inherit"],
        },
      );
    const first = agent(40, 0);
    await new Promise<void>((resolve) =>
      first.stdout.on("data", (c: Buffer) => c.toString().includes("spooled") && resolve()),
    );
    first.kill("SIGKILL");
    await new Promise((r) => first.once("exit", r));

    const back = await listener({ port });
    const second = agent(10, 40);
    try {
      await until(async () => (await received(back)).length >= 50, "fifty events", 30_000);
      expect(await received(back)).toEqual(eventIds(heartbeats(50) as never));
    } finally {
      second.kill("SIGKILL");
    }
  }, 60_000);

  it("retries 500s, 429 with Retry-After and timeouts with growing delays", async () => {
    const l = await listener({ faults: { failNext: 3, errorStatus: 500 } });
    const delays: number[] = [];
    const s = await sink(l.url, {
      spec: spec(l.url, { timeout: "1s" }),
      onBackoff: (ms) => delays.push(ms),
      random: () => 0.5,
    });
    s.enqueue(heartbeats(1));
    await until(async () => (await received(l)).length === 1, "delivery after three 500s");
    expect(delays).toEqual([20, 40, 80]);

    delays.length = 0;
    await faults(l, { throttleNext: 1, retryAfter: 1 });
    s.enqueue(heartbeats(1, 1));
    await until(async () => (await received(l)).length === 2, "delivery after a 429");
    expect(delays).toEqual([1000]);

    delays.length = 0;
    await faults(l, { latencyMs: 1500 });
    s.enqueue(heartbeats(1, 2));
    await until(() => delays.length >= 2, "two timed-out attempts");
    await faults(l, { latencyMs: 0 });
    await until(async () => (await received(l)).length === 3, "delivery after timeouts", 30_000);
    expect(delays[1]!).toBeGreaterThan(delays[0]!);
    expect(s.status().lastError).toMatch(/within 1000 ms/);
  }, 60_000);

  it("does not retry 401 and 400: the events are dropped, counted and reported", async () => {
    const l = await listener({ auth: { username: "ves", password: "right" } });
    const s = await sink(l.url, { security: { basicAuth: { username: "ves", password: "wrong" } } });
    s.enqueue(heartbeats(2));
    await until(() => s.status().dropped === 2, "two refused");
    expect(s.status()).toMatchObject({
      state: "Failing",
      delivered: 0,
      retries: 0,
      lastError: expect.stringMatching(/^HTTP 401/),
    });

    const open = await listener();
    const t = await sink(open.url);
    const bad = {
      ...(heartbeats(1, 5)[0] as object),
      heartbeatFields: { heartbeatFieldsVersion: 3, heartbeatInterval: 60 },
    };
    t.enqueue([heartbeats(1, 3)[0]!, bad, heartbeats(1, 4)[0]!]);
    await until(() => t.status().delivered + t.status().dropped === 3, "all settled");
    expect(t.status()).toMatchObject({
      delivered: 2,
      dropped: 1,
      lastError: expect.stringMatching(/^HTTP 400/),
    });
    expect(await received(open)).toEqual(["heartbeat0000000004", "heartbeat0000000005"]);
  }, 30_000);

  it("drops the oldest events and counts them when the spool is full", async () => {
    const l = await listener();
    const port = l.port;
    await l.close();
    const s = await sink(`http://127.0.0.1:${port}`, {
      spec: spec(`http://127.0.0.1:${port}`, { buffer: { maxBytes: "256Ki", maxAge: "1h" } }),
    });
    const all = heartbeats(1500);
    for (let i = 0; i < all.length; i += 100) s.enqueue(all.slice(i, i + 100));
    await s.flushed();
    const { dropped, queued } = s.status();
    expect(dropped).toBeGreaterThan(0);
    expect(dropped + queued).toBe(1500);
    const back = await listener({ port });
    await until(async () => (await received(back)).length === queued, "the kept events", 30_000);
    expect(await received(back)).toEqual(eventIds(all.slice(1500 - queued) as never));
  }, 60_000);

  it("fails over to the backup and returns to the primary after fallbackInterval", async () => {
    const clock = { now: Date.now() };
    const primary = await listener();
    const backup = await listener();
    const s = await sink(primary.url, {
      now: () => clock.now,
      spec: spec(primary.url, { backupUrl: backup.url, fallbackInterval: "5m" }),
    });
    await faults(primary, { failNext: 1000, errorStatus: 503 });
    s.enqueue(heartbeats(5));
    await until(async () => (await received(backup)).length === 5, "delivery to the backup");
    expect(s.status().target).toBe("backup");
    await faults(primary, { failNext: 0 });
    s.enqueue(heartbeats(5, 5));
    await until(async () => (await received(backup)).length === 10, "still on the backup");
    clock.now += 5 * 60_000 + 1;
    s.enqueue(heartbeats(5, 10));
    await until(async () => (await received(primary)).length === 5, "back on the primary");
    expect(s.status().target).toBe("primary");
    expect(await received(primary)).toEqual(eventIds(heartbeats(5, 10) as never));
  }, 30_000);
});
