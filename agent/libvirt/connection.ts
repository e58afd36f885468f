import { connect as netConnect } from "node:net";
import type { Duplex } from "node:stream";
import { realTimers, type Timers } from "../../kube/timers.ts";
import {
  type ConnectionErrorReason,
  LibvirtConnectionError,
  LibvirtError,
  LibvirtProtocolError,
  LibvirtTimeoutError,
} from "./errors.ts";
import {
  decodeHeader,
  encodePacket,
  HEADER_SIZE,
  type Header,
  KEEPALIVE_PROGRAM,
  KeepaliveProc,
  MAX_PACKET,
  MessageStatus,
  MessageType,
  PacketSplitter,
  PROTOCOL_VERSION,
  REMOTE_PROGRAM,
} from "./protocol.ts";
import { readRemoteError } from "./remote.ts";
import { XdrReader } from "./xdr.ts";

/** Settings of one RPC connection. */
export interface RpcConnectionOptions {
  /** Path of libvirt's UNIX socket. */
  socketPath: string;
  /** Per-call timeout in ms. Defaults to 10000. */
  callTimeout?: number;
  /**
   * Keepalive, as libvirt's own client does it: after `interval` ms without a complete inbound packet send a
   * PING; after `count` unanswered PINGs the daemon is taken for dead and the connection is closed. Defaults
   * to 5000 ms × 5; `false` disables it.
   */
  keepalive?: { interval: number; count: number } | false;
  timers?: Timers;
  /** Opens the byte stream; defaults to a UNIX socket connection. For tests. */
  dial?: (socketPath: string) => Duplex;
}

/** Turns a reply payload into a value; throws (XdrError, RangeError…) when the payload is not what it should be. */
export type ReplyDecoder<T> = (r: XdrReader) => T;

/** Options of one call. */
export interface CallOptions<T> {
  /**
   * Decodes the reply inside the connection: a reply that does not decode, or leaves bytes unread, breaks the
   * connection (LibvirtProtocolError) like any other corrupt input. Without it the call resolves with the raw
   * payload and decoding errors are the caller's.
   */
  decode?: ReplyDecoder<T>;
  /** Overrides the connection's call timeout, ms. */
  timeout?: number;
}

interface Pending {
  proc: number;
  decode: ReplyDecoder<unknown> | undefined;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: unknown;
}

/** An asynchronous message from the daemon (an event), with its payload. */
export interface ServerMessage {
  proc: number;
  payload: XdrReader;
}

/** Serials of timed-out calls remembered, so their late replies are told apart from replies nobody asked for. */
const EXPIRED_SERIALS_KEPT = 256;

/** The reason a socket error stands for: an absent socket is not the same failure as a daemon that refuses. */
export function socketErrorReason(err: NodeJS.ErrnoException): ConnectionErrorReason {
  return err.code === "ENOENT" || err.code === "ENOTSOCK" || err.code === "ENOTDIR"
    ? "unreachable"
    : "refused";
}

/**
 * One connection to libvirtd speaking REMOTE_PROGRAM: calls overlap, each matched to its reply by serial;
 * events and keepalive are handled as they arrive. It does not reconnect; LibvirtClient does.
 *
 * Any input no libvirt daemon sends (an impossible length, an unknown program, type or serial, a payload that
 * does not decode, a packet whose body does not arrive in time) breaks the connection: it closes once, and every
 * call in flight fails with the LibvirtConnectionError that says why. Nothing is thrown out of a socket callback.
 */
export class RpcConnection {
  readonly #stream: Duplex;
  readonly #timers: Timers;
  readonly #callTimeout: number;
  readonly #splitter = new PacketSplitter();
  readonly #pending = new Map<number, Pending>();
  readonly #expired = new Set<number>();
  readonly #messageHandlers = new Set<(m: ServerMessage) => void>();
  readonly #closeHandlers = new Set<(err: LibvirtConnectionError) => void>();
  #serial = 0;
  #closed: LibvirtConnectionError | undefined;
  #lastInbound: number;
  #unanswered = 0;
  #keepaliveTimer: unknown;
  #packetTimer: unknown;
  readonly #keepalive: { interval: number; count: number } | false;

  private constructor(stream: Duplex, opts: RpcConnectionOptions) {
    this.#stream = stream;
    this.#timers = opts.timers ?? realTimers;
    this.#callTimeout = opts.callTimeout ?? 10_000;
    this.#keepalive = opts.keepalive ?? { interval: 5000, count: 5 };
    this.#lastInbound = this.#timers.now();
    stream.on("data", (chunk: Buffer) => this.#onData(chunk));
    stream.on("error", (err: Error) =>
      this.#shutdown(
        new LibvirtConnectionError(`libvirt socket error: ${err.message}`, socketErrorReason(err)),
      ),
    );
    const hangup = () =>
      this.#shutdown(new LibvirtConnectionError("libvirt connection closed by the daemon"));
    stream.on("end", hangup);
    stream.on("close", hangup);
    this.#armKeepalive();
  }

