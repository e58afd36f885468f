import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LibvirtClient, type LifecycleEventInfo } from "../../agent/libvirt/client.ts";
import { RpcConnection } from "../../agent/libvirt/connection.ts";
import {
  LibvirtConnectionError,
  LibvirtError,
  VIR_ERR_NO_DOMAIN,
  VIR_ERR_OPERATION_DENIED,
} from "../../agent/libvirt/errors.ts";
import {
  CONNECT_RO,
  KEEPALIVE_PROGRAM,
  KeepaliveProc,
  Proc,
  StatsGroup,
} from "../../agent/libvirt/protocol.ts";
import { payload, writeDomain } from "../../agent/libvirt/remote.ts";
import { type Libvirtd, startLibvirtd } from "../helpers/libvirtd.ts";
import { recordingDialer } from "../helpers/recording-dial.ts";

// Against a real libvirtd (Debian's libvirt 9.0) serving the test driver through its own sockets.
let lv: Libvirtd;
const clients: LibvirtClient[] = [];
const client = (opts: ConstructorParameters<typeof LibvirtClient>[0] = {}) => {
  const c = new LibvirtClient({
    socketPath: lv.roSocket,
    uri: "test:///default",
    reconnect: { initial: 50, max: 500 },
    ...opts,
  });
  clients.push(c);
  return c;
};

/** Resolves with the first events matching `count`, or rejects after `ms`. */
function collectEvents(c: LibvirtClient, count: number, ms = 10_000) {
  const events: LifecycleEventInfo[] = [];
  let unsubscribe: (() => Promise<void>) | undefined;
  const done = new Promise<LifecycleEventInfo[]>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`only got ${JSON.stringify(events.map((e) => e.event))}`)),
      ms,
    );
    c.onLifecycle((e) => {
      events.push(e);
      if (events.length === count) {
        clearTimeout(timer);
        resolve(events);
      }
    }).then((u) => {
      unsubscribe = u;
    });
  });
  return { done, unsubscribe: () => unsubscribe?.() };
}

beforeAll(async () => {
  lv = await startLibvirtd();
});

afterAll(async () => {
  for (const c of clients) await c.close();
  await lv?.stop();
});

