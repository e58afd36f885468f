import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { VesSink } from "../../api/v1alpha1/types.ts";
import { sinkSpec } from "../../test/helpers/sink-spec.ts";
import type { Transport } from "./http-transport.ts";
import type { SendResult } from "./send-result.ts";
import { type VesSinkOptions, VesSinkRunner } from "./ves-sink.ts";

const spec = (over: Partial<VesSink> = {}): VesSink =>
  sinkSpec("http://primary.test", {
    batch: { maxEvents: 3, maxBytes: "1Mi" },
    retry: { initialBackoff: "10ms", maxBackoff: "80ms" },
    ...over,
  });

const event = (i: number, domain = "measurement") =>
  ({ event: { commonEventHeader: { domain, eventId: `e${i}` } } }).event;

/** A transport answering from a script (then success), recording every request. */
function scripted(script: ((url: string) => SendResult)[] = []) {
  const calls: {
    url: string;
    body: {
      eventList?: { commonEventHeader: { eventId: string } }[];
      event?: { commonEventHeader: { eventId: string } };
    };
  }[] = [];
  const transport: Transport = {
    async post(url, body) {
      calls.push({ url, body: JSON.parse(body.toString()) });
      return (script.shift() ?? (() => ({ status: "success", httpStatus: 202 }) as SendResult))(url);
    },
    close() {},
  };
  const ids = () =>
    calls.flatMap((c) => (c.body.eventList ?? [c.body.event!]).map((e) => e.commonEventHeader.eventId));
  return { transport, calls, ids };
}

async function sink(over: Partial<VesSinkOptions> & { spec?: VesSink } = {}) {
  return VesSinkRunner.open({
    name: "ves",
    vesVersion: "7.2.1",
    spoolDir: await mkdtemp(join(tmpdir(), "vesmon-sink-")),
    spec: spec(),
    random: () => 0.5,
    ...over,
  });
}

