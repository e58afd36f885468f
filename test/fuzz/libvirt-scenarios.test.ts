// The libvirt client against a fake daemon on a real UNIX socket that misbehaves in every way found so far: a
// corrupt event that used to crash the agent, a length word followed by silence that used to wedge the connection
// for good, impossible lengths, garbage, hang-ups mid-packet, wrong headers, bodies that lie about their sizes,
// and packets that trickle in or never end. Each must give the caller a typed error, break the connection,
// and leave a client whose next connection works. No lock: no real libvirtd is involved.
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { LibvirtClient, type LifecycleEventInfo } from "../../agent/libvirt/client.ts";
import { LibvirtConnectionError, LibvirtTimeoutError } from "../../agent/libvirt/errors.ts";
import { LibvirtHealthRegistry } from "../../agent/libvirt/health.ts";
import { MessageType, Proc } from "../../agent/libvirt/protocol.ts";
import {
  capturedPackets,
  type FakeConnection,
  type FakeLibvirtd,
  lifecycleMessage,
  startFakeLibvirtd,
  withSerial,
} from "../helpers/fake-libvirtd.ts";
import { prng, randomBytes, u32 } from "../helpers/prng.ts";

let fake: FakeLibvirtd;
const clients: LibvirtClient[] = [];
const stopDrips: (() => void)[] = [];

const CALL_TIMEOUT = 600;
function client(): LibvirtClient {
  const c = new LibvirtClient({
    socketPath: fake.socket,
    callTimeout: CALL_TIMEOUT,
    // Five missed pings: a never-ending packet is caught by its time bound (600 ms) before keepalive (1.8 s).
    keepalive: { interval: 300, count: 5 },
    reconnect: { initial: 20, max: 200 },
    health: new LibvirtHealthRegistry(),
  });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  fake = await startFakeLibvirtd();
});
afterEach(async () => {
  fake.handler = undefined;
  for (const stop of stopDrips.splice(0)) stop();
  for (const c of clients.splice(0)) await c.close();
});
afterAll(async () => {
  await fake?.close();
});

/** Writes `bytes` in pieces of `size` every `everyMs` until the socket closes or the test ends. */
function drip(conn: FakeConnection, bytes: Buffer, size: number, everyMs: number) {
  conn.silent = true;
  let at = 0;
  const timer = setInterval(() => {
    if (conn.socket.destroyed || at >= bytes.length) return clearInterval(timer);
    conn.write(bytes.subarray(at, at + size));
    at += size;
  }, everyMs);
  stopDrips.push(() => clearInterval(timer));
}

/** Takes over the next GET_ALL_DOMAIN_STATS call only; everything else is answered as libvirtd would. */
function onStats(inject: (serial: number, conn: FakeConnection, reply: Buffer) => void): void {
  let done = false;
  fake.handler = (call, conn) => {
    if (done || call.header.proc !== Proc.CONNECT_GET_ALL_DOMAIN_STATS) return false;
    done = true;
    // A daemon that sabotaged a reply answers nothing else on that connection, not even keepalive: a real
    // one never puts a packet inside a half-written one.
    conn.silent = true;
    inject(call.header.serial, conn, withSerial(statsReply, call.header.serial));
    return true;
  };
}

const statsReply = capturedPackets().find(
  (p) => p.direction === "rx" && p.proc === Proc.CONNECT_GET_ALL_DOMAIN_STATS,
)!.bytes;

/** A copy of `packet` with the 32-bit word at `offset` replaced. */
const patch = (packet: Buffer, offset: number, value: number) => {
  const out = Buffer.from(packet);
  out.writeUInt32BE(value >>> 0, offset);
  return out;
};

