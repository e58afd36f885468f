import { execFile } from "node:child_process";
import { createSocket } from "node:dgram";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Collector } from "../../agent/collectors/collector.ts";
import type { CollectResult, Sample } from "../../agent/collectors/sample.ts";
import { virtCollector } from "../../agent/collectors/virt.ts";
import { parseDomainStats } from "../../agent/collectors/virt-stats.ts";
import { LibvirtClient } from "../../agent/libvirt/client.ts";
import { StatsGroup } from "../../agent/libvirt/protocol.ts";
import type { CollectorSpec } from "../../api/v1alpha1/types.ts";
import { testEnv } from "../helpers/collector-env.ts";
import { startTinyGuests, type TinyGuests } from "../helpers/guests.ts";
import { type Libvirtd, startLibvirtd } from "../helpers/libvirtd.ts";

const spec = (over: Partial<CollectorSpec> = {}): CollectorSpec => ({
  name: "virt",
  interval: "10s",
  ...over,
});
const collectors: Collector[] = [];
async function create(s: CollectorSpec): Promise<Collector> {
  const c = await virtCollector.create(s, testEnv({ root: "/" }));
  collectors.push(c);
  return c;
}
const of = (r: CollectResult, metric: string, name?: string): Sample[] =>
  r.samples.filter(
    (s) => s.metric === metric && (!name || (s.source.kind === "vm" && s.source.name === name)),
  );

afterAll(async () => {
  for (const c of collectors) await c.close();
});

describe("virt collector, test driver", () => {
  let lv: Libvirtd;
  beforeAll(async () => {
    lv = await startLibvirtd();
  });
  afterAll(async () => {
    await lv?.stop();
  });

  it("reports each domain's state and the lifecycle events seen between collections", async () => {
    const c = await create(spec({ libvirt: { socket: lv.roSocket, uri: "test:///default", timeout: "5s" } }));
    const first = await c.collect();
    expect(of(first, "vm.state")).toEqual([
      expect.objectContaining({
        value: 1,
        labels: { state: "running" },
        source: expect.objectContaining({ kind: "vm", name: "test" }),
      }),
    ]);
    await lv.virsh("test:///default", "suspend", "test");
    await new Promise((r) => setTimeout(r, 200));
    const second = await c.collect();
    expect(of(second, "vm.state")[0]?.labels).toEqual({ state: "paused" });
    expect(second.events?.map((e) => [e.event, e.source.kind === "vm" && e.source.name])).toEqual([
      ["suspended", "test"],
    ]);
    expect((await c.collect()).events).toBeUndefined();
    await lv.virsh("test:///default", "resume", "test");
  });

  it("leaves out excluded domains", async () => {
    const c = await create(
      spec({
        libvirt: { socket: lv.roSocket, uri: "test:///default", timeout: "5s" },
        domains: { exclude: ["te*"] },
      }),
    );
    expect((await c.collect()).samples).toEqual([]);
  });

  it("fails to start with an error naming the socket when libvirt is not there", async () => {
    await expect(
      virtCollector.create(
        spec({ libvirt: { socket: "/nonexistent/libvirt-sock-ro", uri: "qemu:///system", timeout: "1s" } }),
        testEnv(),
      ),
    ).rejects.toThrow(/cannot connect to libvirt at \/nonexistent\/libvirt-sock-ro/);
  });
});

const execFileP = promisify(execFile);

/** Sends `count` small UDP broadcasts from `from` to `to`, one after the other. */
function broadcast(from: string, to: string, count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = createSocket("udp4");
    s.on("error", reject);
    s.bind({ address: from }, () => {
      s.setBroadcast(true);
      let left = count;
      const next = (err?: Error | null) => {
        if (err) return reject(err);
        if (left-- === 0) return s.close(() => resolve());
        s.send(Buffer.alloc(64), 9, to, next);
      };
      next();
    });
  });
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat (fields 14 and 15, in clock ticks of 1/100 s). */
async function processCpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

