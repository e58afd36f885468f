import type { Duplex } from "node:stream";
import { duplexPair } from "node:stream";
import { describe, expect, it } from "vitest";
import { ManualTimers } from "../../test/helpers/manual-timers.ts";
import { RpcConnection } from "./connection.ts";
import { LibvirtConnectionError, LibvirtError, LibvirtTimeoutError } from "./errors.ts";
import {
  decodeHeader,
  encodePacket,
  HEADER_SIZE,
  type Header,
  KEEPALIVE_PROGRAM,
  KeepaliveProc,
  MessageType,
  PacketSplitter,
  REMOTE_PROGRAM,
} from "./protocol.ts";
import { payload, writeRemoteError } from "./remote.ts";

/** An in-process daemon end: records what the client sent and lets the test answer. */
function fakeDaemon() {
  const [client, server] = duplexPair();
  const received: { header: Header; body: Buffer }[] = [];
  const splitter = new PacketSplitter();
  const waiters: (() => void)[] = [];
  server.on("data", (chunk: Buffer) => {
    for (const p of splitter.push(chunk))
      received.push({ header: decodeHeader(p), body: p.subarray(HEADER_SIZE) });
    for (const w of waiters.splice(0)) w();
  });
  const reply = (to: Header, body?: Buffer, status = 0) =>
    server.write(encodePacket({ ...to, type: MessageType.REPLY, status }, body));
  const until = async (n: number) => {
    while (received.length < n) await new Promise<void>((r) => waiters.push(r));
  };
  return { client, server, received, reply, until };
}

async function open(
  stream: Duplex,
  timers = new ManualTimers(),
  keepalive: { interval: number; count: number } | false = false,
) {
  const pending = RpcConnection.open({ socketPath: "/fake", dial: () => stream, timers, keepalive });
  stream.emit("connect");
  return { conn: await pending, timers };
}

