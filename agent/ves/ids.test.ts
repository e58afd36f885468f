import { describe, expect, it } from "vitest";
import { EventIdSequence, EventIds, epochPrefix, eventIdEpoch, formatEventId } from "./ids.ts";

describe("event ids", () => {
  it("formats a prefix and a zero-padded counter without whitespace", () => {
    expect(formatEventId("measurement", 1)).toBe("measurement0000000001");
    expect(() => formatEventId("bad prefix", 1)).toThrow(RangeError);
    expect(() => formatEventId("fault", -1)).toThrow(RangeError);
    expect(() => formatEventId("fault", 1.5)).toThrow(RangeError);
  });

  it("increases monotonically from an injected start", () => {
    const seq = new EventIdSequence("heartbeat", 41);
    expect([seq.next(), seq.next()]).toEqual(["heartbeat0000000042", "heartbeat0000000043"]);
    expect(seq.last).toBe(43);
  });

  it("keeps one sequence per key and restores them from a snapshot", () => {
    const ids = new EventIds({ fault: 7 });
    expect(ids.next("measurement")).toBe("measurement0000000001");
    expect(ids.next("measurement")).toBe("measurement0000000002");
    expect(ids.next("measurement:vm-alpha")).toBe("measurement:vm-alpha0000000001");
    expect(ids.sequence("measurement")).toBe(ids.sequence("measurement"));
    expect(ids.snapshot()).toEqual({ fault: 7, measurement: 2, "measurement:vm-alpha": 1 });
    const restored = new EventIds(ids.snapshot());
    expect(restored.next("measurement")).toBe("measurement0000000003");
    expect(restored.next("fault")).toBe("fault0000000008");
  });

  it("makes an epoch from the start time and random bits, so two starts at one clock reading differ", () => {
    const bits = [Buffer.from([0, 0, 1]), Buffer.from([0xab, 0xcd, 0xef])];
    const a = eventIdEpoch(1_800_000_000_000, () => bits[0]!);
    const b = eventIdEpoch(1_800_000_000_000, () => bits[1]!);
    expect([a, b]).toEqual([
      `${(1_800_000_000_000).toString(36)}000001`,
      `${(1_800_000_000_000).toString(36)}abcdef`,
    ]);
    expect(new EventIdSequence(epochPrefix("heartbeat", a)).next()).toBe(`heartbeat-${a}-0000000001`);
    expect(eventIdEpoch(1)).not.toBe(eventIdEpoch(1));
  });
});
