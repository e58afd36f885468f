import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  decodeHeader,
  encodePacket,
  HEADER_SIZE,
  type Header,
  KEEPALIVE_PROGRAM,
  KeepaliveProc,
  MessageType,
  PacketSplitter,
  Proc,
  REMOTE_PROGRAM,
} from "../../agent/libvirt/protocol.ts";

/** One packet libvirtd 9.0 sent or received, as test/tools/capture-packets.ts recorded it. */
export interface CapturedPacket {
  label: string;
  direction: "tx" | "rx";
  proc: number;
  bytes: Buffer;
}

/** Every packet of test/fixtures/libvirt/packets.json. */
export function capturedPackets(): CapturedPacket[] {
  const file = join(dirname(fileURLToPath(import.meta.url)), "../fixtures/libvirt/packets.json");
  const { captured } = JSON.parse(readFileSync(file, "utf8")) as {
    captured: { label: string; direction: "tx" | "rx"; proc: number; hex: string }[];
  };
  return captured.map((c) => ({ ...c, bytes: Buffer.from(c.hex, "hex") }));
}

/** A captured packet with its serial rewritten (replies must carry their call's serial). */
export function withSerial(packet: Buffer, serial: number): Buffer {
  const out = Buffer.from(packet);
  out.writeUInt32BE(serial, 20);
  return out;
}

/** A DOMAIN_EVENT_CALLBACK_LIFECYCLE message (REMOTE_PROGRAM, type MESSAGE) with `body` as its payload. */
export function lifecycleMessage(body: Buffer): Buffer {
  const header = encodePacket({
    prog: REMOTE_PROGRAM,
    vers: 1,
    proc: Proc.DOMAIN_EVENT_CALLBACK_LIFECYCLE,
    type: MessageType.MESSAGE,
    serial: 1,
    status: 0,
  });
  const packet = Buffer.concat([header, body]);
  packet.writeUInt32BE(packet.length, 0);
  return packet;
}

/** A call as the fake daemon received it. */
export interface FakeCall {
  header: Header;
  body: Buffer;
}

/** One client connection of the fake daemon. */
export interface FakeConnection {
  readonly socket: Socket;
  /**
   * When set, the daemon answers nothing more on this connection, keepalive included: it is stuck writing a
   * reply (a real daemon never puts another packet inside a half-written one).
   */
  silent: boolean;
  /** Sends raw bytes. */
  write(bytes: Buffer): void;
  /** The reply a real libvirtd 9.0 gives to `call`, from the captured packets. */
  reply(call: FakeCall): void;
}

/**
 * What the daemon does with a call: return true when the call was handled (answered, ignored or sabotaged),
 * false to let the daemon answer as libvirtd would.
 */
export type CallHandler = (call: FakeCall, conn: FakeConnection) => boolean;

/** A fake libvirtd serving a real UNIX socket. */
export interface FakeLibvirtd {
  readonly socket: string;
  readonly dir: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** The connections open now. */
  readonly connections: readonly FakeConnection[];
  /** Calls received, on every connection, in order. */
  readonly calls: FakeCall[];
  /** Overrides how calls are answered until set again (undefined: as libvirtd). */
  handler: CallHandler | undefined;
  /** Sends a captured lifecycle event (suspended) for the callback the client registered. */
  lifecycleEvent(): Buffer;
  /** Resolves once `n` connections have been accepted. */
  waitForConnections(n: number, timeoutMs?: number): Promise<void>;
  /** Stops listening and removes the socket file; open connections are destroyed. */
  stop(): Promise<void>;
  /** Listens again on the same path. */
  start(): Promise<void>;
  /** Stops and removes the directory. */
  close(): Promise<void>;
}

/** The lifecycle callback id the fake daemon hands out (libvirtd counts from 0 per daemon). */
export const FAKE_CALLBACK_ID = 0;

