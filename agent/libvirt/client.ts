import { existsSync, watch } from "node:fs";
import { basename, dirname } from "node:path";
import type { Logger } from "pino";
import { type BackoffOptions, backoffDelay } from "../../kube/backoff.ts";
import { realTimers, type Timers } from "../../kube/timers.ts";
import {
  type ReplyDecoder,
  RpcConnection as Rpc,
  type RpcConnection,
  type RpcConnectionOptions,
} from "./connection.ts";
import { LibvirtConnectionError, LibvirtProtocolError } from "./errors.ts";
import {
  type HealthSource,
  type LibvirtClientHealth,
  type LibvirtHealthRegistry,
  type LibvirtLastError,
  libvirtHealth,
} from "./health.ts";
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
import type { XdrReader } from "./xdr.ts";

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
  /**
   * Largest backoff while the socket file exists, ms (the daemon is likely back, or about to be). Defaults to
   * 2000. The 30 s cap applies only while the socket is absent, and then the socket's directory is watched.
   */
  maxDelayWhileSocketExists?: number;
  /**
   * How long a new connection must stay up, with no successful call, to count as recovered, ms. Until then the
   * backoff keeps growing, so a daemon that accepts and breaks every connection is not hammered. Defaults to
   * 10000.
   */
  stableAfter?: number;
  /**
   * Watches the socket's directory and calls `onChange` when an entry in it changes; returns the stop function.
   * Defaults to fs.watch; `false` leaves reconnecting to the backoff alone.
   */
  watchSocket?: ((socketPath: string, onChange: () => void) => () => void) | false;
  /** Whether the socket file exists; defaults to fs.existsSync. */
  socketExists?: (socketPath: string) => boolean;
  /** Where the client reports its connection's health for /metrics; defaults to the process's registry. */
  health?: LibvirtHealthRegistry;
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

/** Watches the socket's directory with fs.watch; any failure to watch leaves reconnecting to the backoff. */
function watchSocketDir(socketPath: string, onChange: () => void): () => void {
  const name = basename(socketPath);
  try {
    const watcher = watch(dirname(socketPath), { persistent: false }, (_event, file) => {
      if (file === null || file === name) onChange();
    });
    watcher.on("error", () => watcher.close());
    return () => watcher.close();
  } catch {
    return () => {};
  }
}

/** A void reply: nothing to read, and (checked by the connection) nothing left over. */
const VOID: ReplyDecoder<void> = () => {};

/**
 * A libvirt client over the RPC protocol. After `connect()` it keeps the connection: when the daemon goes
 * away, or sends anything a libvirt daemon does not send, the connection is closed and calls in flight fail
 * with a LibvirtConnectionError; the client reconnects with capped, jittered backoff (a few seconds at most
 * while the socket file exists, and at once when the socket reappears) and registers its lifecycle callback
 * again. Calls made while disconnected fail at once; they are not queued. One warning is logged when the
 * connection is lost and one line when it is back.
 */
export class LibvirtClient implements HealthSource {
  readonly socketPath: string;
  readonly uri: string;
  readonly #opts: LibvirtClientOptions;
  readonly #timers: Timers;
  readonly #health: LibvirtHealthRegistry;
  #conn: RpcConnection | undefined;
  #closed = false;
  #opening = false;
  #attempt = 0;
  #retryTimer: unknown;
  #stableTimer: unknown;
  #stopWatching: (() => void) | undefined;
  #lastError: LibvirtLastError | undefined;
  /** Set from the loss of a working connection until one works again. */
  #failing: { since: number; attempts: number } | undefined;
  #connectedOnce = false;
  #reconnects = 0;
  #callbackId: number | undefined;
  readonly #lifecycleHandlers = new Set<(e: LifecycleEventInfo) => void>();
  readonly #stateHandlers = new Set<(s: ClientState, err?: Error) => void>();

  constructor(opts: LibvirtClientOptions = {}) {
    this.#opts = opts;
    this.socketPath = opts.socketPath ?? DEFAULT_SOCKET;
    this.uri = opts.uri ?? "qemu:///system";
    this.#timers = opts.timers ?? realTimers;
    this.#health = opts.health ?? libvirtHealth;
  }

