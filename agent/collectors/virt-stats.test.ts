import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FIXTURE_ROOT } from "../../test/helpers/collector-env.ts";
import { HEADER_SIZE } from "../libvirt/protocol.ts";
import { type DomainStatsRecord, readStatsRecord } from "../libvirt/remote.ts";
import { XdrReader } from "../libvirt/xdr.ts";
import { CounterSet } from "./counter.ts";
import { parseDomainXml } from "./domain-xml.ts";
import { sampleDomain } from "./virt.ts";
import { type DomainStats, parseDomainStats } from "./virt-stats.ts";

const packets = (
  JSON.parse(readFileSync(join(FIXTURE_ROOT, "libvirt/packets.json"), "utf8")) as {
    captured: { label: string; direction: string; hex: string; proc: number }[];
  }
).captured;
const rx = (label: string, proc: number) =>
  new XdrReader(
    Buffer.from(
      packets.find((p) => p.label === label && p.direction === "rx" && p.proc === proc)!.hex,
      "hex",
    ),
    HEADER_SIZE,
  );

const captured: DomainStatsRecord = rx("all-domain-stats", 344).array(readStatsRecord, 10)[0]!;

describe("parseDomainStats", () => {
  it("groups a real guest's bulk stats", () => {
    const d = parseDomainStats(captured);
    expect(d.state).toBe("running");
    expect(typeof d.cpu?.time).toBe("bigint");
    expect(d.vcpuCurrent).toBe(2);
    expect(d.vcpus.map((v) => v.index)).toEqual([0, 1]);
    expect(typeof d.vcpus[0]?.delay).toBe("bigint");
    expect(d.balloon?.maximum).toBe(65536n);
    expect(d.nics).toHaveLength(1);
    expect(d.nics[0]?.name).toMatch(/^vt\d+t0$/);
    expect(typeof d.nics[0]?.rx.bytes).toBe("bigint");
    expect(d.disks[0]).toMatchObject({ index: 0, name: "vda", capacity: 67108864n });
  });

  it("orders indexed devices, ignores unknown fields and keeps absent groups undefined", () => {
    const d = parseDomainStats({
      dom: { name: "x", uuid: "00000000-0000-0000-0000-000000000001", id: 3 },
      params: [
        { field: "state.state", type: "int", value: 3 },
        { field: "net.1.name", type: "string", value: "vnet1" },
        { field: "net.0.name", type: "string", value: "vnet0" },
        { field: "net.1.rx.bytes", type: "ullong", value: 2n ** 64n - 1n },
        { field: "perf.cmt", type: "ullong", value: 5n },
        { field: "cpu.haltpoll.success.time", type: "ullong", value: 1n },
      ],
    });
    expect(d.state).toBe("paused");
    expect(d.nics.map((n) => n.name)).toEqual(["vnet0", "vnet1"]);
    expect(d.nics[1]?.rx.bytes).toBe(18446744073709551615n);
    expect(d.cpu).toBeUndefined();
    expect(d.balloon).toBeUndefined();
    expect(d.disks).toEqual([]);
  });

  it("reads a field name the same way on every call, whatever was parsed before (names are split once and kept)", () => {
    const first = parseDomainStats(captured);
    const odd = parseDomainStats({
      dom: captured.dom,
      params: [
        { field: "vcpu.x.time", type: "ullong", value: 1n },
        { field: "block.01.rd.reqs", type: "ullong", value: 7n },
        { field: "balloon.last-update", type: "ullong", value: 9n },
        { field: "balloon", type: "ullong", value: 9n },
        { field: "", type: "int", value: 1 },
      ],
    });
    // A leading zero is still index 1 (named as written); a name that is no index is skipped; a bare group is no field.
    expect(odd.vcpus).toEqual([]);
    expect(odd.disks).toEqual([{ index: 1, name: "block01", rd: { reqs: 7n }, wr: {}, fl: {} }]);
    expect(odd.balloon).toBeUndefined();
    expect(parseDomainStats(captured)).toEqual(first);
    // The parsed record's groups are its own: a second parse shares no device object with the first.
    expect(parseDomainStats(captured).vcpus[0]).not.toBe(first.vcpus[0]);
  });
});

describe("parseDomainXml", () => {
  it("reads name, UUID and flattened metadata from a real guest's XML", () => {
    const info = parseDomainXml(rx("xml-desc", 14).string());
    expect(info.name).toMatch(/^vt\d+-0$/);
    expect(info.uuid).toBe(captured.dom.uuid);
    expect(info.metadata).toEqual({ "vnf.id": "vnf-0" });
  });

  it("handles no metadata, a partition, and refuses XML without a name", () => {
    const info = parseDomainXml(
      "<domain type='kvm'><name>a</name><uuid>11111111-2222-4333-8444-555555555555</uuid><resource><partition>/machine/prod</partition></resource></domain>",
    );
    expect(info).toEqual({
      name: "a",
      uuid: "11111111-2222-4333-8444-555555555555",
      metadata: {},
      partition: "/machine/prod",
      interfaces: [],
    });
    expect(() => parseDomainXml("<domain/>")).toThrow(/no <name> or <uuid>/);
  });
});

