import { Duplex, duplexPair } from "node:stream";
import { describe, expect, it } from "vitest";
import { capturedPackets, withSerial } from "../../test/helpers/fake-libvirtd.ts";
import { ManualTimers } from "../../test/helpers/manual-timers.ts";
import { LibvirtClient } from "./client.ts";
import { LibvirtHealthRegistry } from "./health.ts";
import { decodeHeader, encodePacket, MessageType, PacketSplitter, REMOTE_PROGRAM } from "./protocol.ts";

const replies = new Map<number, Buffer>();
for (const p of capturedPackets())
  if (p.direction === "rx" && decodeHeader(p.bytes).type === MessageType.REPLY && !replies.has(p.proc))
    replies.set(p.proc, p.bytes);

/**
 * A daemon behind an injectable dial: while `up` it answers every call with libvirtd's captured reply; while
 * not, connecting fails with `code` (ENOENT: no socket; ECONNREFUSED: a socket nobody listens on).
 */
function daemon() {
  const d = {
    up: true,
    code: "ENOENT",
    dials: [] as number[],
    server: undefined as Duplex | undefined,
    dial: (now: () => number) => (): Duplex => {
      d.dials.push(now());
      if (!d.up) {
        const failed = new Duplex({
          read() {},
          write(_c, _e, cb) {
            cb();
          },
        });
        const err = Object.assign(new Error(`connect ${d.code}`), { code: d.code });
        queueMicrotask(() => failed.emit("error", err));
        return failed;
      }
      const [client, server] = duplexPair();
      d.server = server;
      const splitter = new PacketSplitter();
      server.on("data", (chunk: Buffer) => {
        for (const p of splitter.push(chunk)) {
          const h = decodeHeader(p);
          if (h.prog !== REMOTE_PROGRAM) continue;
          const captured = replies.get(h.proc);
          server.write(
            captured
              ? withSerial(captured, h.serial)
              : encodePacket({ ...h, type: MessageType.REPLY, status: 0 }),
          );
        }
      });
      queueMicrotask(() => client.emit("connect"));
      return client;
    },
  };
  return d;
}

/** Lets the streams and promises of one step settle. */
const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

function setup(socketExists: () => boolean) {
  const timers = new ManualTimers();
  const d = daemon();
  let onChange: (() => void) | undefined;
  const client = new LibvirtClient({
    socketPath: "/run/libvirt/libvirt-sock-ro",
    keepalive: false,
    timers,
    dial: d.dial(() => timers.now()),
    reconnect: { random: () => 0.5 },
    socketExists,
    watchSocket: (_path, fn) => {
      onChange = fn;
      return () => {
        onChange = undefined;
      };
    },
    health: new LibvirtHealthRegistry(),
  });
  /** Advances time in 100 ms steps, letting each step's I/O settle. */
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 100) {
      timers.advance(100);
      await settle();
    }
  };
  return { timers, d, client, run, changed: () => onChange?.(), watching: () => onChange !== undefined };
}

describe("LibvirtClient reconnecting", () => {
  it("backs off to 30 s while the socket is absent, and tries at once when the watched socket reappears", async () => {
    let exists = true;
    const t = setup(() => exists);
    await t.client.connect();
    exists = false;
    t.d.up = false;
    t.d.server!.destroy();
    await settle();
    expect(t.watching()).toBe(true);
    await t.run(120_000);
    const gaps = t.d.dials.slice(1).map((at, i) => at - t.d.dials[i]!);
    expect(Math.max(...gaps)).toBe(30_000);
    // libvirtd creates its socket: the watch fires and the client connects without waiting out its backoff.
    exists = true;
    t.d.up = true;
    const before = t.timers.now();
    t.changed();
    t.timers.advance(0);
    await settle();
    expect(t.client.connected).toBe(true);
    expect(t.timers.now()).toBe(before);
    expect(t.watching()).toBe(false);
    expect(t.client.health()).toMatchObject({
      up: true,
      reconnects: 1,
      lastError: { reason: "unreachable" },
    });
    await t.client.close();
  });

  it("caps the backoff at 2 s while the socket file exists but refuses", async () => {
    const t = setup(() => true);
    await t.client.connect();
    t.d.up = false;
    t.d.code = "ECONNREFUSED";
    t.d.server!.destroy();
    await settle();
    await t.run(60_000);
    const gaps = t.d.dials.slice(2).map((at, i) => at - t.d.dials[i + 1]!);
    expect(gaps.length).toBeGreaterThan(25);
    expect(Math.max(...gaps)).toBe(2000);
    expect(t.client.health().lastError?.reason).toBe("refused");
    t.d.up = true;
    await t.run(2000);
    expect(t.client.connected).toBe(true);
    await t.client.close();
  });
});