/** Within a bounded time the client has a new connection on which a call succeeds. */
async function recovers(c: LibvirtClient, ms = 15_000): Promise<number> {
  const until = Date.now() + ms;
  let last: unknown;
  while (Date.now() < until) {
    try {
      return (await c.getAllDomainStats()).length;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`no successful call within ${ms} ms; last error: ${(last as Error)?.message}`);
}

const typed = (err: unknown) => err instanceof LibvirtConnectionError || err instanceof LibvirtTimeoutError;

const random = prng(0x13);
// The offset of the first record's domain-name length in the captured stats reply: header, then the array count.
const FIRST_NAME_LENGTH = 28 + 4;

const replyScenarios: {
  name: string;
  inject: (serial: number, conn: FakeConnection, reply: Buffer) => void;
  reason: string;
}[] = [
  {
    name: "a length word of 32 MiB, then silence",
    inject: (_s, c) => c.write(u32(32 * 1024 * 1024)),
    reason: "stalled",
  },
  { name: "length 0", inject: (_s, c) => c.write(u32(0)), reason: "protocol" },
  {
    name: "length 12",
    inject: (_s, c) => c.write(Buffer.concat([u32(12), Buffer.alloc(8)])),
    reason: "protocol",
  },
  { name: "length 0xffffffff", inject: (_s, c) => c.write(u32(0xffffffff)), reason: "protocol" },
  { name: "random bytes", inject: (_s, c) => c.write(randomBytes(random, 300)), reason: "protocol" },
  {
    name: "a close mid-packet",
    inject: (_s, c, reply) => {
      c.write(reply.subarray(0, reply.length >> 1));
      setTimeout(() => c.socket.destroy(), 20);
    },
    reason: "closed",
  },
  {
    name: "a wrong program",
    inject: (_s, c, reply) => c.write(patch(reply, 4, 0x20008087)),
    reason: "protocol",
  },
  {
    name: "a wrong serial",
    inject: (s, c, reply) => c.write(patch(reply, 20, s + 1000)),
    reason: "protocol",
  },
  {
    name: "a wrong type (CALL)",
    inject: (_s, c, reply) => c.write(patch(reply, 16, MessageType.CALL)),
    reason: "protocol",
  },
  {
    name: "a wrong type (STREAM)",
    inject: (_s, c, reply) => c.write(patch(reply, 16, MessageType.STREAM)),
    reason: "protocol",
  },
  {
    name: "a wrong procedure",
    inject: (_s, c, reply) => c.write(patch(reply, 12, Proc.DOMAIN_GET_XML_DESC)),
    reason: "protocol",
  },
  { name: "status CONTINUE", inject: (_s, c, reply) => c.write(patch(reply, 24, 2)), reason: "protocol" },
  {
    name: "a string past the buffer",
    inject: (_s, c, reply) => c.write(patch(reply, FIRST_NAME_LENGTH, 0x7ffffff0)),
    reason: "protocol",
  },
  {
    name: "a string longer than what is left, under the string limit",
    inject: (_s, c, reply) => c.write(patch(reply, FIRST_NAME_LENGTH, 4096)),
    reason: "protocol",
  },
  {
    name: "an array past the buffer",
    inject: (_s, c, reply) => c.write(patch(reply, 28, 5000)),
    reason: "protocol",
  },
  {
    name: "an array over its bound",
    inject: (_s, c, reply) => c.write(patch(reply, 28, 0x7fffffff)),
    reason: "protocol",
  },
  {
    name: "bytes after the payload",
    inject: (_s, c, reply) => {
      const longer = Buffer.concat([reply, Buffer.alloc(8)]);
      c.write(patch(longer, 0, longer.length));
    },
    reason: "protocol",
  },
  {
    name: "a slow drip of 1 byte per 100 ms",
    inject: (_s, c, reply) => drip(c, reply, 1, 100),
    reason: "stalled",
  },
  {
    name: "a reply that never ends",
    inject: (_s, c) =>
      drip(c, Buffer.concat([u32(32 * 1024 * 1024), Buffer.alloc(32 * 1024 * 1024 - 4)]), 512, 10),
    reason: "stalled",
  },
];

describe("libvirt client against a misbehaving daemon on a real socket", () => {
  it.each(replyScenarios)("a stats reply with $name: typed error, reconnect, next call works", async (s) => {
    const c = client();
    await c.connect();
    const before = fake.accepted;
    onStats(s.inject);
    const err = await c.getAllDomainStats().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(typed(err), String(err)).toBe(true);
    expect(await recovers(c)).toBe(1);
    expect(fake.accepted).toBeGreaterThan(before);
    expect(c.health().lastError?.reason).toBe(s.reason);
    expect(c.health().reconnects).toBeGreaterThanOrEqual(1);
  });

  /** A connected client subscribed to lifecycle events, and the events it got. */
  async function subscribed() {
    const c = client();
    await c.connect();
    const events: LifecycleEventInfo[] = [];
    await c.onLifecycle((e) => events.push(e));
    return { c, events };
  }

  it.each([
    { name: "40 random bytes", body: () => randomBytes(prng(40), 40) },
    { name: "only the callback id", body: () => u32(0) },
    {
      name: "a domain name of 2473158667 bytes",
      body: () => Buffer.concat([u32(0), u32(2473158667), Buffer.alloc(32)]),
    },
  ])(
    "a lifecycle event with $name breaks the connection, and events resume on the next",
    async ({ body }) => {
      const { c, events } = await subscribed();
      const before = fake.accepted;
      for (const conn of fake.connections) conn.write(lifecycleMessage(body()));
      await fake.waitForConnections(before + 1);
      expect(await recovers(c)).toBe(1);
      expect(c.health().lastError?.reason).toBe("protocol");
      fake.lifecycleEvent();
      const until = Date.now() + 5000;
      while (events.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      expect(events.map((e) => e.event)).toEqual(["suspended"]);
    },
  );

  it("a corrupt event in the same chunk as a valid stats reply fails that call with a typed error", async () => {
    const { c } = await subscribed();
    onStats((_s, conn, reply) =>
      conn.write(Buffer.concat([lifecycleMessage(randomBytes(prng(7), 40)), reply])),
    );
    const err = await c.getAllDomainStats().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LibvirtConnectionError);
    expect(await recovers(c)).toBe(1);
  });

  it("gives up on a packet that trickles in while no call waits, within the keepalive interval", async () => {
    const c = client();
    await c.connect();
    const before = fake.accepted;
    drip(fake.connections.at(-1)!, Buffer.concat([u32(4096), Buffer.alloc(4092)]), 1, 20);
    await fake.waitForConnections(before + 1);
    expect(c.health().lastError?.reason).toBe("stalled");
    expect(await recovers(c)).toBe(1);
  });

  it("logs one warning for a daemon that breaks every connection, and one line once a call works again", async () => {
    const lines: { level: number; msg: string; reason?: string; attempts?: number }[] = [];
    const log = pino({ level: "debug" }, { write: (l: string) => lines.push(JSON.parse(l)) });
    const c = new LibvirtClient({
      socketPath: fake.socket,
      callTimeout: CALL_TIMEOUT,
      reconnect: { initial: 20, max: 100 },
      health: new LibvirtHealthRegistry(),
      log,
    });
    clients.push(c);
    await c.connect();
    const before = fake.accepted;
    // Every connection gets a corrupt event right after its handshake, five times over.
    let breaks = 0;
    fake.handler = (call, conn) => {
      if (call.header.proc !== Proc.CONNECT_OPEN || breaks >= 5) return false;
      breaks++;
      conn.reply(call);
      setTimeout(() => conn.write(lifecycleMessage(u32(0))), 5);
      return true;
    };
    for (const conn of fake.connections) conn.write(lifecycleMessage(u32(0)));
    // Six handshakes in a row: generous on a loaded machine.
    await fake.waitForConnections(before + 6, 45_000).catch((err: Error) => {
      throw new Error(`${err.message}; log: ${JSON.stringify(lines)}`);
    });
    expect(await recovers(c)).toBe(1);
    const info = lines.filter((l) => l.level >= 30).map((l) => [l.msg, l.reason]);
    expect(info).toEqual([
      ["libvirt connection lost; reconnecting", "protocol"],
      ["libvirt connection restored", undefined],
    ]);
    expect(lines.filter((l) => l.msg === "libvirt connection lost again; reconnecting").length).toBe(5);
  }, 60_000);
});
