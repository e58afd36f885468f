import { readFileSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { CollectorSpec } from "../../api/v1alpha1/types.ts";
import { FIXTURE_ROOT, testEnv } from "../../test/helpers/collector-env.ts";
import type { LifecycleEventInfo } from "../libvirt/client.ts";
import { StatsGroup } from "../libvirt/protocol.ts";
import type { Domain, DomainStatsRecord, TypedParam } from "../libvirt/remote.ts";
import { MeasurementWindows } from "../pipeline/windows.ts";
import type { Collector } from "./collector.ts";
import type { CollectResult } from "./sample.ts";
import { openVirtCollector } from "./virt.ts";
import type { VirtLibvirt } from "./virt-sources.ts";

const FIXTURE_XML = readFileSync(join(FIXTURE_ROOT, "libvirt/domain-interfaces.xml"), "utf8");
/** Two tap interfaces the fixture /proc/net/dev holds (vnet0 and vnet1). */
const TAPS_ONLY = `<domain><name>NAME</name><uuid>UUID</uuid><devices>
  <interface type='bridge'><source bridge='virbr0'/><target dev='vnet0'/></interface>
  <interface type='ethernet'><target dev='vnet1'/></interface>
</devices></domain>`;

interface FakeDomain extends Domain {
  xml: string;
}

const u = (v: number): TypedParam => ({ field: "", type: "uint", value: v });
const ull = (v: bigint): TypedParam => ({ field: "", type: "ullong", value: v });
const str = (v: string): TypedParam => ({ field: "", type: "string", value: v });
const p = (field: string, v: TypedParam): TypedParam => ({ ...v, field });

/** libvirt's group of each field prefix (VIR_DOMAIN_STATS_*). */
const GROUP_OF: Record<string, number> = {
  state: StatsGroup.state,
  cpu: StatsGroup["cpu-total"],
  balloon: StatsGroup.balloon,
  vcpu: StatsGroup.vcpu,
  net: StatsGroup.interface,
  block: StatsGroup.block,
};

/**
 * Stands in for libvirtd's bulk stats call as the real one answers it: only the groups asked for (0: all), only
 * the domains listed (those gone skipped) or every one; an interface's `net.N` index is its place in the XML and
 * interfaces without a host name are skipped, as qemuDomainGetStatsInterface does. Records every call.
 */
class RecordingLibvirt implements VirtLibvirt {
  readonly calls: { groups: number; domains: string[] }[] = [];
  readonly #domains: FakeDomain[];
  readonly #readBytes: () => bigint;

  constructor(domains: FakeDomain[], readBytes: () => bigint = () => 4096n) {
    this.#domains = domains;
    this.#readBytes = readBytes;
  }

  async connect(): Promise<void> {}

  #params(d: FakeDomain): TypedParam[] {
    const nets = [...d.xml.matchAll(/<interface[^>]*>[\s\S]*?<\/interface>/g)].map(
      (m) => /<target dev='([^']+)'/.exec(m[0])?.[1],
    );
    const out = [
      p("state.state", u(1)),
      p("state.reason", u(1)),
      p("cpu.time", ull(5_000_000_000n)),
      p("cpu.user", ull(3_000_000_000n)),
      p("cpu.system", ull(2_000_000_000n)),
      p("balloon.current", ull(65536n)),
      p("balloon.maximum", ull(65536n)),
      p("balloon.rss", ull(40000n)),
      p("vcpu.current", u(1)),
      p("vcpu.maximum", u(1)),
      p("vcpu.0.time", ull(4_000_000_000n)),
      p("vcpu.0.delay", ull(1000n)),
      p("net.count", u(nets.length)),
      p("block.count", u(1)),
      p("block.0.name", str("vda")),
      p("block.0.rd.reqs", ull(this.#readBytes() / 512n)),
      p("block.0.rd.bytes", ull(this.#readBytes())),
    ];
    // A domain that is not running has only its configured figures: state, memory and vCPU counts.
    if (d.id <= 0)
      return out.filter((x) =>
        /^(state\.|balloon\.(current|maximum)$|vcpu\.(current|maximum)$)/.test(x.field),
      );
    nets.forEach((dev, i) => {
      if (!dev) return;
      out.push(
        p(`net.${i}.name`, str(dev)),
        p(`net.${i}.rx.bytes`, ull(111n)),
        p(`net.${i}.tx.bytes`, ull(222n)),
      );
    });
    return out;
  }

  async getAllDomainStats(
    groups: number,
    _flags = 0,
    domains: readonly Domain[] = [],
  ): Promise<DomainStatsRecord[]> {
    this.calls.push({ groups, domains: domains.map((d) => d.name) });
    const chosen = domains.length
      ? this.#domains.filter((d) => domains.some((x) => x.uuid === d.uuid))
      : this.#domains;
    return chosen.map((d) => ({
      dom: { name: d.name, uuid: d.uuid, id: d.id },
      params: this.#params(d).filter((x) => {
        const group = GROUP_OF[x.field.split(".")[0]!] ?? 0;
        return groups === 0 || (group & groups) !== 0;
      }),
    }));
  }

  async getXmlDesc(dom: Domain): Promise<string> {
    const d = this.#domains.find((x) => x.uuid === dom.uuid);
    if (!d) throw new Error(`Domain not found: ${dom.name}`);
    return d.xml.replace("NAME", d.name).replace("UUID", d.uuid);
  }

  async onLifecycle(_handler: (e: LifecycleEventInfo) => void): Promise<() => Promise<void>> {
    return async () => {};
  }

  async close(): Promise<void> {}
}

