import type { Logger } from "pino";
import { type BackoffOptions, backoffDelay } from "../../kube/backoff.ts";
import { realTimers, type Timers } from "../../kube/timers.ts";
import { RpcConnection as Rpc, type RpcConnection, type RpcConnectionOptions } from "./connection.ts";
import { LibvirtConnectionError } from "./errors.ts";
import {
  CONNECT_RO,
  EVENT_ID_LIFECYCLE,
  FEATURE_PROGRAM_KEEPALIVE,
  LIFECYCLE_EVENTS,
  type LifecycleEvent,
  Proc,
} from "./protocol.ts";
import {
  type Domain,
  type DomainStatsRecord,
  payload,
  REMOTE_AUTH_TYPE_LIST_MAX,
  REMOTE_DOMAIN_LIST_MAX,
  readDomain,
  readLifecycleMessage,
  readStatsRecord,
  writeDomain,
} from "./remote.ts";

/** Default socket: the read-only socket of the monolithic daemon. Hosts with modular daemons use virtqemud-sock-ro. */
export const DEFAULT_SOCKET = "/run/libvirt/libvirt-sock-ro";

/** Settings of a LibvirtClient. */
export interface LibvirtClientOptions {
  /** Defaults to DEFAULT_SOCKET. */
  socketPath?: string;
  /** URI sent in CONNECT_OPEN. Defaults to `qemu:///system`. */
  uri?: string;
  /** Open read-only (VIR_CONNECT_RO). Defaults to true. */
  readOnly?: boolean;
  callTimeout?: number;
  keepalive?: RpcConnectionOptions["keepalive"];
  /** Backoff between reconnect attempts. Defaults to 500 ms doubling to 30 s, ±20 %. */
  reconnect?: BackoffOptions;
  timers?: Timers;
  dial?: RpcConnectionOptions["dial"];
  log?: Logger;
}

/** A lifecycle event, decoded. */
export interface LifecycleEventInfo {
  domain: Domain;
  event: LifecycleEvent;
  /** VIR_DOMAIN_EVENT_*_DETAIL code, meaning depends on `event`. */
  detail: number;
}

/** Connection state changes a client reports. */
export type ClientState = "connected" | "disconnected" | "closed";

/**
 * A libvirt client over the RPC protocol. After `connect()` it keeps the connection: when the daemon goes
 * away it reconnects with capped, jittered backoff and registers its lifecycle callback again. Calls made
 * while disconnected fail at once with a LibvirtConnectionError; they are not queued.
 */
export class LibvirtClient {
  readonly socketPath: string;
  readonly uri: string;
  readonly #opts: LibvirtClientOptions;
  readonly #timers: Timers;
  #conn: RpcConnection | undefined;
  #closed = false;
  #attempt = 0;
  #retryTimer: unknown;
  #lastError: Error | undefined;
  #callbackId: number | undefined;
  readonly #lifecycleHandlers = new Set<(e: LifecycleEventInfo) => void>();
  readonly #stateHandlers = new Set<(s: ClientState, err?: Error) => void>();

  constructor(opts: LibvirtClientOptions = {}) {
    this.#opts = opts;
    this.socketPath = opts.socketPath ?? DEFAULT_SOCKET;
    this.uri = opts.uri ?? "qemu:///system";
    this.#timers = opts.timers ?? realTimers;
  }

  /** Opens the first connection; rejects if it fails (then no reconnecting starts). */
  async connect(): Promise<void> {
    if (this.#closed) throw new LibvirtConnectionError("client is closed");
    await this.#open();
  }

  get connected(): boolean {
    return this.#conn !== undefined && !this.#conn.closed;
  }

  /** Subscribes to connection state changes. */
  onState(handler: (s: ClientState, err?: Error) => void): () => void {
    this.#stateHandlers.add(handler);
    return () => this.#stateHandlers.delete(handler);
  }

  /**
   * Subscribes to domain lifecycle events. The first subscriber registers a callback with the daemon (and
   * again after each reconnect); the last one to leave deregisters it.
   */
  async onLifecycle(handler: (e: LifecycleEventInfo) => void): Promise<() => Promise<void>> {
    this.#lifecycleHandlers.add(handler);
    if (this.#lifecycleHandlers.size === 1 && this.connected) {
      try {
        await this.#registerLifecycle(this.#conn!);
      } catch (err) {
        // A connection that drops meanwhile registers again when it comes back; anything else is the caller's.
        if (!(err instanceof LibvirtConnectionError)) {
          this.#lifecycleHandlers.delete(handler);
          throw err;
        }
      }
    }
    return async () => {
      this.#lifecycleHandlers.delete(handler);
      if (this.#lifecycleHandlers.size === 0) await this.#deregisterLifecycle();
    };
  }

  /** CONNECT_GET_LIB_VERSION: e.g. 9000000n for 9.0.0. */
  async libVersion(): Promise<bigint> {
    return (await this.#call(Proc.CONNECT_GET_LIB_VERSION)).uhyper();
  }

  /** CONNECT_LIST_ALL_DOMAINS with VIR_CONNECT_LIST_DOMAINS_* flags (0 = all). */
  async listAllDomains(flags = 0): Promise<Domain[]> {
    const r = await this.#call(
      Proc.CONNECT_LIST_ALL_DOMAINS,
      payload((w) => w.int(1).uint(flags)),
    );
    return r.array(readDomain, REMOTE_DOMAIN_LIST_MAX);
  }

  /** CONNECT_GET_ALL_DOMAIN_STATS for every domain: `stats` is a StatsGroup bitmask (0 = all the driver has). */
  async getAllDomainStats(stats = 0, flags = 0): Promise<DomainStatsRecord[]> {
    const r = await this.#call(
      Proc.CONNECT_GET_ALL_DOMAIN_STATS,
      payload((w) =>
        w
          .array([] as Domain[], writeDomain)
          .uint(stats)
          .uint(flags),
      ),
    );
    return r.array(readStatsRecord, REMOTE_DOMAIN_LIST_MAX);
  }

  /** DOMAIN_GET_XML_DESC. */
  async getXmlDesc(dom: Domain, flags = 0): Promise<string> {
    return (
      await this.#call(
        Proc.DOMAIN_GET_XML_DESC,
        payload((w) => {
          writeDomain(w, dom);
          w.uint(flags);
        }),
      )
    ).string();
  }

