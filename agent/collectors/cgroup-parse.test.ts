import { describe, expect, it } from "vitest";
import {
  parseBlkio,
  parseCount,
  parseCpuacctStat,
  parseCpuStatV2,
  parseIoStat,
  parseKeyed,
  parseLimit,
  parseMemoryStat,
  sumBlkio,
  sumIoStat,
  UNLIMITED_FROM,
} from "./cgroup-parse.ts";

describe("parseCount", () => {
  it.each([
    ["7\n", 7n],
    ["0", 0n],
    ["347443573511\n", 347443573511n],
    ["18446744073709551615\n", 18446744073709551615n],
  ])("reads %j exactly", (text, value) => {
    expect(parseCount(text)).toBe(value);
  });

  it.each(["", "max\n", "-1\n", "1 2\n", "12abc"])("refuses %j", (text) => {
    expect(() => parseCount(text)).toThrow(/expected an unsigned integer/);
  });
});

describe("parseLimit", () => {
  it.each([
    ["max\n", undefined],
    ["2147483648\n", 2147483648n],
    ["9223372036854771712\n", undefined],
    ["9223372036854710272\n", undefined],
    ["9223372036854775807\n", undefined],
    [`${UNLIMITED_FROM - 1n}\n`, UNLIMITED_FROM - 1n],
    ["0\n", 0n],
  ])("reads %j as %s", (text, value) => {
    expect(parseLimit(text)).toBe(value);
  });

  it("refuses garbage", () => {
    expect(() => parseLimit("infinity\n")).toThrow(/unsigned integer/);
  });
});

describe("parseKeyed", () => {
  it("keeps integer lines and skips the rest", () => {
    expect(parseKeyed("a 1\nb 18446744073709551615\nc 1.5\nd\ne 1 2\n\n")).toEqual(
      new Map([
        ["a", 1n],
        ["b", 18446744073709551615n],
      ]),
    );
  });
});

describe("parseCpuStatV2", () => {
  it("reads usage and throttling", () => {
    const text =
      "usage_usec 84012345678\nuser_usec 61012345678\nsystem_usec 23000000000\nnice_usec 0\n" +
      "core_sched.force_idle_usec 0\nnr_periods 1200\nnr_throttled 30\nthrottled_usec 400000\nnr_bursts 0\nburst_usec 0\n";
    expect(parseCpuStatV2(text)).toEqual({
      usageUsec: 84012345678n,
      userUsec: 61012345678n,
      systemUsec: 23000000000n,
      nrThrottled: 30n,
      throttledUsec: 400000n,
    });
  });

  it("leaves throttling out when the cpu controller is not enabled", () => {
    expect(parseCpuStatV2("usage_usec 3\nuser_usec 2\nsystem_usec 1\n")).toEqual({
      usageUsec: 3n,
      userUsec: 2n,
      systemUsec: 1n,
    });
  });

  it("names a missing field", () => {
    expect(() => parseCpuStatV2("usage_usec 3\nuser_usec 2\n")).toThrow("cpu.stat has no system_usec");
  });
});

describe("parseCpuacctStat", () => {
  it("reads user and system ticks", () => {
    expect(parseCpuacctStat("user 24983\nsystem 9760\n")).toEqual({ userTicks: 24983n, systemTicks: 9760n });
  });

  it("names a missing line", () => {
    expect(() => parseCpuacctStat("user 1\n")).toThrow("cpuacct.stat has no system");
  });
});

