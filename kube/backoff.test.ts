import { describe, expect, it } from "vitest";
import { backoffDelay, upwardJitterDelay } from "./backoff.ts";

describe("backoffDelay", () => {
  it("doubles from the initial delay up to the cap", () => {
    const mid = { initial: 100, max: 1000, random: () => 0.5 };
    expect([0, 1, 2, 3, 4, 10, 1000].map((a) => backoffDelay(a, mid))).toEqual([
      100, 200, 400, 800, 1000, 1000, 1000,
    ]);
  });

  it("spreads each delay by the jitter and never passes the cap", () => {
    expect(backoffDelay(0, { initial: 100, jitter: 0.2, random: () => 0 })).toBe(80);
    expect(backoffDelay(0, { initial: 100, jitter: 0.2, random: () => 0.999999 })).toBe(120);
    expect(backoffDelay(20, { initial: 100, max: 1000, jitter: 0.5, random: () => 0.999999 })).toBe(1000);
  });

  it("clamps a jitter outside 0..1", () => {
    expect(backoffDelay(0, { initial: 100, jitter: 5, random: () => 0 })).toBe(0);
    expect(backoffDelay(0, { initial: 100, jitter: -1, random: () => 0 })).toBe(100);
  });
});

describe("upwardJitterDelay", () => {
  it("never retries sooner than the doubling base, and stretches it by up to the jitter", () => {
    const opts = { initial: 800, max: 30_000 };
    expect([0, 1, 2, 5, 6, 40].map((a) => upwardJitterDelay(a, { ...opts, random: () => 0 }))).toEqual([
      800, 1600, 3200, 25_600, 30_000, 30_000,
    ]);
    expect(upwardJitterDelay(0, { ...opts, random: () => 0.5 })).toBe(1200);
    expect(upwardJitterDelay(40, { ...opts, random: () => 0.999 })).toBe(59_970);
    expect(upwardJitterDelay(1, { ...opts, jitter: 0, random: () => 0.9 })).toBe(1600);
  });
});