  /** Connects to the socket; rejects with a LibvirtConnectionError naming the path when it cannot. */
  static open(opts: RpcConnectionOptions): Promise<RpcConnection> {
    const dial = opts.dial ?? ((path: string) => netConnect(path));
    return new Promise((resolve, reject) => {
      const stream = dial(opts.socketPath);
      const onError = (err: Error) =>
        reject(
          new LibvirtConnectionError(
            `cannot connect to libvirt at ${opts.socketPath}: ${err.message}`,
            socketErrorReason(err as NodeJS.ErrnoException),
          ),
        );
      stream.once("error", onError);
      stream.once("connect", () => {
        stream.off("error", onError);
        resolve(new RpcConnection(stream, opts));
      });
    });
  }

  /**
   * Calls a REMOTE_PROGRAM procedure. Resolves with the decoded reply (or the raw payload without a decoder),
   * rejects with LibvirtError on an error reply, LibvirtTimeoutError when no reply comes in time (the connection
   * stays), LibvirtConnectionError when the connection breaks.
   */
  call(proc: number, payload?: Uint8Array, opts?: { timeout?: number }): Promise<XdrReader>;
  call<T>(
    proc: number,
    payload: Uint8Array | undefined,
    opts: CallOptions<T> & { decode: ReplyDecoder<T> },
  ): Promise<T>;
  call<T>(proc: number, payload?: Uint8Array, opts: CallOptions<T> = {}): Promise<T | XdrReader> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (payload && payload.length + HEADER_SIZE > MAX_PACKET)
      return Promise.reject(
        new RangeError(`call ${proc} payload of ${payload.length} bytes exceeds the packet limit`),
      );
    this.#serial = (this.#serial + 1) >>> 0 || 1;
    const serial = this.#serial;
    const timeout = opts.timeout ?? this.#callTimeout;
    return new Promise((resolve, reject) => {
      const timer = this.#timers.setTimeout(() => {
        this.#pending.delete(serial);
        this.#expire(serial);
        reject(new LibvirtTimeoutError(`libvirt call ${proc} got no reply within ${timeout} ms`));
      }, timeout);
      this.#pending.set(serial, {
        proc,
        decode: opts.decode,
        resolve: resolve as (v: unknown) => void,
        reject,
        timer,
      });
      this.#send(REMOTE_PROGRAM, proc, MessageType.CALL, serial, payload);
    });
  }

  /**
   * Subscribes to asynchronous messages (events); returns the unsubscribe function. A handler that throws
   * declares the message corrupt and breaks the connection, so handlers decode and must isolate their own
   * subscribers.
   */
  onMessage(handler: (m: ServerMessage) => void): () => void {
    this.#messageHandlers.add(handler);
    return () => this.#messageHandlers.delete(handler);
  }

  /** Called once when the connection ends, with why. */
  onClose(handler: (err: LibvirtConnectionError) => void): () => void {
    if (this.#closed) handler(this.#closed);
    else this.#closeHandlers.add(handler);
    return () => this.#closeHandlers.delete(handler);
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /** Number of calls waiting for a reply. */
  get pendingCalls(): number {
    return this.#pending.size;
  }

  /** Closes the socket; pending calls fail with a LibvirtConnectionError. */
  close(reason = "connection closed by the client"): void {
    this.#shutdown(new LibvirtConnectionError(reason, "client"));
  }

  #send(
    prog: number,
    proc: number,
    type: number,
    serial: number,
    payload?: Uint8Array,
    status: number = MessageStatus.OK,
  ) {
    if (this.#closed) return;
    this.#stream.write(encodePacket({ prog, vers: PROTOCOL_VERSION, proc, type, serial, status }, payload));
  }

  #expire(serial: number): void {
    this.#expired.add(serial);
    if (this.#expired.size > EXPIRED_SERIALS_KEPT) this.#expired.delete(this.#expired.values().next().value!);
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    try {
      const packets = this.#splitter.push(chunk);
      for (const packet of packets) {
        if (this.#closed) return;
        this.#onPacket(packet);
      }
      if (!this.#closed) this.#boundPartialPacket(packets.length > 0);
    } catch (err) {
      this.#shutdown(
        err instanceof LibvirtConnectionError
          ? err
          : new LibvirtProtocolError(`corrupt data from libvirt: ${(err as Error).message}`, { cause: err }),
      );
    }
  }

  /**
   * Bounds a packet in time as well as in size: one whose body has not arrived within the call timeout (or the
   * keepalive interval when no call waits) breaks the connection. Without this, a length word followed by
   * silence would hold the stream, and every later reply behind it, for ever.
   */
  #boundPartialPacket(progressed: boolean): void {
    if (this.#splitter.buffered === 0) {
      this.#timers.clearTimeout(this.#packetTimer);
      this.#packetTimer = undefined;
      return;
    }
    if (this.#packetTimer !== undefined && !progressed) return;
    this.#timers.clearTimeout(this.#packetTimer);
    const limit = this.#pending.size > 0 || !this.#keepalive ? this.#callTimeout : this.#keepalive.interval;
    this.#packetTimer = this.#timers.setTimeout(() => {
      this.#packetTimer = undefined;
      const need = this.#splitter.expected;
      this.#shutdown(
        new LibvirtConnectionError(
          `libvirt packet incomplete after ${limit} ms: ${this.#splitter.buffered} of ${need || "?"} bytes arrived`,
          "stalled",
        ),
      );
    }, limit);
  }

  #onPacket(packet: Buffer): void {
    // Only a complete packet shows the daemon alive: bytes dripping into a packet that never ends do not.
    this.#lastInbound = this.#timers.now();
    this.#unanswered = 0;
    const h = decodeHeader(packet);
    const payload = new XdrReader(packet, HEADER_SIZE);
    if (h.vers !== PROTOCOL_VERSION) throw new LibvirtProtocolError(`libvirt packet of version ${h.vers}`);
    if (h.prog === KEEPALIVE_PROGRAM) {
      this.#onKeepalive(h);
      return;
    }
    if (h.prog !== REMOTE_PROGRAM)
      throw new LibvirtProtocolError(`libvirt packet of unknown program 0x${h.prog.toString(16)}`);
    if (h.type === MessageType.MESSAGE) {
      // The serial of an event is the daemon's own count (libvirt 9.0 sends 1, 2, …), so it is not checked.
      if (h.status !== MessageStatus.OK)
        throw new LibvirtProtocolError(`libvirt event ${h.proc} with status ${h.status}`);
      for (const handler of this.#messageHandlers) handler({ proc: h.proc, payload });
      return;
    }
    if (h.type !== MessageType.REPLY) throw new LibvirtProtocolError(`libvirt packet of type ${h.type}`);
    this.#onReply(h, payload);
  }

  #onKeepalive(h: Header): void {
    if (h.type !== MessageType.MESSAGE || (h.proc !== KeepaliveProc.PING && h.proc !== KeepaliveProc.PONG))
      throw new LibvirtProtocolError(`libvirt keepalive packet of type ${h.type}, procedure ${h.proc}`);
    if (h.proc === KeepaliveProc.PING)
      this.#send(KEEPALIVE_PROGRAM, KeepaliveProc.PONG, MessageType.MESSAGE, 0);
  }

  #onReply(h: Header, payload: XdrReader): void {
    const call = this.#pending.get(h.serial);
    if (!call) {
      // A reply after its call timed out: the caller has moved on. Any other serial was never asked for.
      if (this.#expired.delete(h.serial)) return;
      throw new LibvirtProtocolError(`libvirt reply to serial ${h.serial}, which no call is waiting for`);
    }
    if (h.proc !== call.proc)
      throw new LibvirtProtocolError(`libvirt reply of procedure ${h.proc} to a call of ${call.proc}`);
    let outcome: { ok: true; value: unknown } | { ok: false; error: Error };
    if (h.status === MessageStatus.OK)
      outcome = { ok: true, value: call.decode ? call.decode(payload) : payload };
    else if (h.status === MessageStatus.ERROR)
      outcome = { ok: false, error: new LibvirtError(readRemoteError(payload), call.proc) };
    else throw new LibvirtProtocolError(`libvirt reply with status ${h.status}`);
    if ((call.decode || h.status === MessageStatus.ERROR) && payload.remaining !== 0)
      throw new LibvirtProtocolError(
        `libvirt reply to procedure ${h.proc} has ${payload.remaining} bytes after its payload`,
      );
    // Only now, with the payload decoded, is the call done: a decoding error above fails it with the connection.
    this.#pending.delete(h.serial);
    this.#timers.clearTimeout(call.timer);
    if (outcome.ok) call.resolve(outcome.value);
    else call.reject(outcome.error);
  }

  #armKeepalive(): void {
    if (!this.#keepalive || this.#closed) return;
    const { interval, count } = this.#keepalive;
    this.#keepaliveTimer = this.#timers.setTimeout(() => {
      if (this.#closed) return;
      if (this.#timers.now() - this.#lastInbound >= interval) {
        if (this.#unanswered >= count) {
          this.#shutdown(
            new LibvirtConnectionError(
              `libvirtd did not answer ${count} keepalive pings (${interval} ms apart)`,
              "keepalive",
            ),
          );
          return;
        }
        this.#unanswered++;
        this.#send(KEEPALIVE_PROGRAM, KeepaliveProc.PING, MessageType.MESSAGE, 0);
      }
      this.#armKeepalive();
    }, interval);
  }

  #shutdown(err: LibvirtConnectionError): void {
    if (this.#closed) return;
    this.#closed = err;
    this.#timers.clearTimeout(this.#keepaliveTimer);
    this.#timers.clearTimeout(this.#packetTimer);
    for (const call of this.#pending.values()) {
      this.#timers.clearTimeout(call.timer);
      call.reject(err);
    }
    this.#pending.clear();
    this.#stream.destroy();
    for (const handler of this.#closeHandlers) {
      try {
        handler(err);
      } catch {
        // A close handler's failure is its own; the connection is closed either way.
      }
    }
    this.#closeHandlers.clear();
    this.#messageHandlers.clear();
  }
}
