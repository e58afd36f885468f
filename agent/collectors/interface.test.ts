import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import type { CollectorSpec } from "../../api/v1alpha1/types.ts";
import { FIXTURE_ROOT, testEnv } from "../../test/helpers/collector-env.ts";
import { SourceUnavailableError } from "./collector.ts";
import { interfaceCollector, parseNetDev } from "./interface.ts";
import type { CollectResult } from "./sample.ts";

const roots: string[] = [];
afterEach(async () => {
  await Promise.all(roots.splice(0).map((r) => rm(r, { recursive: true, force: true })));
});

const HEADER =
  "Inter-|   Receive                                                |  Transmit\n" +
  " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n";

interface Counters {
  rxBytes?: bigint | number;
  rxPackets?: number;
  rxErrors?: number;
  rxDropped?: number;
  txBytes?: number;
  txPackets?: number;
  txErrors?: number;
  txDropped?: number;
}

/** A /proc/net/dev line; counters not given are 0. */
function nic(name: string, c: Counters = {}): string {
  const rx = [c.rxBytes, c.rxPackets, c.rxErrors, c.rxDropped, 0, 0, 0, 0];
  const tx = [c.txBytes, c.txPackets, c.txErrors, c.txDropped, 0, 0, 0, 0];
  return `${name.padStart(6)}: ${[...rx, ...tx].map((v) => v ?? 0).join(" ")}`;
}

/** "device metric" → sample. */
function byKey(result: CollectResult) {
  return Object.fromEntries(result.samples.map((s) => [`${s.labels?.device} ${s.metric}`, s]));
}

function devices(result: CollectResult): string[] {
  return [...new Set(result.samples.map((s) => s.labels?.device))] as string[];
}

const spec: CollectorSpec = { name: "interface", interval: "10s" };

/** A collector over a temporary host root, with a clock that advances 10 s before each read. */
async function setup(settings: Partial<CollectorSpec> = {}) {
  const root = await mkdtemp(join(tmpdir(), "vesmon-interface-"));
  roots.push(root);
  await mkdir(join(root, "proc/net"), { recursive: true });
  const clock = { now: 0 };
  const collector = await interfaceCollector.create({ ...spec, ...settings }, testEnv({ root }, clock));
  const read = async (...lines: string[]) => {
    clock.now += 10_000;
    await writeFile(join(root, "proc/net/dev"), `${HEADER}${lines.join("\n")}\n`);
    return collector.collect();
  };
  return { root, read };
}

const RATES = [
  "rx.bytes",
  "tx.bytes",
  "rx.packets",
  "tx.packets",
  "rx.errors",
  "tx.errors",
  "rx.dropped",
  "tx.dropped",
];

describe("parseNetDev", () => {
  it("reads the captured fixture", async () => {
    const { interfaces, skipped } = parseNetDev(await readFile(join(FIXTURE_ROOT, "proc/net/dev"), "utf8"));
    expect([...interfaces.keys()]).toEqual(["lo", "ifb0", "ifb1", "eth0"]);
    expect(interfaces.get("eth0")).toEqual({
      rxBytes: 556890926n,
      rxPackets: 17323n,
      rxErrors: 0n,
      rxDropped: 0n,
      rxFifo: 0n,
      rxFrame: 0n,
      rxCompressed: 0n,
      rxMulticast: 0n,
      txBytes: 1277540n,
      txPackets: 11181n,
      txErrors: 0n,
      txDropped: 0n,
      txFifo: 0n,
      txCollisions: 0n,
      txCarrier: 0n,
      txCompressed: 0n,
    });
    expect(skipped).toEqual([]);
  });

  it("splits a name glued to its first counter", () => {
    const { interfaces } = parseNetDev(
      `${HEADER}  eth0:653496154 17323 1 2 3 4 5 6 1277540 11181 7 8 9 10 11 12\n`,
    );
    expect(interfaces.get("eth0")).toMatchObject({
      rxBytes: 653496154n,
      rxPackets: 17323n,
      txCompressed: 12n,
    });
  });

  it("keeps counters above 2^53 exact", () => {
    const { interfaces } = parseNetDev(nic("eth0", { rxBytes: 18446744073709551000n }));
    expect(interfaces.get("eth0")?.rxBytes).toBe(18446744073709551000n);
  });

  it("skips blank, short and malformed lines and reports them", () => {
    const { interfaces, skipped } = parseNetDev(
      `${HEADER}\n${nic("eth0")}\ngarbage\n  eth1: 1 2 3\n  eth2: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x\n: 1\n\n`,
    );
    expect([...interfaces.keys()]).toEqual(["eth0"]);
    expect(skipped).toEqual([
      "garbage",
      "  eth1: 1 2 3",
      "  eth2: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x",
      ": 1",
    ]);
  });

  it("takes a file with only its header as a namespace without interfaces", () => {
    expect(parseNetDev(HEADER).interfaces.size).toBe(0);
  });

  it.each([`${HEADER}garbage\n`, "eth0: 1 2\n"])("refuses %j", (text) => {
    expect(() => parseNetDev(text)).toThrow(/unexpected \/proc\/net\/dev/);
  });
});