  /** Stops reconnecting, deregisters callbacks, sends CONNECT_CLOSE and closes the socket. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#timers.clearTimeout(this.#retryTimer);
    const conn = this.#conn;
    this.#conn = undefined;
    this.#lifecycleHandlers.clear();
    if (conn && !conn.closed) {
      try {
        if (this.#callbackId !== undefined)
          await conn.call(
            Proc.CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY,
            payload((w) => w.int(this.#callbackId!)),
          );
        await conn.call(Proc.CONNECT_CLOSE);
      } catch {
        // The daemon may already be gone; closing the socket below is all that is left to do.
      }
      conn.close();
    }
    this.#callbackId = undefined;
    this.#emit("closed");
  }

  async #call(proc: number, args?: Uint8Array) {
    const conn = this.#conn;
    if (!conn || conn.closed)
      throw new LibvirtConnectionError(
        `not connected to libvirt at ${this.socketPath}${this.#lastError ? `: ${this.#lastError.message}` : ""}`,
      );
    return conn.call(proc, args);
  }

  async #open(): Promise<void> {
    const conn = await Rpc.open({
      socketPath: this.socketPath,
      ...(this.#opts.callTimeout !== undefined ? { callTimeout: this.#opts.callTimeout } : {}),
      ...(this.#opts.keepalive !== undefined ? { keepalive: this.#opts.keepalive } : {}),
      timers: this.#timers,
      ...(this.#opts.dial ? { dial: this.#opts.dial } : {}),
    });
    try {
      // The C client's handshake: which auth the socket wants, keepalive, then open the URI.
      const auth = (await conn.call(Proc.AUTH_LIST)).array((r) => r.int(), REMOTE_AUTH_TYPE_LIST_MAX);
      if (auth.length > 0 && !auth.includes(0))
        throw new LibvirtConnectionError(
          `libvirt at ${this.socketPath} requires authentication (types ${auth.join(",")}), which this client does not do`,
        );
      await conn.call(
        Proc.CONNECT_SUPPORTS_FEATURE,
        payload((w) => w.int(FEATURE_PROGRAM_KEEPALIVE)),
      );
      const flags = this.#opts.readOnly === false ? 0 : CONNECT_RO;
      await conn.call(
        Proc.CONNECT_OPEN,
        payload((w) => w.optional(this.uri, (x, u) => x.string(u)).uint(flags)),
      );
      conn.onMessage((m) => {
        if (m.proc !== Proc.DOMAIN_EVENT_CALLBACK_LIFECYCLE) return;
        const msg = readLifecycleMessage(m.payload);
        if (msg.callbackID !== this.#callbackId) return;
        const info: LifecycleEventInfo = {
          domain: msg.dom,
          event: LIFECYCLE_EVENTS[msg.event] ?? "unknown",
          detail: msg.detail,
        };
        for (const handler of this.#lifecycleHandlers) handler(info);
      });
      this.#callbackId = undefined;
      if (this.#lifecycleHandlers.size > 0) await this.#registerLifecycle(conn);
    } catch (err) {
      conn.close("handshake failed");
      throw err;
    }
    if (this.#closed) {
      conn.close("client closed while connecting");
      return;
    }
    this.#conn = conn;
    this.#attempt = 0;
    this.#lastError = undefined;
    conn.onClose((err) => this.#onDrop(conn, err));
    this.#emit("connected");
  }

  async #registerLifecycle(conn: RpcConnection): Promise<void> {
    const r = await conn.call(
      Proc.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY,
      payload((w) => w.int(EVENT_ID_LIFECYCLE).optional(null, writeDomain)),
    );
    this.#callbackId = r.int();
  }

  async #deregisterLifecycle(): Promise<void> {
    const id = this.#callbackId;
    this.#callbackId = undefined;
    if (id === undefined || !this.connected) return;
    await this.#conn!.call(
      Proc.CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY,
      payload((w) => w.int(id)),
    );
  }

  #onDrop(conn: RpcConnection, err: Error): void {
    if (this.#conn !== conn || this.#closed) return;
    this.#conn = undefined;
    this.#callbackId = undefined;
    this.#lastError = err;
    this.#opts.log?.warn(
      { socket: this.socketPath, err: err.message },
      "libvirt connection lost; reconnecting",
    );
    this.#emit("disconnected", err);
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed) return;
    const delay = backoffDelay(this.#attempt++, this.#opts.reconnect);
    this.#retryTimer = this.#timers.setTimeout(() => {
      this.#open().catch((err: Error) => {
        this.#lastError = err;
        this.#opts.log?.debug(
          { socket: this.socketPath, err: err.message, delay },
          "libvirt reconnect failed",
        );
        this.#scheduleReconnect();
      });
    }, delay);
  }

  #emit(state: ClientState, err?: Error): void {
    for (const handler of this.#stateHandlers) handler(state, err);
  }
}