  /** Opens the first connection; rejects if it fails (then no reconnecting starts). */
  async connect(): Promise<void> {
    if (this.#closed) throw new LibvirtConnectionError("client is closed", "client");
    this.#health.add(this);
    try {
      await this.#open();
    } catch (err) {
      this.#noteError(err as Error);
      this.#health.remove(this, true);
      throw err;
    }
  }

  get connected(): boolean {
    return this.#conn !== undefined && !this.#conn.closed;
  }

  /** The connection's state for /metrics. */
  health(): LibvirtClientHealth {
    return {
      socket: this.socketPath,
      up: this.connected,
      reconnects: this.#reconnects,
      ...(this.#lastError ? { lastError: this.#lastError } : {}),
    };
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
  libVersion(): Promise<bigint> {
    return this.#call(Proc.CONNECT_GET_LIB_VERSION, undefined, (r) => r.uhyper());
  }

  /** CONNECT_LIST_ALL_DOMAINS with VIR_CONNECT_LIST_DOMAINS_* flags (0 = all). */
  listAllDomains(flags = 0): Promise<Domain[]> {
    return this.#call(
      Proc.CONNECT_LIST_ALL_DOMAINS,
      payload((w) => w.int(1).uint(flags)),
      (r) => {
        const domains = r.array(readDomain, REMOTE_DOMAIN_LIST_MAX);
        r.uint(); // ret: the count again
        return domains;
      },
    );
  }

  /**
   * CONNECT_GET_ALL_DOMAIN_STATS: `stats` is a StatsGroup bitmask (0 = all the driver has). With `domains`, only
   * those (virDomainListGetStats: the ones gone by now are skipped); without, every domain.
   */
  getAllDomainStats(stats = 0, flags = 0, domains: readonly Domain[] = []): Promise<DomainStatsRecord[]> {
    return this.#call(
      Proc.CONNECT_GET_ALL_DOMAIN_STATS,
      payload((w) => w.array(domains, writeDomain).uint(stats).uint(flags)),
      (r) => r.array(readStatsRecord, REMOTE_DOMAIN_LIST_MAX),
    );
  }

  /** DOMAIN_GET_XML_DESC. */
  getXmlDesc(dom: Domain, flags = 0): Promise<string> {
    return this.#call(
      Proc.DOMAIN_GET_XML_DESC,
      payload((w) => {
        writeDomain(w, dom);
        w.uint(flags);
      }),
      (r) => r.string(),
    );
  }

  /** Stops reconnecting, deregisters callbacks, sends CONNECT_CLOSE and closes the socket. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#timers.clearTimeout(this.#retryTimer);
    this.#timers.clearTimeout(this.#stableTimer);
    this.#unwatch();
    this.#health.remove(this);
    const conn = this.#conn;
    this.#conn = undefined;
    this.#lifecycleHandlers.clear();
    if (conn && !conn.closed) {
      try {
        if (this.#callbackId !== undefined)
          await conn.call(
            Proc.CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY,
            payload((w) => w.int(this.#callbackId!)),
            { decode: VOID },
          );
        await conn.call(Proc.CONNECT_CLOSE, undefined, { decode: VOID });
      } catch {
        // The daemon may already be gone; closing the socket below is all that is left to do.
      }
      conn.close();
    }
    this.#callbackId = undefined;
    this.#emit("closed");
  }

  async #call<T>(proc: number, args: Uint8Array | undefined, decode: ReplyDecoder<T>): Promise<T> {
    const conn = this.#conn;
    if (!conn || conn.closed)
      throw new LibvirtConnectionError(
        `not connected to libvirt at ${this.socketPath}${this.#lastError ? `: ${this.#lastError.message}` : ""}`,
        this.#lastError?.reason ?? "closed",
      );
    const value = await conn.call(proc, args, { decode });
    if (conn === this.#conn) this.#recovered();
    return value;
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
      const auth = await conn.call(Proc.AUTH_LIST, undefined, {
        decode: (r) => r.array((x) => x.int(), REMOTE_AUTH_TYPE_LIST_MAX),
      });
      if (auth.length > 0 && !auth.includes(0))
        throw new LibvirtConnectionError(
          `libvirt at ${this.socketPath} requires authentication (types ${auth.join(",")}), which this client does not do`,
          "handshake",
        );
      await conn.call(
        Proc.CONNECT_SUPPORTS_FEATURE,
        payload((w) => w.int(FEATURE_PROGRAM_KEEPALIVE)),
        { decode: (r) => r.int() },
      );
      const flags = this.#opts.readOnly === false ? 0 : CONNECT_RO;
      await conn.call(
        Proc.CONNECT_OPEN,
        payload((w) => w.optional(this.uri, (x, u) => x.string(u)).uint(flags)),
        { decode: VOID },
      );
      conn.onMessage((m) => this.#onMessage(m.proc, m.payload));
      this.#callbackId = undefined;
      if (this.#lifecycleHandlers.size > 0) await this.#registerLifecycle(conn);
    } catch (err) {
      conn.close("handshake failed");
      // A refusal by a daemon that speaks the protocol (an error reply) is a handshake failure; anything else
      // already says what broke.
      if (err instanceof LibvirtConnectionError) throw err;
      throw new LibvirtConnectionError(
        `libvirt at ${this.socketPath} refused the handshake: ${(err as Error).message}`,
        "handshake",
        { cause: err },
      );
    }
    if (this.#closed) {
      conn.close("client closed while connecting");
      return;
    }
    this.#conn = conn;
    if (this.#connectedOnce) this.#reconnects++;
    this.#connectedOnce = true;
    this.#unwatch();
    conn.onClose((err) => this.#onDrop(conn, err));
    this.#timers.clearTimeout(this.#stableTimer);
    this.#stableTimer = this.#timers.setTimeout(() => {
      if (conn === this.#conn && !conn.closed) this.#recovered();
    }, this.#opts.stableAfter ?? 10_000);
    this.#emit("connected");
  }

  /**
   * Decodes an event. A payload that does not decode throws, which breaks the connection; a subscriber that
   * throws is logged and the others still get the event.
   */
  #onMessage(proc: number, r: XdrReader): void {
    if (proc !== Proc.DOMAIN_EVENT_CALLBACK_LIFECYCLE) return;
    const msg = readLifecycleMessage(r);
    if (r.remaining !== 0)
      throw new LibvirtProtocolError(`libvirt lifecycle event has ${r.remaining} bytes after its payload`);
    if (msg.callbackID !== this.#callbackId) return;
    const info: LifecycleEventInfo = {
      domain: msg.dom,
      event: LIFECYCLE_EVENTS[msg.event] ?? "unknown",
      detail: msg.detail,
    };
    for (const handler of this.#lifecycleHandlers) {
      try {
        handler(info);
      } catch (err) {
        this.#opts.log?.error({ err: (err as Error).message }, "libvirt lifecycle subscriber failed");
      }
    }
  }

