import { PassThrough, Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { StdoutSink } from "./stdout-sink.ts";

describe("StdoutSink", () => {
  it("writes one JSON line per event", () => {
    const out = new PassThrough();
    const s = new StdoutSink("console", { out });
    s.enqueue([{ a: 1 }, { b: "x" }]);
    expect(out.read().toString()).toBe('{"a":1}\n{"b":"x"}\n');
    expect(s.status()).toMatchObject({ state: "Ready", delivered: 2, dropped: 0 });
  });

  it("indents when pretty", () => {
    const out = new PassThrough();
    new StdoutSink("console", { out, pretty: true }).enqueue([{ a: 1 }]);
    expect(out.read().toString()).toBe('{\n  "a": 1\n}\n');
  });

  it("drops and counts instead of buffering without bound behind a stuck reader", () => {
    const stuck = new Writable({ highWaterMark: 16, write() {} });
    const s = new StdoutSink("console", { out: stuck, maxPending: 100 });
    s.enqueue(Array.from({ length: 50 }, (_, i) => ({ i, pad: "xxxxxxxxxx" })));
    expect(s.status().dropped).toBeGreaterThan(40);
    expect(s.status().delivered + s.status().dropped).toBe(50);
  });
});