/** vm-one is the domain with id 1 the cgroup fixture has a scope for (`machine-qemu\x2d1\x2dvm\x2done.scope`). */
const vmOne = (xml: string): FakeDomain => ({
  name: "vm-one",
  uuid: "00000000-0000-4000-8000-000000000001",
  id: 1,
  xml,
});
const noCgroup: FakeDomain = {
  name: "nocg",
  uuid: "00000000-0000-4000-8000-000000000009",
  id: 9,
  xml: TAPS_ONLY,
};

const paths = {
  proc: join(FIXTURE_ROOT, "tap-host/proc"),
  cgroup: join(FIXTURE_ROOT, "cgroup-v2-systemd"),
};
const spec = (over: Partial<CollectorSpec> = {}): CollectorSpec => ({
  name: "virt",
  interval: "1s",
  ...over,
});
const names = (groups: number) =>
  Object.entries(StatsGroup)
    .filter(([, bit]) => (groups & bit) !== 0)
    .map(([name]) => name);
const calls = (lv: RecordingLibvirt) =>
  lv.calls.map((c) => ({ groups: names(c.groups), domains: c.domains }));
const value = (r: CollectResult, metric: string, labels?: Record<string, string>) =>
  r.samples.find(
    (s) => s.metric === metric && (!labels || JSON.stringify(s.labels) === JSON.stringify(labels)),
  )?.value;

const open: Collector[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) await c.close();
});

async function collector(lv: RecordingLibvirt, s: CollectorSpec, clock = { now: 1_000_000 }) {
  const c = await openVirtCollector(lv, s, testEnv(paths, clock));
  open.push(c);
  return c;
}

describe("virt collector: the cheapest source of each figure", () => {
  it("asks libvirt for neither interface nor cpu-total when the taps and the cgroups serve every domain", async () => {
    const lv = new RecordingLibvirt([vmOne(TAPS_ONLY)]);
    const r = await (await collector(lv, spec())).collect();
    expect(r.errors).toEqual([]);
    expect(calls(lv)).toEqual([{ groups: ["state", "balloon", "vcpu", "block"], domains: [] }]);
    // The guest received what the host side of vnet0 transmitted (90000 B in the fixture), not libvirt's 111.
    expect(value(r, "vm.interface.rx.bytes.total", { interface: "vnet0" })).toBe(90000);
    expect(value(r, "vm.interface.tx.bytes.total", { interface: "vnet0" })).toBe(10000);
    expect(value(r, "vm.interface.rx.bytes.total", { interface: "vnet1" })).toBe(7000);
  });

  it("asks the interface group for only the domain with an interface that has no host device", async () => {
    const lv = new RecordingLibvirt([vmOne(FIXTURE_XML)]);
    const r = await (await collector(lv, spec())).collect();
    expect(calls(lv)).toEqual([
      { groups: ["state", "balloon", "vcpu", "block"], domains: [] },
      { groups: ["interface"], domains: ["vm-one"] },
    ]);
    // vhost-user0 and vnet9 (another netns) from libvirt, the taps and the macvtap from the host.
    expect(value(r, "vm.interface.rx.bytes.total", { interface: "vhost-user0" })).toBe(111);
    expect(value(r, "vm.interface.rx.bytes.total", { interface: "vnet9" })).toBe(111);
    expect(value(r, "vm.interface.rx.bytes.total", { interface: "vnet0" })).toBe(90000);
    expect(value(r, "vm.interface.rx.bytes.total", { interface: "macvtap0" })).toBe(123456);
  });

  it("asks cpu-total for only the domain without a cgroup, and gives it libvirt's CPU figures", async () => {
    const lv = new RecordingLibvirt([vmOne(TAPS_ONLY), noCgroup]);
    const clock = { now: 1_000_000 };
    const c = await collector(lv, spec(), clock);
    await c.collect();
    expect(calls(lv)).toEqual([
      { groups: ["state", "balloon", "vcpu", "block"], domains: [] },
      { groups: ["cpu-total"], domains: ["nocg"] },
    ]);
  });

  it("gives a domain that is not running no vNIC figures, even when its XML names a device that exists", async () => {
    const off: FakeDomain = {
      name: "off",
      uuid: "00000000-0000-4000-8000-00000000000f",
      id: -1,
      xml: TAPS_ONLY,
    };
    const lv = new RecordingLibvirt([vmOne(TAPS_ONLY), off]);
    const r = await (await collector(lv, spec())).collect();
    const metrics = r.samples
      .filter((s) => s.source.kind === "vm" && s.source.name === "off")
      .map((s) => s.metric);
    expect(metrics).toContain("vm.state");
    expect(metrics.filter((m) => m.startsWith("vm.interface."))).toEqual([]);
    expect(calls(lv)).toHaveLength(1);
  });

  it("asks every group of libvirt with nicSource and cpuSource libvirt", async () => {
    const lv = new RecordingLibvirt([vmOne(TAPS_ONLY)]);
    const r = await (await collector(lv, spec({ nicSource: "libvirt", cpuSource: "libvirt" }))).collect();
    expect(calls(lv)).toEqual([
      { groups: ["state", "cpu-total", "balloon", "vcpu", "interface", "block"], domains: [] },
    ]);
    expect(value(r, "vm.interface.rx.bytes.total", { interface: "vnet0" })).toBe(111);
  });

  it("falls back to libvirt's interface group when /proc/net/dev cannot be read, naming it", async () => {
    const lv = new RecordingLibvirt([vmOne(TAPS_ONLY)]);
    const c = await openVirtCollector(
      lv,
      spec(),
      testEnv({ proc: join(FIXTURE_ROOT, "nonexistent"), cgroup: paths.cgroup }, { now: 1 }),
    );
    open.push(c);
    const r = await c.collect();
    expect(r.errors).toEqual([
      expect.stringMatching(/nonexistent\/net\/dev: .*ENOENT.*vNIC counters from libvirt/),
    ]);
    expect(calls(lv)[1]).toEqual({ groups: ["interface"], domains: ["vm-one"] });
    expect(value(r, "vm.interface.rx.bytes.total", { interface: "vnet0" })).toBe(111);
  });
});