describe("sampleDomain", () => {
  const base = (over: Partial<DomainStats>): DomainStats => ({
    name: "vm1",
    uuid: "00000000-0000-0000-0000-000000000009",
    id: 1,
    state: "running",
    vcpuCurrent: 2,
    vcpus: [],
    nics: [],
    disks: [],
    ...over,
  });
  const value = (samples: ReturnType<typeof sampleDomain>, metric: string, labels?: Record<string, string>) =>
    samples.find(
      (s) => s.metric === metric && (!labels || JSON.stringify(s.labels) === JSON.stringify(labels)),
    );

  it("turns CPU time into percent of the VM's vCPUs, per vCPU and steal, from the second read on", () => {
    const counters = new CounterSet();
    const first = sampleDomain(
      base({ cpu: { time: 0n }, vcpus: [{ index: 0, time: 0n, delay: 0n }] }),
      counters,
      0,
    );
    expect(value(first, "vm.cpu.percent")).toBeUndefined();
    expect(value(first, "vm.state")).toMatchObject({ value: 1, labels: { state: "running" } });
    const second = sampleDomain(
      base({ cpu: { time: 1_000_000_000n }, vcpus: [{ index: 0, time: 800_000_000n, delay: 50_000_000n }] }),
      counters,
      10_000,
    );
    expect(value(second, "vm.cpu.percent")?.value).toBeCloseTo(5); // 1 s of CPU in 10 s over 2 vCPUs
    expect(value(second, "vm.vcpu.percent", { vcpu: "0" })?.value).toBeCloseTo(8);
    expect(value(second, "vm.vcpu.steal.percent", { vcpu: "0" })?.value).toBeCloseTo(0.5);
  });

  it("gives no rate after a counter reset and flags the accumulated value", () => {
    const counters = new CounterSet();
    const nic = (bytes: bigint) => [{ index: 0, name: "vnet0", rx: { bytes }, tx: {} }];
    sampleDomain(base({ nics: nic(1000n) }), counters, 0);
    const afterReset = sampleDomain(base({ nics: nic(10n) }), counters, 1000);
    expect(value(afterReset, "vm.interface.rx.bytes")).toBeUndefined();
    expect(value(afterReset, "vm.interface.rx.bytes.total", { interface: "vnet0" })).toMatchObject({
      value: 10,
      suspect: true,
    });
    const next = sampleDomain(base({ nics: nic(2010n) }), counters, 2000);
    expect(value(next, "vm.interface.rx.bytes", { interface: "vnet0" })).toMatchObject({ value: 2000 });
    expect(value(next, "vm.interface.rx.bytes.total", { interface: "vnet0" })?.suspect).toBeUndefined();
  });

  it("computes used memory from the guest's balloon stats when it has them, else from RSS", () => {
    const guest = sampleDomain(
      base({ balloon: { maximum: 4096n, available: 4000n, usable: 3000n, rss: 3500n } }),
      new CounterSet(),
      0,
    );
    expect(value(guest, "vm.memory.used")).toMatchObject({ value: 1000 * 1024, labels: { basis: "guest" } });
    expect(value(guest, "vm.memory.used.percent")?.value).toBeCloseTo((1000 / 4096) * 100);
    const host = sampleDomain(base({ balloon: { maximum: 4096n, rss: 1024n } }), new CounterSet(), 0);
    expect(value(host, "vm.memory.used")).toMatchObject({ value: 1024 * 1024, labels: { basis: "rss" } });
    expect(value(host, "vm.memory.free")?.value).toBe(3072 * 1024);
  });

  it("reports disk latency as ms per operation, 0 when idle", () => {
    const counters = new CounterSet();
    const disk = (reqs: bigint, times: bigint) => [
      { index: 0, name: "vda", rd: { reqs, bytes: reqs * 4096n, times }, wr: {}, fl: {} },
    ];
    sampleDomain(base({ disks: disk(0n, 0n) }), counters, 0);
    const busy = sampleDomain(base({ disks: disk(100n, 200_000_000n) }), counters, 1000);
    expect(value(busy, "vm.disk.read.latency", { disk: "vda" })?.value).toBeCloseTo(2);
    expect(value(busy, "vm.disk.read.ops", { disk: "vda" })?.value).toBe(100);
    const idle = sampleDomain(base({ disks: disk(100n, 200_000_000n) }), counters, 2000);
    expect(value(idle, "vm.disk.read.latency", { disk: "vda" })?.value).toBe(0);
  });
});
