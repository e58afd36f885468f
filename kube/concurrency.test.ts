import { describe, expect, it } from "vitest";
import { forEachLimit } from "./concurrency.ts";

describe("forEachLimit", () => {
  it("runs every item, never more than the limit at once, starting them in order", async () => {
    let inFlight = 0;
    let peak = 0;
    const started: number[] = [];
    await forEachLimit([1, 2, 3, 4, 5, 6, 7], 3, async (i) => {
      started.push(i);
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, (i % 3) * 2));
      inFlight--;
    });
    expect(started).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(peak).toBe(3);
  });

  it("tries every item despite failures, then throws the first", async () => {
    const done: number[] = [];
    const run = forEachLimit([1, 2, 3, 4], 2, async (i) => {
      if (i === 2 || i === 3) throw new Error(`item ${i}`);
      done.push(i);
    });
    await expect(run).rejects.toThrow("item 2");
    expect(done.sort()).toEqual([1, 4]);
  });

  it("does nothing on no items", async () => {
    await forEachLimit([], 4, async () => {
      throw new Error("never");
    });
  });
});