describe("virt collector: a daemon the cheap sources cannot serve gets one call", () => {
  it("asks, from the second collection on, the groups none of a daemon's domains were served in its bulk call", async () => {
    const lv = new RecordingLibvirt([noCgroup]);
    const clock = { now: 1_000_000 };
    const c = await collector(lv, spec(), clock);
    await c.collect();
    clock.now += 1000;
    const second = await c.collect();
    expect(calls(lv)).toEqual([
      { groups: ["state", "balloon", "vcpu", "block"], domains: [] },
      { groups: ["cpu-total"], domains: ["nocg"] },
      { groups: ["state", "cpu-total", "balloon", "vcpu", "block"], domains: [] },
    ]);
    // The CPU rate spans the two collections: the counter from the second call, then from the bulk call.
    expect(value(second, "vm.cpu.percent")).toBe(0);
  });

  it("keeps the second call for only the domains left over while others of the daemon are served", async () => {
    const lv = new RecordingLibvirt([vmOne(TAPS_ONLY), noCgroup]);
    const c = await collector(lv, spec());
    await c.collect();
    await c.collect();
    expect(calls(lv).slice(2)).toEqual([
      { groups: ["state", "balloon", "vcpu", "block"], domains: [] },
      { groups: ["cpu-total"], domains: ["nocg"] },
    ]);
  });

  it("leaves a group out of the bulk call again once its cheap source serves the daemon", async () => {
    const proc = await mkdtemp(join(tmpdir(), "vesmon-virt-proc-"));
    try {
      const lv = new RecordingLibvirt([vmOne(TAPS_ONLY)]);
      const c = await openVirtCollector(lv, spec(), testEnv({ proc, cgroup: paths.cgroup }, { now: 1 }));
      open.push(c);
      await c.collect();
      await c.collect();
      await mkdir(join(proc, "net"));
      await copyFile(join(paths.proc, "net/dev"), join(proc, "net/dev"));
      const served = await c.collect();
      await c.collect();
      expect(calls(lv)).toEqual([
        { groups: ["state", "balloon", "vcpu", "block"], domains: [] },
        { groups: ["interface"], domains: ["vm-one"] },
        { groups: ["state", "balloon", "vcpu", "interface", "block"], domains: [] },
        { groups: ["state", "balloon", "vcpu", "interface", "block"], domains: [] },
        { groups: ["state", "balloon", "vcpu", "block"], domains: [] },
      ]);
      // The host's figure wins over libvirt's when both came.
      expect(value(served, "vm.interface.rx.bytes.total", { interface: "vnet0" })).toBe(90000);
    } finally {
      await rm(proc, { recursive: true, force: true });
    }
  });
});