describe("interface collector", () => {
  it("reports totals only on the first read, then rates and totals", async () => {
    const { read } = await setup();
    const first = await read(nic("eth0", { rxBytes: 1000, txBytes: 500, rxPackets: 10 }));
    expect(first.errors).toEqual([]);
    expect(first.samples.map((s) => s.metric)).toEqual(RATES.map((r) => `host.interface.${r}.total`));
    expect(first.samples.every((s) => !s.suspect)).toBe(true);

    const second = await read(
      nic("eth0", {
        rxBytes: 21000,
        txBytes: 5500,
        rxPackets: 60,
        txPackets: 40,
        rxErrors: 3,
        txErrors: 1,
        rxDropped: 20,
        txDropped: 2,
      }),
    );
    expect(second.errors).toEqual([]);
    expect(second.samples.map((s) => [s.metric, s.value, s.unit])).toEqual([
      ["host.interface.rx.bytes", 2000, "bytes/s"],
      ["host.interface.rx.bytes.total", 21000, "bytes"],
      ["host.interface.tx.bytes", 500, "bytes/s"],
      ["host.interface.tx.bytes.total", 5500, "bytes"],
      ["host.interface.rx.packets", 5, "packets/s"],
      ["host.interface.rx.packets.total", 60, "packets"],
      ["host.interface.tx.packets", 4, "packets/s"],
      ["host.interface.tx.packets.total", 40, "packets"],
      ["host.interface.rx.errors", 0.3, "count/s"],
      ["host.interface.rx.errors.total", 3, "count"],
      ["host.interface.tx.errors", 0.1, "count/s"],
      ["host.interface.tx.errors.total", 1, "count"],
      ["host.interface.rx.dropped", 2, "count/s"],
      ["host.interface.rx.dropped.total", 20, "count"],
      ["host.interface.tx.dropped", 0.2, "count/s"],
      ["host.interface.tx.dropped.total", 2, "count"],
    ]);
    expect(second.samples.every((s) => s.labels?.device === "eth0" && !s.suspect)).toBe(true);
  });

  it("leaves out lo by default (fixture host root)", async () => {
    const clock = { now: 0 };
    const collector = await interfaceCollector.create(spec, testEnv(undefined, clock));
    await collector.collect();
    clock.now += 1000;
    const result = await collector.collect();
    expect(devices(result)).toEqual(["ifb0", "ifb1", "eth0"]);
    expect(byKey(result)["eth0 host.interface.rx.bytes.total"]?.value).toBe(556890926);
    expect(byKey(result)["eth0 host.interface.rx.bytes"]?.value).toBe(0);
  });

  it("applies include and exclude globs; an explicit exclude replaces the default one", async () => {
    const lines = [nic("lo"), nic("eth0"), nic("eth1"), nic("bond0")];
    const included = await setup({ devices: { include: ["eth*"] } });
    expect(devices(await included.read(...lines))).toEqual(["eth0", "eth1"]);
    const excluded = await setup({ devices: { exclude: ["eth1"] } });
    expect(devices(await excluded.read(...lines))).toEqual(["lo", "eth0", "bond0"]);
  });

  it("gives no rate after a reset, and flags the total that went back", async () => {
    const { read } = await setup();
    await read(nic("eth0", { rxBytes: 50000, txBytes: 100 }));
    const result = byKey(await read(nic("eth0", { rxBytes: 300, txBytes: 200 })));
    expect(result["eth0 host.interface.rx.bytes"]).toBeUndefined();
    expect(result["eth0 host.interface.rx.bytes.total"]).toMatchObject({ value: 300, suspect: true });
    expect(result["eth0 host.interface.tx.bytes"]).toMatchObject({ value: 10 });
    expect(result["eth0 host.interface.tx.bytes"]?.suspect).toBeUndefined();
    expect(result["eth0 host.interface.tx.bytes.total"]?.suspect).toBeUndefined();
    expect(Object.values(result).every((s) => s.value >= 0)).toBe(true);
  });

  it("takes a 64-bit wrap as the right delta, flagged suspect", async () => {
    const { read } = await setup();
    await read(nic("eth0", { rxBytes: 2n ** 64n - 100n }));
    const result = byKey(await read(nic("eth0", { rxBytes: 900 })));
    expect(result["eth0 host.interface.rx.bytes"]).toMatchObject({ value: 100, suspect: true });
    expect(result["eth0 host.interface.rx.bytes.total"]).toMatchObject({ value: 900, suspect: true });
    expect(result["eth0 host.interface.rx.packets"]?.suspect).toBeUndefined();
  });

  it("reports skipped lines in errors and reads the rest", async () => {
    const { root, read } = await setup();
    const result = await read(nic("eth0"), "eth1 no colon");
    expect(result.errors).toEqual([`${join(root, "proc/net/dev")}: skipped malformed line "eth1 no colon"`]);
    expect(devices(result)).toEqual(["eth0"]);
  });

  it("names the missing file when the source is absent", async () => {
    const collector = await interfaceCollector.create(spec, testEnv({ root: "/nonexistent" }));
    const read = collector.collect();
    await expect(read).rejects.toThrow("/nonexistent/proc/net/dev: ENOENT");
    await expect(read).rejects.toBeInstanceOf(SourceUnavailableError);
  });

  it("reads plausible rates on this host", async () => {
    const collector = await interfaceCollector.create(spec, testEnv({ root: "/" }));
    await collector.collect();
    await sleep(200);
    const result = await collector.collect();
    expect(result.errors).toEqual([]);
    expect(result.samples.every((s) => Number.isFinite(s.value) && s.value >= 0)).toBe(true);
  });
});
