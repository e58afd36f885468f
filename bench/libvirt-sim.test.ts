import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDomainXml } from "../agent/collectors/domain-xml.ts";
import { createCollectorRegistry } from "../agent/collectors/index.ts";
import { LibvirtClient } from "../agent/libvirt/client.ts";
import { LibvirtError } from "../agent/libvirt/errors.ts";
import { decodeHeader, HEADER_SIZE, Proc } from "../agent/libvirt/protocol.ts";
import { type DomainStatsRecord, readStatsRecord } from "../agent/libvirt/remote.ts";
import { XdrReader } from "../agent/libvirt/xdr.ts";
import { METRICS } from "../api/v1alpha1/metrics.ts";
import { FIXTURE_ROOT, testEnv } from "../test/helpers/collector-env.ts";
import { LibvirtSim, startSimulator } from "./libvirt-sim.ts";

// The real stats record of one QEMU guest from libvirtd 9.0, the shape the simulator must reproduce.
function fixtureRecord(): DomainStatsRecord {
  const { captured } = JSON.parse(readFileSync(join(FIXTURE_ROOT, "libvirt/packets.json"), "utf8")) as {
    captured: { label: string; direction: string; proc: number; hex: string }[];
  };
  const p = captured.find((c) => c.label === "all-domain-stats" && c.direction === "rx");
  const bytes = Buffer.from(p!.hex, "hex");
  expect(decodeHeader(bytes).proc).toBe(Proc.CONNECT_GET_ALL_DOMAIN_STATS);
  return new XdrReader(bytes, HEADER_SIZE).array(readStatsRecord, 16)[0]!;
}
const shape = (r: DomainStatsRecord) => r.params.map((p) => `${p.field}:${p.type}`);

let dir: string;
const clock = { now: Date.now() };
const clients: LibvirtClient[] = [];
async function client(socketPath: string, opts: ConstructorParameters<typeof LibvirtClient>[0] = {}) {
  const c = new LibvirtClient({ socketPath, ...opts });
  clients.push(c);
  await c.connect();
  return c;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "vesmon-sim-test-"));
});
afterAll(async () => {
  for (const c of clients) await c.close();
  await rm(dir, { recursive: true, force: true });
});