describe("LibvirtClient against libvirtd with the test driver", () => {
  it("opens read-only and reads the version, domains, state and XML", async () => {
    const c = client();
    await c.connect();
    expect(await c.libVersion()).toBe(9000000n);
    const domains = await c.listAllDomains();
    expect(domains).toEqual([{ name: "test", uuid: expect.stringMatching(/^[0-9a-f-]{36}$/), id: 1 }]);
    const stats = await c.getAllDomainStats(StatsGroup.state);
    expect(stats[0]?.params).toEqual([
      { field: "state.state", type: "int", value: 1 },
      { field: "state.reason", type: "int", value: expect.any(Number) },
    ]);
    expect(await c.getXmlDesc(domains[0]!)).toMatch(/<name>test<\/name>/);
  });

  it("returns the <metadata> of a domain defined with one", async () => {
    const file = join(lv.dir, "nodes.xml");
    await writeFile(
      file,
      `<node><domain type='test'><name>vnf-a</name><uuid>11111111-2222-4333-8444-555555555555</uuid>
<metadata><vnf xmlns='urn:example:ves'><id>vnf-7</id></vnf></metadata>
<memory unit='KiB'>1048576</memory><vcpu>2</vcpu><os><type arch='i686'>hvm</type></os></domain></node>`,
    );
    const c = client({ uri: `test://${file}` });
    await c.connect();
    const [dom] = await c.listAllDomains();
    expect(dom).toMatchObject({ name: "vnf-a", uuid: "11111111-2222-4333-8444-555555555555" });
    expect(await c.getXmlDesc(dom!)).toMatch(/<metadata>\s*<vnf xmlns="urn:example:ves">\s*<id>vnf-7<\/id>/);
  });

  it("reports lifecycle events caused from a second connection", async () => {
    const c = client();
    await c.connect();
    const { done, unsubscribe } = collectEvents(c, 4);
    await new Promise((r) => setTimeout(r, 100));
    for (const cmd of ["suspend", "resume", "destroy", "start"])
      await lv.virsh("test:///default", cmd, "test");
    const events = await done;
    expect(events.map((e) => [e.domain.name, e.event])).toEqual([
      ["test", "suspended"],
      ["test", "resumed"],
      ["test", "stopped"],
      ["test", "started"],
    ]);
    await unsubscribe();
  });

  it("answers an error reply with a typed LibvirtError", async () => {
    const c = client();
    await c.connect();
    const err = await c
      .getXmlDesc({ name: "nope", uuid: "00000000-0000-0000-0000-000000000001", id: -1 })
      .catch((e) => e);
    expect(err).toBeInstanceOf(LibvirtError);
    expect(err).toMatchObject({ code: VIR_ERR_NO_DOMAIN, proc: Proc.DOMAIN_GET_XML_DESC });
    expect(err.message).toMatch(/Domain not found/);
    expect(await c.libVersion()).toBe(9000000n);
  });

  it("is refused writes on the read-only socket", async () => {
    const conn = await RpcConnection.open({ socketPath: lv.roSocket, keepalive: false });
    try {
      await conn.call(Proc.AUTH_LIST);
      await conn.call(
        Proc.CONNECT_OPEN,
        payload((w) => w.optional("test:///default", (x, u) => x.string(u)).uint(CONNECT_RO)),
      );
      const [dom] = (
        await conn.call(
          Proc.CONNECT_LIST_ALL_DOMAINS,
          payload((w) => w.int(1).uint(0)),
        )
      ).array((r) => ({ name: r.string(), uuid: r.fixedOpaque(16).toString("hex"), id: r.int() }), 10);
      const DOMAIN_DESTROY = 12;
      const err = await conn
        .call(
          DOMAIN_DESTROY,
          payload((w) =>
            writeDomain(w, { ...dom!, uuid: dom!.uuid.replace(/^(.{8})(.{4})(.{4})(.{4})/, "$1-$2-$3-$4-") }),
          ),
        )
        .catch((e) => e);
      expect(err, JSON.stringify({ code: err.code, domain: err.domain })).toMatchObject({
        name: "LibvirtError",
        code: VIR_ERR_OPERATION_DENIED,
      });
      expect(err.message).toMatch(/read only access prevents virDomainDestroy/);
    } finally {
      conn.close();
    }
  });

  it("gets keepalive PINGs after advertising the feature, and answers them", async () => {
    const rec = recordingDialer();
    const c = client({ dial: rec.dial });
    await c.connect();
    await new Promise((r) => setTimeout(r, 6000));
    const keepalive = rec.packets.filter((p) => p.header.prog === KEEPALIVE_PROGRAM);
    expect(
      keepalive.filter((p) => p.direction === "rx" && p.header.proc === KeepaliveProc.PING).length,
    ).toBeGreaterThanOrEqual(1);
    expect(
      keepalive.filter((p) => p.direction === "tx" && p.header.proc === KeepaliveProc.PONG).length,
    ).toBeGreaterThanOrEqual(1);
    expect(c.connected).toBe(true);
  }, 15_000);

  it("survives a daemon restart: reconnects and re-registers its lifecycle callback", async () => {
    const c = client();
    const states: string[] = [];
    c.onState((s) => states.push(s));
    await c.connect();
    const before = collectEvents(c, 1);
    await new Promise((r) => setTimeout(r, 100));
    await lv.virsh("test:///default", "suspend", "test");
    await before.done;
    await before.unsubscribe();

    const after = collectEvents(c, 1, 15_000);
    await lv.restart();
    const until = Date.now() + 10_000;
    while (!c.connected && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(states).toEqual(["connected", "disconnected", "connected"]);
    await expect(c.libVersion()).resolves.toBe(9000000n);
    await lv.virsh("test:///default", "suspend", "test");
    expect((await after.done).map((e) => e.event)).toEqual(["suspended"]);
  }, 30_000);

  it("fails calls at once while disconnected, naming the socket", async () => {
    const c = client({ socketPath: join(lv.dir, "run", "no-such-sock") });
    await expect(c.connect()).rejects.toBeInstanceOf(LibvirtConnectionError);
    await expect(c.listAllDomains()).rejects.toThrow(/not connected to libvirt at .*no-such-sock/);
  });
});