describe("virt collector, two real TCG guests", () => {
  let lv: Libvirtd;
  let guests: TinyGuests;
  beforeAll(async () => {
    lv = await startLibvirtd({ qemu: true });
    guests = await startTinyGuests(lv, 2);
  }, 120_000);
  afterAll(async () => {
    await guests?.stop();
    await lv?.stop();
  }, 60_000);

  it("decodes every stats group and agrees with the QEMU processes' own CPU time", async () => {
    const c = await create(spec({ libvirt: { socket: lv.roSocket, uri: "qemu:///system", timeout: "10s" } }));
    const cpuBefore = await Promise.all(guests.guests.map((g) => processCpuSeconds(g.pid)));
    const t0 = Date.now();
    const first = await c.collect();
    expect(first.errors).toEqual([]);
    await new Promise((r) => setTimeout(r, 4000));
    const second = await c.collect();
    const cpuAfter = await Promise.all(guests.guests.map((g) => processCpuSeconds(g.pid)));
    const wall = (Date.now() - t0) / 1000;

    for (const [i, g] of guests.guests.entries()) {
      const name = g.name;
      expect(of(second, "vm.state", name)[0]?.labels).toEqual({ state: "running" });
      expect(of(second, "vm.info", name)[0]?.labels).toEqual({ "vnf.id": `vnf-${i}` });
      const vcpus = of(second, "vm.vcpu.count", name)[0]?.value ?? 0;
      expect(vcpus).toBe(2);
      // Percent of one host CPU: the VM's figure is normalised by its vCPUs, the process figure is not.
      const vesmon = (of(second, "vm.cpu.percent", name)[0]?.value ?? Number.NaN) * vcpus;
      const proc = ((cpuAfter[i]! - cpuBefore[i]!) / wall) * 100;
      expect(
        Math.abs(vesmon - proc),
        `vesmon ${vesmon.toFixed(2)} % vs /proc ${proc.toFixed(2)} %`,
      ).toBeLessThan(3);
      expect(of(second, "vm.vcpu.percent", name)).toHaveLength(2);
      expect(of(second, "vm.vcpu.steal.percent", name)).toHaveLength(2);
      for (const metric of [
        "vm.memory.configured",
        "vm.memory.rss",
        "vm.memory.used",
        "vm.memory.free",
        "vm.memory.used.percent",
      ])
        expect(of(second, metric, name), metric).toHaveLength(1);
      expect(of(second, "vm.memory.configured", name)[0]?.value).toBe(64 * 1024 * 1024);
      for (const metric of [
        "vm.interface.rx.bytes",
        "vm.interface.tx.bytes",
        "vm.interface.rx.packets.total",
      ])
        expect(of(second, metric, name)[0]?.labels, metric).toEqual({ interface: g.tap });
      for (const metric of [
        "vm.disk.read.ops",
        "vm.disk.read.bytes",
        "vm.disk.read.latency",
        "vm.disk.capacity",
      ])
        expect(of(second, metric, name)[0]?.labels, metric).toEqual({ disk: "vda" });
      const own = second.samples.filter((s) => s.source.kind === "vm" && s.source.name === name);
      expect(own.every((s) => Number.isFinite(s.value) && s.value >= 0)).toBe(true);
    }
  }, 60_000);

  it("takes vNIC counters from the host side of each tap, turned to the guest's view as libvirt's interface group gives them", async () => {
    const c = await create(spec({ libvirt: { socket: lv.roSocket, uri: "qemu:///system", timeout: "10s" } }));
    const client = new LibvirtClient({ socketPath: lv.roSocket, uri: "qemu:///system" });
    await client.connect();
    try {
      const sys = async (tap: string, f: string) =>
        Number(await readFile(`/sys/class/net/${tap}/statistics/${f}`, "utf8"));
      const read = () =>
        Promise.all(
          guests.guests.map(async (g) => ({
            rxBytes: await sys(g.tap, "rx_bytes"),
            txBytes: await sys(g.tap, "tx_bytes"),
            txDropped: await sys(g.tap, "tx_dropped"),
          })),
        );
      const first = await c.collect();
      const before = await read();
      // The guests run no NIC driver, so QEMU never reads its tap: what the host sends out of a tap fills tun's
      // queue and the rest is dropped there (the tap's tx_dropped), which the guest sees as its rx drops.
      for (const [i, g] of guests.guests.entries()) {
        const net = `10.${78 + i}.${process.pid % 250}`;
        await execFileP("ip", ["addr", "add", `${net}.1/24`, "dev", g.tap]);
        await broadcast(`${net}.1`, `${net}.255`, 1500);
      }
      await new Promise((r) => setTimeout(r, 300));
      const second = await c.collect();
      const lib = (await client.getAllDomainStats(StatsGroup.interface)).map(parseDomainStats);
      const after = await read();
      expect(second.errors).toEqual([]);
      const seconds = (second.time - first.time) / 1000;
      for (const [i, g] of guests.guests.entries()) {
        const [b, a] = [before[i]!, after[i]!];
        const figure = (m: string) => of(second, m, g.name).find((s) => s.labels?.interface === g.tap)?.value;
        const dropped = a.txDropped - b.txDropped;
        expect(dropped, `${g.tap}: no frame dropped in tun's queue`).toBeGreaterThan(0);
        // The guest's rx drops are the tap's tx drops; its tx drops stay 0.
        expect((figure("vm.interface.rx.dropped") ?? Number.NaN) * seconds).toBeCloseTo(dropped, 3);
        expect(figure("vm.interface.tx.dropped")).toBe(0);
        expect(figure("vm.interface.rx.bytes.total"), "guest rx = tap tx").toBe(a.txBytes);
        expect(figure("vm.interface.tx.bytes.total"), "guest tx = tap rx").toBe(a.rxBytes);
        // libvirt turns the tap's counters the same way (its interface group, asked directly here).
        const nic = lib.find((d) => d.uuid === g.uuid)?.nics.find((n) => n.name === g.tap);
        expect({ drop: nic?.rx.drop, bytes: nic?.rx.bytes }, "libvirt's guest rx").toEqual({
          drop: BigInt(a.txDropped),
          bytes: BigInt(a.txBytes),
        });
      }
    } finally {
      await client.close();
    }
  }, 60_000);
});
