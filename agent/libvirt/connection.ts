import { connect as netConnect } from "node:net";
import type { Duplex } from "node:stream";
import { realTimers, type Timers } from "../../kube/timers.ts";
import { LibvirtConnectionError, LibvirtError, LibvirtTimeoutError } from "./errors.ts";
import {
  decodeHeader,
  encodePacket,
  HEADER_SIZE,
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
   * Keepalive, as libvirt's own client does it: after `interval` ms without inbound traffic send a PING; after
   * `count` unanswered PINGs the daemon is taken for dead and the connection is closed. Defaults to 5000 ms × 5;
   * `false` disables it.
   */
  keepalive?: { interval: number; count: number } | false;
  timers?: Timers;
  /** Opens the byte stream; defaults to a UNIX socket connection. For tests. */
  dial?: (socketPath: string) => Duplex;
}

interface Pending {
  proc: number;
  resolve: (payload: XdrReader) => void;
  reject: (err: Error) => void;
  timer: unknown;
}

/** An asynchronous message from the daemon (an event), with its payload. */
export interface ServerMessage {
  proc: number;
  payload: XdrReader;
}

/**
 * One connection to libvirtd speaking REMOTE_PROGRAM: calls overlap, each matched to its reply by serial;
 * events and keepalive are handled as they arrive. It does not reconnect; LibvirtClient does.
 */
export class RpcConnection {
  readonly #stream: Duplex;
  readonly #timers: Timers;
  readonly #callTimeout: number;
  readonly #splitter = new PacketSplitter();
  readonly #pending = new Map<number, Pending>();
  readonly #messageHandlers = new Set<(m: ServerMessage) => void>();
  readonly #closeHandlers = new Set<(err: Error) => void>();
  #serial = 0;
  #closed: Error | undefined;
  #lastInbound: number;
  #unanswered = 0;
  #keepaliveTimer: unknown;
  readonly #keepalive: { interval: number; count: number } | false;

  private constructor(stream: Duplex, opts: RpcConnectionOptions) {
    this.#stream = stream;
    this.#timers = opts.timers ?? realTimers;
    this.#callTimeout = opts.callTimeout ?? 10_000;
    this.#keepalive = opts.keepalive ?? { interval: 5000, count: 5 };
    this.#lastInbound = this.#timers.now();
    stream.on("data", (chunk: Buffer) => this.#onData(chunk));
    stream.on("error", (err) =>
      this.#shutdown(new LibvirtConnectionError(`libvirt socket error: ${err.message}`)),
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
        reject(new LibvirtConnectionError(`cannot connect to libvirt at ${opts.socketPath}: ${err.message}`));
      stream.once("error", onError);
      stream.once("connect", () => {
        stream.off("error", onError);
        resolve(new RpcConnection(stream, opts));
      });
    });
  }

  /** Calls a REMOTE_PROGRAM procedure; resolves with a reader over the reply payload, rejects with LibvirtError on an error reply. */
  call(proc: number, payload?: Uint8Array, timeout = this.#callTimeout): Promise<XdrReader> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (payload && payload.length + HEADER_SIZE > MAX_PACKET)
      return Promise.reject(
        new RangeError(`call ${proc} payload of ${payload.length} bytes exceeds the packet limit`),
      );
    this.#serial = (this.#serial + 1) >>> 0 || 1;
    const serial = this.#serial;
    return new Promise((resolve, reject) => {
      const timer = this.#timers.setTimeout(() => {
        this.#pending.delete(serial);
        reject(new LibvirtTimeoutError(`libvirt call ${proc} got no reply within ${timeout} ms`));
      }, timeout);
      this.#pending.set(serial, { proc, resolve, reject, timer });
      this.#send(REMOTE_PROGRAM, proc, MessageType.CALL, serial, payload);
    });
  }

  /** Subscribes to asynchronous messages (events); returns the unsubscribe function. */
  onMessage(handler: (m: ServerMessage) => void): () => void {
    this.#messageHandlers.add(handler);
    return () => this.#messageHandlers.delete(handler);
  }

  /** Called once when the connection ends, with why. */
  onClose(handler: (err: Error) => void): () => void {
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
    this.#shutdown(new LibvirtConnectionError(reason));
  }

  #send(
    prog: number,
    proc: number,
    type: number,
    serial: number,
    payload?: Uint8Array,
    status: number = MessageStatus.OK,
  ) {
    this.#stream.write(encodePacket({ prog, vers: PROTOCOL_VERSION, proc, type, serial, status }, payload));
  }

  #onData(chunk: Buffer): void {
    this.#lastInbound = this.#timers.now();
    this.#unanswered = 0;
    let packets: Buffer[];
    try {
      packets = this.#splitter.push(chunk);
    } catch (err) {
      this.#shutdown(new LibvirtConnectionError((err as Error).message));
      return;
    }
    for (const packet of packets) this.#onPacket(packet);
  }

  #onPacket(packet: Buffer): void {
    const h = decodeHeader(packet);
    const payload = new XdrReader(packet, HEADER_SIZE);
    if (h.prog === KEEPALIVE_PROGRAM) {
      if (h.proc === KeepaliveProc.PING)
        this.#send(KEEPALIVE_PROGRAM, KeepaliveProc.PONG, MessageType.MESSAGE, 0);
      return;
    }
    if (h.prog !== REMOTE_PROGRAM) return;
    if (h.type === MessageType.MESSAGE) {
      for (const handler of this.#messageHandlers) handler({ proc: h.proc, payload });
      return;
    }
    if (h.type !== MessageType.REPLY) return;
    const call = this.#pending.get(h.serial);
    if (!call) return; // a reply after its timeout: the caller has moved on
    this.#pending.delete(h.serial);
    this.#timers.clearTimeout(call.timer);
    if (h.status === MessageStatus.OK) call.resolve(payload);
    else {
      try {
        call.reject(new LibvirtError(readRemoteError(payload), call.proc));
      } catch (err) {
        call.reject(err as Error);
      }
    }
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

  #shutdown(err: Error): void {
    if (this.#closed) return;
    this.#closed = err;
    this.#timers.clearTimeout(this.#keepaliveTimer);
    for (const call of this.#pending.values()) {
      this.#timers.clearTimeout(call.timer);
      call.reject(err);
    }
    this.#pending.clear();
    this.#stream.destroy();
    for (const handler of this.#closeHandlers) handler(err);
    this.#closeHandlers.clear();
    this.#messageHandlers.clear();
  }
}