describe("virt collector: the fallbacks are logged once per transition", () => {
  /** A collector env whose log lines are kept. */
  const logged = (proc: string) => {
    const lines: { level: number; msg: string; nic?: string }[] = [];
    const env = testEnv({ proc, cgroup: paths.cgroup }, { now: 1 });
    env.log = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    return { env, lines };
  };

  it("names each vNIC without a host device once, not every collection", async () => {
    const { env, lines } = logged(paths.proc);
    const c = await openVirtCollector(new RecordingLibvirt([vmOne(FIXTURE_XML)]), spec(), env);
    open.push(c);
    await c.collect();
    await c.collect();
    expect(lines.map((l) => l.nic)).toEqual(["vm-one/vhost-user0", "vm-one/vnet9"]);
    expect(lines.every((l) => /come from libvirt's interface group/.test(l.msg))).toBe(true);
  });

  it("warns once while /proc/net/dev cannot be read", async () => {
    const { env, lines } = logged(join(FIXTURE_ROOT, "nonexistent"));
    const c = await openVirtCollector(new RecordingLibvirt([vmOne(TAPS_ONLY)]), spec(), env);
    open.push(c);
    const results = [await c.collect(), await c.collect()];
    expect(lines.filter((l) => l.level === 40)).toHaveLength(1);
    expect(results.map((r) => r.errors.length)).toEqual([1, 1]);
  });
});

describe("virt collector: balloon and block at the window's edge", () => {
  /** Bytes read by ms `t`: 1 B/ms until 17 s, then 4 B/ms, so a rate depends on the span it covers. */
  const readBytes = (t: number) => BigInt(t < 17_000 ? t : 17_000 + (t - 17_000) * 4);

  it("reads them on the first collection and the one nearest each window edge; the rate spans the window", async () => {
    const clock = { now: 12_300 };
    const lv = new RecordingLibvirt([vmOne(TAPS_ONLY)], () => readBytes(clock.now));
    const c = await collector(lv, spec({ slowGroupsInterval: "5s" }), clock);
    const windows = new MeasurementWindows(5_000, clock.now);
    const slow: number[] = [];
    const closed = [];
    // Collections every second, aligned as the scheduler aligns them, a few ms late.
    for (const t of [12_300, 13_004, 14_002, 15_003, 16_001, 17_002, 18_004, 19_001, 20_002, 21_003]) {
      clock.now = t;
      const r = await c.collect();
      if ((lv.calls.at(-1)!.groups & StatsGroup.block) !== 0) slow.push(t);
      // The balloon and the disk figures come only with the groups.
      expect(value(r, "vm.memory.rss") !== undefined).toBe(slow.at(-1) === t);
      windows.add("virt", 1_000, r);
      while (windows.next <= t - 500) closed.push(windows.close());
    }
    expect(slow).toEqual([12_300, 15_003, 20_002]);
    const second = closed.find((w) => w.start === 15_000);
    const rates = second?.samples.filter((s) => s.metric === "vm.disk.read.bytes").map((s) => s.value);
    // One read at the window's edge, over exactly its reads' span: 15.003 s to 20.002 s.
    const expected = Number(readBytes(20_002) - readBytes(15_003)) / ((20_002 - 15_003) / 1000);
    expect(rates).toEqual([expected]);
    expect(second?.coverage.get([...second.coverage.keys()][0]!)?.suspect).toBe(false);
  });

  it("makes up a missed edge on the next collection", async () => {
    const clock = { now: 10_000 };
    const lv = new RecordingLibvirt([vmOne(TAPS_ONLY)]);
    const c = await collector(lv, spec({ slowGroupsInterval: "5s" }), clock);
    const slow: number[] = [];
    // The collection at 15 s did not happen (skipped tick); 16 s reads for the 15 s edge.
    for (const t of [10_000, 11_000, 14_000, 16_000, 17_000, 20_000]) {
      clock.now = t;
      await c.collect();
      if ((lv.calls.at(-1)!.groups & StatsGroup.block) !== 0) slow.push(t);
    }
    expect(slow).toEqual([10_000, 16_000, 20_000]);
  });

  it("reads them every collection without slowGroupsInterval (a collector outside a profile)", async () => {
    const clock = { now: 10_000 };
    const lv = new RecordingLibvirt([vmOne(TAPS_ONLY)]);
    const c = await collector(lv, spec(), clock);
    for (const t of [10_000, 11_000, 12_000]) {
      clock.now = t;
      await c.collect();
    }
    expect(lv.calls.every((x) => (x.groups & StatsGroup.block) !== 0)).toBe(true);
  });
});
