import { describe, expect, it } from "vitest";
import type { Frame, Hole } from "./spool-frame.ts";
import { segmentLosses } from "./spool-losses.ts";

const frame = (seq: number, offset: number): Frame => ({ seq, offset, size: 10, at: 0 });
const hole = (offset: number, end: number): Hole => ({ offset, end, magics: 1 });
const start = (expected: number) => ({ expected, pendingHole: false });

describe("segmentLosses", () => {
  it("blames a gap behind a hole on damage, and counts the hole's bytes", () => {
    const r = segmentLosses([frame(1, 0), frame(4, 100)], [hole(38, 100)], undefined, start(1));
    expect(r.damage).toEqual({ checksum: { records: 2, bytes: 62 }, missing: { records: 0, bytes: 0 } });
    expect(r.carry).toEqual({ expected: 5, pendingHole: false });
  });

  it("calls a gap with no hole missing (a deleted segment), and ignores what the saved head passed", () => {
    expect(segmentLosses([frame(20, 0)], [], undefined, start(11)).damage.missing.records).toBe(9);
    expect(segmentLosses([frame(20, 0)], [], 15, start(11)).damage.missing.records).toBe(5);
    expect(segmentLosses([frame(20, 0)], [], 25, start(11)).damage.missing.records).toBe(0);
  });

  it("carries a hole at the end of a segment to the gap at the start of the next", () => {
    const first = segmentLosses([frame(1, 0)], [hole(38, 90)], undefined, start(1));
    expect(first.carry).toEqual({ expected: 2, pendingHole: true });
    const second = segmentLosses([frame(4, 0)], [], undefined, first.carry);
    expect(second.damage.checksum.records).toBe(2);
  });
});