async function until(check: () => boolean, what: string, ms = 5000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const retryable = (retryAfterMs?: number) => (): SendResult => ({
  status: "retryable",
  error: "HTTP 503: busy",
  httpStatus: 503,
  ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
});

describe("VesSinkRunner", () => {
  it("delivers in order, in batches of one domain, to the eventBatch endpoint", async () => {
    const t = scripted();
    const s = await sink({ transport: t.transport });
    s.enqueue([event(1), event(2), event(3, "heartbeat"), event(4), event(5), event(6), event(7)]);
    await until(() => s.status().delivered === 7, "all events");
    expect(t.ids()).toEqual(["e1", "e2", "e3", "e4", "e5", "e6", "e7"]);
    expect(t.calls.map((c) => [c.url, (c.body.eventList ?? []).length])).toEqual([
      ["http://primary.test/eventListener/v7/eventBatch", 2],
      ["http://primary.test/eventListener/v7/eventBatch", 1],
      ["http://primary.test/eventListener/v7/eventBatch", 3],
      ["http://primary.test/eventListener/v7/eventBatch", 1],
    ]);
    expect(s.status()).toMatchObject({ state: "Ready", delivered: 7, queued: 0, dropped: 0 });
    await s.close();
  });

  it("posts single events to /eventListener/v5 when batching is off and the version is 5.4.1", async () => {
    const t = scripted();
    const s = await sink({
      transport: t.transport,
      vesVersion: "5.4.1",
      spec: spec({ batch: { maxEvents: 1, maxBytes: "1Mi" } }),
    });
    s.enqueue([event(1), event(2)]);
    await until(() => t.calls.length === 2, "two posts");
    expect(t.calls.map((c) => [c.url, c.body.event?.commonEventHeader.eventId])).toEqual([
      ["http://primary.test/eventListener/v5", "e1"],
      ["http://primary.test/eventListener/v5", "e2"],
    ]);
    await s.close();
  });

  it("logs a delivery outage once when it starts and once when it ends, with the reason and counts", async () => {
    const t = scripted([retryable(), retryable(), retryable(), retryable()]);
    const lines: Record<string, unknown>[] = [];
    const log = pino(
      { level: "info" },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
          done();
        },
      }),
    );
    const s = await sink({ transport: t.transport, log });
    s.enqueue([event(1), event(2)]);
    await until(() => s.status().delivered === 2, "delivery after the outage");
    expect(lines.map((l) => l.msg)).toEqual([
      "VES delivery failing; retrying with backoff (logged again when it recovers)",
      "VES delivery recovered",
    ]);
    expect(lines[0]).toMatchObject({ reason: "http_503", error: "HTTP 503: busy", queued: 2 });
    expect(lines[1]).toMatchObject({ reason: "http_503", failedAttempts: 4 });
    await s.close();
  });

  it("retries with growing, capped delays and honours Retry-After", async () => {
    const t = scripted([retryable(), retryable(), retryable(), retryable(), retryable(200), retryable()]);
    const delays: number[] = [];
    const s = await sink({ transport: t.transport, onBackoff: (ms) => delays.push(ms) });
    s.enqueue([event(1)]);
    await until(() => s.status().delivered === 1, "delivery");
    expect(delays).toEqual([10, 20, 40, 80, 200, 80]);
    expect(s.status()).toMatchObject({
      retries: 6,
      delivered: 1,
      state: "Ready",
      lastError: "HTTP 503: busy",
    });
    expect(t.ids()).toEqual(["e1", "e1", "e1", "e1", "e1", "e1", "e1"]);
    await s.close();
  });

  it("drops only the event a collector refuses for good, counts it and goes on", async () => {
    const refuse = (): SendResult => ({ status: "failure", error: "HTTP 400: bad event", httpStatus: 400 });
    const ok = (): SendResult => ({ status: "success", httpStatus: 202 });
    const t = scripted([refuse, ok, refuse, ok]);
    const s = await sink({ transport: t.transport });
    s.enqueue([event(1), event(2), event(3)]);
    await until(() => s.status().delivered + s.status().dropped === 3, "all settled");
    // The batch is refused, then sent one by one: e1 accepted, e2 refused, e3 accepted.
    expect(t.ids()).toEqual(["e1", "e2", "e3", "e1", "e2", "e3"]);
    expect(s.status()).toMatchObject({ delivered: 2, dropped: 1, lastError: "HTTP 400: bad event" });
    await s.close();
  });

  it("fails over to the backup after repeated failures and goes back to the primary later", async () => {
    const clock = { now: 1_000_000 };
    const primaryDown = (url: string): SendResult =>
      url.startsWith("http://primary.test")
        ? { status: "retryable", error: "ECONNREFUSED" }
        : { status: "success", httpStatus: 202 };
    const t = scripted([primaryDown, primaryDown, primaryDown, primaryDown]);
    const s = await sink({
      transport: t.transport,
      now: () => clock.now,
      spec: spec({ backupUrl: "http://backup.test", fallbackInterval: "1m" }),
    });
    s.enqueue([event(1)]);
    await until(() => s.status().delivered === 1, "delivery via backup");
    expect(t.calls.map((c) => new URL(c.url).host)).toEqual([
      "primary.test",
      "primary.test",
      "primary.test",
      "backup.test",
    ]);
    expect(s.status().target).toBe("backup");
    s.enqueue([event(2)]);
    await until(() => s.status().delivered === 2, "second via backup");
    expect(new URL(t.calls.at(-1)!.url).host).toBe("backup.test");
    clock.now += 61_000;
    s.enqueue([event(3)]);
    await until(() => s.status().delivered === 3, "third");
    expect(new URL(t.calls.at(-1)!.url).host).toBe("primary.test");
    expect(s.status().target).toBe("primary");
    await s.close();
  });

  it("keeps undelivered events in its spool across a restart and sends them first, in order", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vesmon-sink-"));
    const down = scripted(Array.from({ length: 1000 }, () => retryable()));
    const first = await VesSinkRunner.open({
      name: "ves",
      vesVersion: "7.2.1",
      spoolDir: dir,
      spec: spec(),
      transport: down.transport,
    });
    first.enqueue([event(1), event(2), event(3), event(4)]);
    await first.flushed();
    await first.close();
    expect(first.status()).toMatchObject({ state: "Stopped", queued: 4 });
    const up = scripted();
    const second = await VesSinkRunner.open({
      name: "ves",
      vesVersion: "7.2.1",
      spoolDir: dir,
      spec: spec(),
      transport: up.transport,
    });
    second.enqueue([event(5)]);
    await until(() => second.status().delivered === 5, "all five");
    expect(up.ids()).toEqual(["e1", "e2", "e3", "e4", "e5"]);
    await second.close();
  });
});