describe("parseMemoryStat", () => {
  it("reads v2 anon and file", () => {
    const text = "anon 1342177280\nfile 234881024\nkernel 5242880\nfile_mapped 58720256\nanon_thp 0\n";
    expect(parseMemoryStat(text, 2)).toEqual({ rss: 1342177280n, cache: 234881024n });
  });

  it("prefers the hierarchical v1 totals", () => {
    const text =
      "cache 0\nrss 0\nrss_huge 0\nhierarchical_memory_limit 9223372036854771712\n" +
      "total_cache 50331648\ntotal_rss 201326592\ntotal_rss_huge 0\n";
    expect(parseMemoryStat(text, 1)).toEqual({ rss: 201326592n, cache: 50331648n });
  });

  it("falls back to the v1 own figures", () => {
    expect(parseMemoryStat("cache 4096\nrss 8192\n", 1)).toEqual({ rss: 8192n, cache: 4096n });
  });

  it("gives nothing for an unrelated file", () => {
    expect(parseMemoryStat("pgfault 3\n", 2)).toEqual({});
  });
});

describe("parseIoStat", () => {
  it("reads every device, with whichever keys it has", () => {
    const text =
      "253:0 rbytes=104857600 wbytes=52428800 rios=2000 wios=1000 dbytes=0 dios=0\n" +
      "8:16 rbytes=4096 rios=1\n" +
      "8:0 rbytes=18446744073709551615 wbytes=1 rios=2 wios=3 dbytes=0 dios=0 cost.vrate=100.00 cost.usage=12\n";
    const devices = parseIoStat(text);
    expect(devices).toEqual([
      {
        device: "253:0",
        counters: { rbytes: 104857600n, wbytes: 52428800n, rios: 2000n, wios: 1000n, dbytes: 0n, dios: 0n },
      },
      { device: "8:16", counters: { rbytes: 4096n, rios: 1n } },
      {
        device: "8:0",
        counters: {
          rbytes: 18446744073709551615n,
          wbytes: 1n,
          rios: 2n,
          wios: 3n,
          dbytes: 0n,
          dios: 0n,
          "cost.usage": 12n,
        },
      },
    ]);
    expect(sumIoStat(devices)).toEqual({
      readBytes: 18446744073814413311n,
      writeBytes: 52428801n,
      readOps: 2003n,
      writeOps: 1003n,
    });
  });

  it("reads an empty file as no devices and zero totals", () => {
    expect(parseIoStat("")).toEqual([]);
    expect(sumIoStat(parseIoStat("\n"))).toEqual({
      readBytes: 0n,
      writeBytes: 0n,
      readOps: 0n,
      writeOps: 0n,
    });
  });
});

describe("parseBlkio", () => {
  const bytes =
    "254:0 Read 10485760\n254:0 Write 4194304\n254:0 Sync 4194304\n254:0 Async 10485760\n254:0 Discard 0\n" +
    "254:0 Total 14680064\n254:16 Read 1048576\n254:16 Write 0\n254:16 Total 1048576\nTotal 15728640\n";
  const ops = "254:0 Read 300\n254:0 Write 100\n254:0 Total 400\n254:16 Read 20\nTotal 420\n";

  it("reads device lines and the bare total", () => {
    const entries = parseBlkio(bytes);
    expect(entries[0]).toEqual({ device: "254:0", op: "Read", value: 10485760n });
    expect(entries.at(-1)).toEqual({ op: "Total", value: 15728640n });
    expect(entries).toHaveLength(10);
  });

  it("sums Read and Write over devices, ignoring the totals", () => {
    expect(sumBlkio(parseBlkio(bytes), parseBlkio(ops))).toEqual({
      readBytes: 11534336n,
      writeBytes: 4194304n,
      readOps: 320n,
      writeOps: 100n,
    });
  });

  it("reads a cgroup without I/O (`Total 0`) as zero", () => {
    expect(parseBlkio("Total 0\n")).toEqual([{ op: "Total", value: 0n }]);
    expect(sumBlkio(parseBlkio("Total 0\n"), parseBlkio("Total 0\n"))).toEqual({
      readBytes: 0n,
      writeBytes: 0n,
      readOps: 0n,
      writeOps: 0n,
    });
  });

  it("keeps 64-bit values exact", () => {
    expect(parseBlkio("8:0 Read 18446744073709551615\n")).toEqual([
      { device: "8:0", op: "Read", value: 18446744073709551615n },
    ]);
  });
});
