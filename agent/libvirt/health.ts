import type { ConnectionErrorReason } from "./errors.ts";

/** The last thing that broke a libvirt connection or kept it from opening. */
export interface LibvirtLastError {
  reason: ConnectionErrorReason;
  message: string;
  /** ms since the epoch. */
  time: number;
}

/** What one client says about its connection. */
export interface LibvirtClientHealth {
  socket: string;
  /** Connected, with the handshake done. */
  up: boolean;
  /** Connections re-established after one was lost, since the client started. */
  reconnects: number;
  lastError?: LibvirtLastError;
}

/** Anything that reports its libvirt connection's health. */
export interface HealthSource {
  health(): LibvirtClientHealth;
}

/** The health of every client of one socket, for /metrics. */
export interface LibvirtSocketHealth {
  socket: string;
  /** Whether every open client of the socket is connected; undefined when no client is open. */
  up?: boolean;
  /** Reconnects of every client of the socket since the agent started, closed ones included. */
  reconnects: number;
  lastError?: LibvirtLastError;
}

/**
 * How long a client that gave up at its first attempt keeps its socket reported down, ms. The scheduler retries
 * a job that cannot start at least every 5 minutes (+20 %), each retry renewing this; a job removed from the
 * configuration stops renewing it, and its socket drops out of `vesmon_libvirt_up` instead of staying down.
 */
export const FAILED_START_REPORTED_FOR = 10 * 60_000;

/**
 * The libvirt clients of the process, so /metrics can report their connections without the collectors that own
 * them knowing about metrics. A client registers while open; what it counted stays when it closes, so the
 * reconnect counter never goes back.
 */
export class LibvirtHealthRegistry {
  readonly #now: () => number;
  readonly #open = new Set<HealthSource>();
  readonly #retired = new Map<
    string,
    { reconnects: number; lastError?: LibvirtLastError; failedStartAt?: number }
  >();

  /** `now` is the clock that ages failed starts (ms); defaults to Date.now. */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  add(source: HealthSource): void {
    this.#open.add(source);
  }

  /**
   * Forgets a closed client, keeping its counts. `neverConnected` marks a client given up on because its first
   * connection failed: its socket then stays reported down until another client of it connects, or for
   * FAILED_START_REPORTED_FOR.
   */
  remove(source: HealthSource, neverConnected = false): void {
    if (!this.#open.delete(source)) return;
    const h = source.health();
    const r = this.#retired.get(h.socket) ?? { reconnects: 0 };
    if (neverConnected) r.failedStartAt = this.#now();
    else delete r.failedStartAt;
    r.reconnects += h.reconnects;
    if (h.lastError && (!r.lastError || h.lastError.time >= r.lastError.time)) r.lastError = h.lastError;
    this.#retired.set(h.socket, r);
  }

  /**
   * Drops what closed clients of `socket` left, so a socket that is gone for good (a KubeVirt pod deleted) leaves
   * no series behind: per-pod sockets would otherwise grow the metrics without bound.
   */
  forget(socket: string): void {
    this.#retired.delete(socket);
  }

  /** One entry per socket in use, or used and not forgotten. */
  snapshot(): LibvirtSocketHealth[] {
    const out = new Map<string, LibvirtSocketHealth>();
    const entry = (socket: string) => {
      let e = out.get(socket);
      if (!e) {
        e = { socket, reconnects: 0 };
        out.set(socket, e);
      }
      return e;
    };
    const newer = (e: LibvirtSocketHealth, err?: LibvirtLastError) => {
      if (err && (!e.lastError || err.time >= e.lastError.time)) e.lastError = err;
    };
    for (const [socket, r] of this.#retired) {
      const e = entry(socket);
      e.reconnects += r.reconnects;
      if (r.failedStartAt !== undefined && this.#now() - r.failedStartAt < FAILED_START_REPORTED_FOR)
        e.up = false;
      newer(e, r.lastError);
    }
    const opened = new Set<string>();
    for (const source of this.#open) {
      const h = source.health();
      const e = entry(h.socket);
      // A failed first attempt of an earlier client says nothing once a current one reports.
      e.up = (opened.has(h.socket) ? (e.up ?? true) : true) && h.up;
      opened.add(h.socket);
      e.reconnects += h.reconnects;
      newer(e, h.lastError);
    }
    return [...out.values()];
  }
}

/** The process's registry: every LibvirtClient registers here unless given another. */
export const libvirtHealth = new LibvirtHealthRegistry();
