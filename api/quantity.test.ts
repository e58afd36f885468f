import { describe, expect, it } from "vitest";
import { parseQuantity } from "./quantity.ts";

describe("parseQuantity", () => {
  it.each([
    ["64Mi", 64 * 1024 * 1024],
    ["1Ki", 1024],
    ["1.5Ki", 1536],
    ["1G", 1_000_000_000],
    ["4096", 4096],
    ["2Ti", 2 * 1024 ** 4],
    [4096, 4096],
  ])("%j is %d bytes", (text, bytes) => {
    expect(parseQuantity(text)).toBe(bytes);
  });

  it.each(["64MB", "1.5", "-1Ki", "Mi", "1 Ki", "0.1"])("refuses %j", (text) => {
    expect(() => parseQuantity(text)).toThrow(RangeError);
  });

  it("refuses negative and fractional numbers", () => {
    expect(() => parseQuantity(-1)).toThrow(RangeError);
    expect(() => parseQuantity(1.5)).toThrow(RangeError);
  });
});