describe("simulated libvirt daemon, in-process", () => {
  const sim = new LibvirtSim({ domains: 3, now: () => clock.now });
  const socket = () => join(dir, "sim.sock");
  beforeAll(() => sim.listen(socket()));
  afterAll(() => sim.close());

  it("answers the real client: handshake, version, domains, XML, bulk stats", async () => {
    const c = await client(socket());
    expect(await c.libVersion()).toBe(9_000_000n);
    const doms = await c.listAllDomains();
    expect(doms.map((d) => d.name)).toEqual(sim.domains.map((d) => d.dom.name));
    const info = parseDomainXml(await c.getXmlDesc(doms[1]!));
    expect(info).toMatchObject({ name: doms[1]!.name, uuid: doms[1]!.uuid, partition: "/machine" });
    expect(info.metadata).toMatchObject({ "instance.name": sim.domains[1]!.displayName });
    const records = await c.getAllDomainStats();
    expect(records.map((r) => r.dom)).toEqual(doms);
    const nic = records[1]!.params.find((p) => p.field === "net.0.name")?.value;
    expect(await c.getXmlDesc(doms[1]!)).toContain(`<target dev='${nic}'`);
  });

  it("sends the fields and types a real libvirtd 9.0 QEMU guest has, in its order", async () => {
    const plain = new LibvirtSim({ domains: 1, guestBalloon: false });
    await plain.listen(join(dir, "plain.sock"));
    try {
      const [record] = await (await client(join(dir, "plain.sock"))).getAllDomainStats();
      expect(shape(record!)).toEqual(shape(fixtureRecord()));
    } finally {
      await plain.close();
    }
    // With the guest's balloon driver the balloon group carries its figures between maximum and rss.
    const [withDriver] = await (await client(socket())).getAllDomainStats();
    const balloon = shape(withDriver!).filter((f) => f.startsWith("balloon."));
    expect(balloon[0]).toBe("balloon.current:ullong");
    expect(balloon).toContain("balloon.usable:ullong");
    expect(balloon.at(-1)).toBe("balloon.rss:ullong");
  });

  it("moves counters with the clock at plausible rates, and only the groups asked for", async () => {
    const c = await client(socket());
    const field = (r: DomainStatsRecord[], f: string) =>
      Number(r[0]!.params.find((p) => p.field === f)?.value);
    const a = await c.getAllDomainStats(2 | 16);
    clock.now += 10_000;
    const b = await c.getAllDomainStats(2 | 16);
    expect(new Set(b[0]!.params.map((p) => p.field.split(".")[0]))).toEqual(new Set(["cpu", "net"]));
    const cpuPercent = (field(b, "cpu.time") - field(a, "cpu.time")) / 10 / 1e9 / 2;
    expect(cpuPercent).toBeGreaterThan(0);
    expect(cpuPercent).toBeLessThan(1);
    expect(field(b, "net.0.rx.bytes")).toBeGreaterThan(field(a, "net.0.rx.bytes"));
  });

  it("refuses an unknown domain as libvirtd does", async () => {
    const c = await client(socket());
    const err = await c
      .getXmlDesc({ name: "gone", uuid: "00000000-0000-4000-8000-000000000000", id: -1 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LibvirtError);
    expect(err).toMatchObject({ code: 42, domain: 10 });
  });

  it("keeps quiet connections alive both ways (PING/PONG)", async () => {
    // The daemon pings a client that does not ping (and drops it without PONGs) ...
    const pinging = new LibvirtSim({ domains: 1, keepalive: { interval: 100, count: 2 } });
    await pinging.listen(join(dir, "pinging.sock"));
    try {
      const pinged = await client(join(dir, "pinging.sock"), { keepalive: false });
      // ... and answers a client that pings a daemon which itself stays quiet (5 s by default).
      const pinger = await client(socket(), { keepalive: { interval: 100, count: 2 } });
      await new Promise((r) => setTimeout(r, 700));
      expect([pinged.connected, pinger.connected]).toEqual([true, true]);
      expect(await pinged.listAllDomains()).toHaveLength(1);
    } finally {
      await pinging.close();
    }
  });

  it("feeds the virt collector every catalogued vm.* metric for every domain", async () => {
    const factory = createCollectorRegistry().get("virt")!;
    const env = testEnv(undefined, clock);
    const collector = await factory.create(
      { name: "virt", interval: "1s", libvirt: { socket: socket(), uri: "qemu:///system", timeout: "5s" } },
      env,
    );
    try {
      await collector.collect();
      clock.now += 1000;
      const { samples, errors } = await collector.collect();
      expect(errors).toEqual([]);
      const names = new Set(sim.domains.map((d) => d.dom.name));
      for (const name of names) {
        const own = samples.filter((s) => s.source.kind === "vm" && s.source.name === name);
        const metrics = new Set(own.map((s) => s.metric));
        expect([...metrics].sort()).toEqual(
          METRICS.filter((m) => m.name.startsWith("vm."))
            .map((m) => m.name)
            .sort(),
        );
      }
    } finally {
      await collector.close();
    }
  });
});

describe("simulated libvirt daemon as its own process", () => {
  it("prints its ready line, serves, and is gone after stop", async () => {
    const socket = join(dir, "child.sock");
    const sim = await startSimulator({ socket, domains: 2 });
    try {
      const c = await client(socket);
      expect((await c.listAllDomains()).map((d) => d.name)).toEqual([
        "instance-00000001",
        "instance-00000002",
      ]);
      await c.close();
    } finally {
      await sim.stop();
    }
    expect(existsSync(socket)).toBe(false);
  });
});
