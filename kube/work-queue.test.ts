import { describe, expect, it } from "vitest";
import { ManualTimers } from "../test/helpers/manual-timers.ts";
import { WorkQueue } from "./work-queue.ts";

/** Lets pending promise callbacks (worker runs, queue hand-offs) settle; no wall-clock waiting. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
}

/** A worker whose runs stay in flight until the test releases them. */
function gatedWorker() {
  const runs: string[] = [];
  const gates = new Map<string, (() => void)[]>();
  let active = 0;
  let maxActive = 0;
  const worker = (key: string) => {
    runs.push(key);
    active++;
    maxActive = Math.max(maxActive, active);
    return new Promise<void>((resolve) => {
      const list = gates.get(key) ?? [];
      list.push(() => {
        active--;
        resolve();
      });
      gates.set(key, list);
    });
  };
  const release = (key: string) => gates.get(key)?.shift()?.();
  return { worker, runs, release, maxActive: () => maxActive };
}

describe("WorkQueue", () => {
  it("de-duplicates a key while it is queued", async () => {
    const q = new WorkQueue<string>({ timers: new ManualTimers() });
    q.add("a");
    q.add("b");
    q.add("a");
    q.add("a");
    expect(q.depth).toBe(2);
    expect(q.length).toBe(2);
    const runs: string[] = [];
    void q.run(1, async (k) => {
      runs.push(k);
    });
    await settle();
    expect(runs).toEqual(["a", "b"]);
    expect(q.depth).toBe(0);
    await q.shutDown();
  });

  it("never runs a key twice at once, and runs it again when it was added while in flight", async () => {
    const q = new WorkQueue<string>({ timers: new ManualTimers() });
    const w = gatedWorker();
    void q.run(4, w.worker);
    q.add("a");
    await settle();
    expect(w.runs).toEqual(["a"]);
    q.add("a");
    q.add("a");
    await settle();
    expect(w.runs).toEqual(["a"]);
    expect(q.inFlight).toBe(1);
    expect(q.length).toBe(1);
    w.release("a");
    await settle();
    expect(w.runs).toEqual(["a", "a"]);
    expect(w.maxActive()).toBe(1);
    w.release("a");
    await settle();
    expect(w.runs).toEqual(["a", "a"]);
    expect(q.length).toBe(0);
    await q.shutDown();
  });

  it("runs different keys concurrently up to the worker count", async () => {
    const q = new WorkQueue<string>({ timers: new ManualTimers() });
    const w = gatedWorker();
    void q.run(2, w.worker);
    for (const k of ["a", "b", "c"]) q.add(k);
    await settle();
    expect(w.runs).toEqual(["a", "b"]);
    expect(q.depth).toBe(1);
    w.release("a");
    await settle();
    expect(w.runs).toEqual(["a", "b", "c"]);
    w.release("b");
    w.release("c");
    await q.shutDown();
  });

  it("requeues a failing key with per-item exponential backoff, and forgets it on success", async () => {
    const timers = new ManualTimers();
    const q = new WorkQueue<string>({ timers, baseDelayMs: 50, maxDelayMs: 300 });
    const runs: number[] = [];
    let failuresLeft = 4;
    void q.run(1, async () => {
      runs.push(timers.now());
      if (failuresLeft-- > 0) throw new Error("boom");
    });
    q.add("a");
    await settle();
    // Failures at t=0, 50, 150, 350: delays 50, 100, 200, then 400 capped to 300.
    for (const step of [50, 100, 200, 300]) {
      expect(q.numRequeues("a")).toBe(runs.length);
      timers.advance(step - 1);
      await settle();
      expect(runs).toHaveLength(q.numRequeues("a"));
      timers.advance(1);
      await settle();
    }
    expect(runs).toEqual([0, 50, 150, 350, 650]);
    expect(q.numRequeues("a")).toBe(0);
    // Forgotten: the next failure starts again from the base delay.
    q.addRateLimited("a");
    expect(q.numRequeues("a")).toBe(1);
    timers.advance(50);
    await settle();
    expect(runs).toEqual([0, 50, 150, 350, 650, 700]);
    await q.shutDown();
  });

  it("keeps per-item backoff separate per key, and forget resets one key", () => {
    const timers = new ManualTimers();
    const q = new WorkQueue<string>({ timers });
    for (let i = 0; i < 3; i++) q.addRateLimited("a");
    q.addRateLimited("b");
    expect(q.numRequeues("a")).toBe(3);
    expect(q.numRequeues("b")).toBe(1);
    q.forget("a");
    expect(q.numRequeues("a")).toBe(0);
    expect(q.numRequeues("b")).toBe(1);
    // Waiting keys keep the earliest due time: a@5 ms (first), b@5 ms.
    expect(q.length).toBe(2);
    expect(q.depth).toBe(0);
    timers.advance(5);
    expect(q.depth).toBe(2);
  });

  it("limits a burst of rate-limited keys with the global token bucket", () => {
    const timers = new ManualTimers();
    const q = new WorkQueue<string>({ timers, qps: 10, burst: 3 });
    for (const k of ["a", "b", "c", "d", "e"]) q.addRateLimited(k);
    // Three tokens: a, b, c wait only their 5 ms; d and e wait for refills at 100 ms and 200 ms.
    timers.advance(5);
    expect(q.depth).toBe(3);
    timers.advance(94);
    expect(q.depth).toBe(3);
    timers.advance(1);
    expect(q.depth).toBe(4);
    timers.advance(100);
    expect(q.depth).toBe(5);
    // After a quiet second the bucket has refilled and new keys pass at once again.
    timers.advance(1000);
    q.addRateLimited("f");
    timers.advance(5);
    expect(q.depth).toBe(6);
  });

  it("uses client-go's defaults: 5 ms doubling, 10 qps with a burst of 100", () => {
    const timers = new ManualTimers();
    const q = new WorkQueue<string>({ timers });
    for (let i = 0; i < 101; i++) q.addRateLimited(`k${i}`);
    timers.advance(5);
    expect(q.depth).toBe(100);
    timers.advance(95);
    expect(q.depth).toBe(101);
  });

  it("addAfter delays a key and keeps the earlier of two due times", () => {
    const timers = new ManualTimers();
    const q = new WorkQueue<string>({ timers });
    q.addAfter("a", 1000);
    q.addAfter("a", 200);
    q.addAfter("a", 5000);
    timers.advance(200);
    expect(q.depth).toBe(1);
    timers.advance(10_000);
    expect(q.depth).toBe(1);
  });

  it("shutDown lets queued and in-flight work finish, drops delayed keys, and refuses new ones", async () => {
    const timers = new ManualTimers();
    const q = new WorkQueue<string>({ timers });
    const w = gatedWorker();
    const running = q.run(1, w.worker);
    q.add("a");
    q.add("b");
    q.addAfter("later", 1000);
    await settle();
    expect(w.runs).toEqual(["a"]);
    let done = false;
    const stopped = q.shutDown().then(() => {
      done = true;
    });
    q.add("c");
    await settle();
    expect(done).toBe(false);
    w.release("a");
    await settle();
    expect(w.runs).toEqual(["a", "b"]);
    expect(done).toBe(false);
    w.release("b");
    await stopped;
    await running;
    timers.advance(2000);
    expect(w.runs).toEqual(["a", "b"]);
    expect(timers.pending).toBe(0);
  });
});