  async #registerLifecycle(conn: RpcConnection): Promise<void> {
    this.#callbackId = await conn.call(
      Proc.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY,
      payload((w) => w.int(EVENT_ID_LIFECYCLE).optional(null, writeDomain)),
      { decode: (r) => r.int() },
    );
  }

  async #deregisterLifecycle(): Promise<void> {
    const id = this.#callbackId;
    this.#callbackId = undefined;
    if (id === undefined || !this.connected) return;
    await this.#conn!.call(
      Proc.CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY,
      payload((w) => w.int(id)),
      { decode: VOID },
    );
  }

  #noteError(err: Error): void {
    this.#lastError = {
      reason: err instanceof LibvirtConnectionError ? err.reason : "protocol",
      message: err.message,
      time: Date.now(),
    };
  }

  /** The connection works again: one line for the recovery, and the backoff starts over. */
  #recovered(): void {
    this.#attempt = 0;
    if (!this.#failing) return;
    this.#opts.log?.info(
      {
        socket: this.socketPath,
        downMs: this.#timers.now() - this.#failing.since,
        attempts: this.#failing.attempts,
      },
      "libvirt connection restored",
    );
    this.#failing = undefined;
  }

  #onDrop(conn: RpcConnection, err: LibvirtConnectionError): void {
    if (this.#conn !== conn || this.#closed) return;
    this.#conn = undefined;
    this.#callbackId = undefined;
    this.#timers.clearTimeout(this.#stableTimer);
    this.#noteError(err);
    const fields = { socket: this.socketPath, reason: err.reason, err: err.message };
    if (this.#failing) this.#opts.log?.debug(fields, "libvirt connection lost again; reconnecting");
    else {
      this.#failing = { since: this.#timers.now(), attempts: 0 };
      this.#opts.log?.warn(fields, "libvirt connection lost; reconnecting");
    }
    this.#emit("disconnected", err);
    this.#watch();
    this.#scheduleReconnect();
  }

  #socketExists(): boolean {
    return (this.#opts.socketExists ?? existsSync)(this.socketPath);
  }

  #scheduleReconnect(delay?: number): void {
    if (this.#closed) return;
    this.#timers.clearTimeout(this.#retryTimer);
    const backoff = this.#opts.reconnect ?? {};
    const max = backoff.max ?? 30_000;
    const wait =
      delay ??
      backoffDelay(this.#attempt++, {
        ...backoff,
        max: this.#socketExists() ? Math.min(max, this.#opts.maxDelayWhileSocketExists ?? 2000) : max,
      });
    this.#retryTimer = this.#timers.setTimeout(() => this.#reconnect(), wait);
  }

  #reconnect(): void {
    if (this.#closed || this.#opening || this.connected) return;
    this.#opening = true;
    this.#open()
      .catch((err: Error) => {
        this.#noteError(err);
        if (this.#failing) this.#failing.attempts++;
        this.#opts.log?.debug({ socket: this.socketPath, err: err.message }, "libvirt reconnect failed");
        this.#scheduleReconnect();
      })
      .finally(() => {
        this.#opening = false;
      });
  }

  /** While disconnected, a change to the socket (libvirtd creating it on start) triggers an attempt at once. */
  #watch(): void {
    if (this.#stopWatching || this.#opts.watchSocket === false) return;
    const watchFn = this.#opts.watchSocket ?? watchSocketDir;
    this.#stopWatching = watchFn(this.socketPath, () => {
      if (this.#closed || this.connected || this.#opening || !this.#socketExists()) return;
      this.#attempt = 0;
      this.#scheduleReconnect(0);
    });
  }

  #unwatch(): void {
    this.#stopWatching?.();
    this.#stopWatching = undefined;
  }

  #emit(state: ClientState, err?: Error): void {
    for (const handler of this.#stateHandlers) handler(state, err);
  }
}