describe("RpcConnection", () => {
  it("matches overlapping calls to replies that come back out of order", async () => {
    const d = fakeDaemon();
    const { conn } = await open(d.client);
    const a = conn.call(157);
    const b = conn.call(
      273,
      payload((w) => w.int(1).uint(0)),
    );
    await d.until(2);
    expect(d.received.map((m) => [m.header.proc, m.header.serial])).toEqual([
      [157, 1],
      [273, 2],
    ]);
    d.reply(
      d.received[1]!.header,
      payload((w) => w.uint(0).uint(0)),
    );
    d.reply(
      d.received[0]!.header,
      payload((w) => w.uhyper(9000000n)),
    );
    expect((await a).uhyper()).toBe(9000000n);
    expect((await b).uint()).toBe(0);
    conn.close();
  });

  it("turns an error reply into a LibvirtError and keeps the connection", async () => {
    const d = fakeDaemon();
    const { conn } = await open(d.client);
    const call = conn.call(14);
    await d.until(1);
    const err = payload((w) =>
      writeRemoteError(w, {
        code: 29,
        domain: 10,
        message: "operation forbidden: read only access prevents virDomainDestroy",
        level: 2,
        dom: null,
        str1: null,
        str2: null,
        str3: null,
        int1: -1,
        int2: -1,
        net: null,
      }),
    );
    d.reply(d.received[0]!.header, err, 1);
    await expect(call).rejects.toMatchObject({ name: "LibvirtError", code: 29, domain: 10, proc: 14 });
    await expect(call).rejects.toBeInstanceOf(LibvirtError);
    expect(conn.closed).toBe(false);
    conn.close();
  });

  it("times a call out without closing the connection, and ignores the late reply", async () => {
    const d = fakeDaemon();
    const { conn, timers } = await open(d.client);
    const call = conn.call(157, undefined, { timeout: 1000 });
    await d.until(1);
    timers.advance(1000);
    await expect(call).rejects.toBeInstanceOf(LibvirtTimeoutError);
    d.reply(
      d.received[0]!.header,
      payload((w) => w.uhyper(1n)),
    );
    const next = conn.call(157);
    await d.until(2);
    d.reply(
      d.received[1]!.header,
      payload((w) => w.uhyper(2n)),
    );
    expect((await next).uhyper()).toBe(2n);
    conn.close();
  });

  it("answers the daemon's PING with a PONG", async () => {
    const d = fakeDaemon();
    const { conn } = await open(d.client);
    d.server.write(
      encodePacket({
        prog: KEEPALIVE_PROGRAM,
        vers: 1,
        proc: KeepaliveProc.PING,
        type: MessageType.MESSAGE,
        serial: 0,
        status: 0,
      }),
    );
    await d.until(1);
    expect(d.received[0]!.header).toMatchObject({
      prog: KEEPALIVE_PROGRAM,
      proc: KeepaliveProc.PONG,
      type: MessageType.MESSAGE,
    });
    conn.close();
  });

  it("pings a silent daemon and declares it dead after `count` unanswered pings", async () => {
    const d = fakeDaemon();
    const { conn, timers } = await open(d.client, new ManualTimers(), { interval: 5000, count: 3 });
    const closed = new Promise<Error>((r) => conn.onClose(r));
    const call = conn.call(157, undefined, { timeout: 60_000 });
    await d.until(1);
    for (let i = 0; i < 3; i++) timers.advance(5000);
    await d.until(4);
    expect(d.received.slice(1).map((m) => m.header.proc)).toEqual([
      KeepaliveProc.PING,
      KeepaliveProc.PING,
      KeepaliveProc.PING,
    ]);
    timers.advance(5000);
    const err = await closed;
    expect(err).toBeInstanceOf(LibvirtConnectionError);
    expect(err.message).toMatch(/did not answer 3 keepalive pings/);
    await expect(call).rejects.toBe(err);
  });

  it("keeps a daemon that answers", async () => {
    const d = fakeDaemon();
    const { conn, timers } = await open(d.client, new ManualTimers(), { interval: 5000, count: 2 });
    for (let i = 0; i < 10; i++) {
      timers.advance(5000);
      await d.until(i + 1);
      d.server.write(
        encodePacket({
          prog: KEEPALIVE_PROGRAM,
          vers: 1,
          proc: KeepaliveProc.PONG,
          type: MessageType.MESSAGE,
          serial: 0,
          status: 0,
        }),
      );
      await new Promise((r) => setImmediate(r));
    }
    expect(conn.closed).toBe(false);
    conn.close();
  });

  it("delivers asynchronous messages to subscribers", async () => {
    const d = fakeDaemon();
    const { conn } = await open(d.client);
    const got = new Promise<number>((resolve) => conn.onMessage((m) => resolve(m.payload.int())));
    d.server.write(
      encodePacket(
        { prog: REMOTE_PROGRAM, vers: 1, proc: 318, type: MessageType.MESSAGE, serial: 0, status: 0 },
        payload((w) => w.int(42)),
      ),
    );
    expect(await got).toBe(42);
    conn.close();
  });

  it("fails pending calls when the daemon hangs up, and refuses new ones", async () => {
    const d = fakeDaemon();
    const { conn } = await open(d.client);
    const call = conn.call(157);
    await d.until(1);
    d.server.end();
    await expect(call).rejects.toBeInstanceOf(LibvirtConnectionError);
    await expect(conn.call(157)).rejects.toBeInstanceOf(LibvirtConnectionError);
  });

  it("closes on a corrupt stream instead of guessing", async () => {
    const d = fakeDaemon();
    const { conn } = await open(d.client);
    const closed = new Promise<Error>((r) => conn.onClose(r));
    d.server.write(Buffer.from("00000002", "hex"));
    expect((await closed).message).toMatch(/invalid libvirt packet length 2/);
  });

  it("still pings while bytes trickle in without completing a packet, then gives up on the packet", async () => {
    const d = fakeDaemon();
    const { conn, timers } = await open(d.client, new ManualTimers(), { interval: 5000, count: 5 });
    const closed = new Promise<Error>((r) => conn.onClose(r));
    const call = conn.call(157, undefined, { timeout: 20_000 });
    await d.until(1);
    const partial = encodePacket(
      { ...d.received[0]!.header, type: MessageType.REPLY, status: 0 },
      payload((w) => w.uhyper(1n)),
    );
    for (let i = 0; i < 6; i++) {
      d.server.write(partial.subarray(i, i + 1));
      await new Promise((r) => setImmediate(r));
      timers.advance(1000);
    }
    await d.until(2);
    expect(d.received[1]!.header).toMatchObject({ prog: KEEPALIVE_PROGRAM, proc: KeepaliveProc.PING });
    // The connection's call timeout (10 s) bounds the packet: it breaks before the call's own 20 s run out.
    timers.advance(10_000);
    await expect(call).rejects.toMatchObject({ name: "LibvirtConnectionError", reason: "stalled" });
    expect((await closed).message).toMatch(/packet incomplete after 10000 ms: 6 of 36 bytes arrived/);
  });

  it("breaks on a reply no call is waiting for, failing the calls in flight", async () => {
    const d = fakeDaemon();
    const { conn } = await open(d.client);
    const call = conn.call(157);
    await d.until(1);
    d.reply(
      { ...d.received[0]!.header, serial: 99 },
      payload((w) => w.uhyper(1n)),
    );
    await expect(call).rejects.toMatchObject({ name: "LibvirtProtocolError", reason: "protocol" });
    expect(conn.closed).toBe(true);
  });

  it("breaks on a reply that does not decode, instead of handing the caller a decoding error", async () => {
    const d = fakeDaemon();
    const { conn } = await open(d.client);
    const call = conn.call(157, undefined, { decode: (r) => r.string() });
    await d.until(1);
    d.reply(
      d.received[0]!.header,
      payload((w) => w.uint(1000)),
    );
    await expect(call).rejects.toMatchObject({ name: "LibvirtProtocolError" });
    await expect(call).rejects.toBeInstanceOf(LibvirtConnectionError);
    expect(conn.closed).toBe(true);
  });

  it("names the socket when it cannot connect", async () => {
    await expect(RpcConnection.open({ socketPath: "/nonexistent/libvirt-sock-ro" })).rejects.toThrow(
      /cannot connect to libvirt at \/nonexistent\/libvirt-sock-ro: .*ENOENT/,
    );
  });
});