/**
 * A fake libvirtd on a real UNIX socket: it answers the handshake and the client's calls with the replies a real
 * libvirtd 9.0 sent (test/fixtures/libvirt/packets.json, serials rewritten), answers keepalive PINGs, and lets a
 * test take over any call to inject what a broken or hostile daemon would send.
 */
export async function startFakeLibvirtd(): Promise<FakeLibvirtd> {
  const dir = await mkdtemp("/tmp/vesmon-fakelv-");
  const socket = join(dir, "libvirt-sock-ro");
  const captured = capturedPackets();
  // The first captured reply to each procedure; REGISTER_ANY's carries callback id 0, as FAKE_CALLBACK_ID says.
  const replies = new Map<number, Buffer>();
  for (const p of captured)
    if (p.direction === "rx" && decodeHeader(p.bytes).type === MessageType.REPLY && !replies.has(p.proc))
      replies.set(p.proc, p.bytes);
  const event = captured.find(
    (p) => p.label === "event-lifecycle" && p.proc === Proc.DOMAIN_EVENT_CALLBACK_LIFECYCLE,
  );
  if (!event) throw new Error("packets.json holds no lifecycle event; run test/tools/capture-packets.ts");

  const calls: FakeCall[] = [];
  const open = new Set<FakeConnection>();
  const waiters: (() => void)[] = [];
  let accepted = 0;
  let server: Server | undefined;

  const serve = (sock: Socket) => {
    accepted++;
    for (const w of waiters.splice(0)) w();
    const splitter = new PacketSplitter();
    const conn: FakeConnection = {
      socket: sock,
      silent: false,
      write: (bytes) => {
        if (!sock.destroyed) sock.write(bytes);
      },
      reply: (call) => {
        const { header } = call;
        const captured = replies.get(header.proc);
        if (captured) conn.write(withSerial(captured, header.serial));
        // Anything not captured gets a void reply, like CONNECT_CLOSE.
        else conn.write(encodePacket({ ...header, type: MessageType.REPLY, status: 0 }));
      },
    };
    open.add(conn);
    sock.on("close", () => open.delete(conn));
    sock.on("error", () => {});
    sock.on("data", (chunk: Buffer) => {
      let packets: Buffer[];
      try {
        packets = splitter.push(chunk);
      } catch {
        sock.destroy();
        return;
      }
      for (const p of packets) {
        if (conn.silent) return;
        const header = decodeHeader(p);
        if (header.prog === KEEPALIVE_PROGRAM) {
          if (header.proc === KeepaliveProc.PING)
            conn.write(encodePacket({ ...header, proc: KeepaliveProc.PONG }));
          continue;
        }
        if (header.prog !== REMOTE_PROGRAM || header.type !== MessageType.CALL) continue;
        const call = { header, body: p.subarray(HEADER_SIZE) };
        calls.push(call);
        if (!fake.handler?.(call, conn)) conn.reply(call);
      }
    });
  };

  const fake: FakeLibvirtd = {
    socket,
    dir,
    get accepted() {
      return accepted;
    },
    get connections() {
      return [...open];
    },
    calls,
    handler: undefined,
    lifecycleEvent() {
      for (const c of open) c.write(event.bytes);
      return event.bytes;
    },
    async waitForConnections(n, timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      while (accepted < n) {
        if (Date.now() > until)
          throw new Error(`only ${accepted} of ${n} connections within ${timeoutMs} ms`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 50);
        });
      }
    },
    async stop() {
      for (const c of open) c.socket.destroy();
      open.clear();
      const s = server;
      server = undefined;
      if (s) await new Promise<void>((r) => s.close(() => r()));
      await rm(socket, { force: true });
    },
    async start() {
      await rm(socket, { force: true });
      const s = createServer(serve);
      await new Promise<void>((resolve, reject) => {
        s.once("error", reject);
        s.listen(socket, () => resolve());
      });
      server = s;
    },
    async close() {
      await fake.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  await fake.start();
  return fake;
}
