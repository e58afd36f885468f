import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Recorder } from "./recorder.ts";
import { buildListener } from "./server.ts";
import { heartbeat7 } from "./testdata.ts";

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "vesmon-listener-"));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const at = "2026-01-01T00:00:00.000Z";

describe("Recorder", () => {
  it("keeps the newest maxEvents and counts the dropped ones", async () => {
    const r = new Recorder({ maxEvents: 2 });
    await r.record([1, 2, 3].map((event) => ({ receivedAt: at, path: "/p", event })));
    expect(r.events.map((e) => e.event)).toEqual([2, 3]);
    expect(r.dropped).toBe(1);
    r.clear();
    expect([r.events.length, r.dropped]).toEqual([0, 0]);
  });

  it("appends JSON lines in the order records were started, even when they overlap", async () => {
    const file = join(dir, "events.jsonl");
    const r = new Recorder({ file });
    await Promise.all([1, 2, 3, 4, 5].map((n) => r.record([{ receivedAt: at, path: "/p", event: n }])));
    const lines = (await readFile(file, "utf8"))
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.event)).toEqual([1, 2, 3, 4, 5]);
    expect(r.events.map((e) => e.event)).toEqual([1, 2, 3, 4, 5]);
  });

  it("rejects when the file cannot be written and keeps memory unchanged", async () => {
    const r = new Recorder({ file: join(dir, "missing", "events.jsonl") });
    await expect(r.record([{ receivedAt: at, path: "/p", event: 1 }])).rejects.toThrow(/ENOENT/);
    expect(r.events).toEqual([]);
  });
});

describe("recordFile", () => {
  it("holds one line {receivedAt, path, event} per accepted event, batches unpacked", async () => {
    const file = join(dir, "events.jsonl");
    const app = buildListener({ recordFile: file, now: () => Date.parse(at) });
    await app.inject({ method: "POST", url: "/eventListener/v7", payload: { event: heartbeat7(1) } });
    await app.inject({ method: "POST", url: "/eventListener/v7", payload: { event: {} } });
    await app.inject({
      method: "POST",
      url: "/eventListener/v7/eventBatch",
      payload: { eventList: [heartbeat7(2), heartbeat7(3)] },
    });
    await app.close();
    const lines = (await readFile(file, "utf8"))
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toEqual([
      { receivedAt: at, path: "/eventListener/v7", event: heartbeat7(1) },
      { receivedAt: at, path: "/eventListener/v7/eventBatch", event: heartbeat7(2) },
      { receivedAt: at, path: "/eventListener/v7/eventBatch", event: heartbeat7(3) },
    ]);
  });

  it("answers 500 when the file cannot be written", async () => {
    const app = buildListener({ recordFile: join(dir, "missing", "events.jsonl") });
    const res = await app.inject({
      method: "POST",
      url: "/eventListener/v7",
      payload: { event: heartbeat7() },
    });
    await app.close();
    expect(res.statusCode).toBe(500);
    expect(res.json().requestError.serviceException.messageId).toBe("SVC1000");
  });
});
