import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "./duration.ts";

describe("parseDuration", () => {
  it.each([
    ["10s", 10_000],
    ["1m", 60_000],
    ["1m30s", 90_000],
    ["500ms", 500],
    ["1.5s", 1500],
    ["2h", 7_200_000],
    ["1h2m3s4ms", 3_723_004],
  ])("%s is %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "10", "s", "1d", "-1s", "1 s", "1m 30s", "1.s"])("refuses %j", (text) => {
    expect(() => parseDuration(text)).toThrow(/invalid duration/);
  });
});

describe("formatDuration", () => {
  it.each([
    [0, "0s"],
    [500, "500ms"],
    [90_000, "1m30s"],
    [3_723_004, "1h2m3s4ms"],
  ])("%d ms is %s and parses back", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });
});
