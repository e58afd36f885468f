import type { Logger } from "pino";
import { backoffDelay } from "../../../kube/backoff.ts";
import { forEachLimit } from "../../../kube/concurrency.ts";
import { realTimers, type Timers } from "../../../kube/timers.ts";
import type { LifecycleEventInfo } from "../client.ts";
import type { Domain, DomainStatsRecord } from "../remote.ts";
import type { DaemonDiscovery, DaemonTarget } from "./daemon-target.ts";

/** What the pool needs of a libvirt client (LibvirtClient has it). */
export interface PoolClient {
  readonly socketPath: string;
  connect(): Promise<void>;
  close(): Promise<void>;
  onLifecycle(handler: (e: LifecycleEventInfo) => void): Promise<() => Promise<void>>;
  getAllDomainStats(stats: number, flags?: number, domains?: readonly Domain[]): Promise<DomainStatsRecord[]>;
  getXmlDesc(dom: Domain): Promise<string>;
}

/** One daemon the pool holds a client of. */
export interface PooledDaemon {
  readonly target: DaemonTarget;
  readonly client: PoolClient;
}

/** The stats one daemon returned. */
export interface DaemonStats {
  daemon: PooledDaemon;
  records: DomainStatsRecord[];
}

/** What one round over the daemons read, and what it could not. */
export interface PoolRead {
  reads: DaemonStats[];
  /** The uuids last read from daemons that could not be read this time: their VMs are not known gone. */
  unread: string[];
  /** One line per daemon that failed (connect or stats), naming it. */
  errors: string[];
}

/** Daemons a pool reads (and connects to) at once unless told otherwise. */
export const DAEMONS_AT_ONCE = 8;

/** Settings of a DaemonPool. */
export interface DaemonPoolOptions {
  discovery: DaemonDiscovery;
  /** Makes a client (not yet connected) for a daemon's socket. */
  client: (target: DaemonTarget) => PoolClient;
  /** Called for every lifecycle event of any daemon, with the daemon it came from. */
  onLifecycle: (e: LifecycleEventInfo, daemon: PooledDaemon) => void;
  /** Called when the pool lets a socket go (its pod went away), so per-socket state can be forgotten. */
  onForget?: (socketPath: string) => void;
  /** Daemons read (and connected) at once; defaults to DAEMONS_AT_ONCE. */
  concurrency?: number;
  /** Backoff between attempts to open a daemon's first connection; defaults to 1 s doubling to 30 s. */
  retry?: { initial?: number; max?: number; random?: () => number };
  /** How long one daemon's stats may take before the collection goes on without it, ms; none by default. */
  deadline?: number;
  /** Timers of the deadline; defaults to the real ones. */
  timers?: Timers;
  /** Wall clock, ms; injectable for tests. */
  now: () => number;
  log?: Logger;
}

interface Held extends PooledDaemon {
  target: DaemonTarget;
  unsubscribe: () => Promise<void>;
  /** Domain uuids of the last successful read. */
  uuids: string[];
  /** The stats call in flight, if one is. */
  inflight?: Promise<DomainStatsRecord[]> | undefined;
}

interface Pending {
  target: DaemonTarget;
  attempts: number;
  notBefore: number;
  lastError?: string;
}

/** How a daemon is named in logs and errors: its VMI when known, else its pod uid. */
export const daemonLabel = (t: DaemonTarget) => (t.vmi ? `${t.vmi.namespace}/${t.vmi.name}` : `pod ${t.key}`);

/**
 * One libvirt client per discovered daemon (KubeVirt runs one per VM, in its virt-launcher pod). Before each
 * read the pool asks discovery what is there: clients open for new daemons (retried with backoff while a
 * daemon is not up yet) and close for those gone. The bulk stats call goes to every daemon, `concurrency` at
 * a time; a daemon that fails costs only its own VMs. A client keeps reconnecting by itself while its daemon
 * is still discovered.
 */
export class DaemonPool {
  readonly #opts: DaemonPoolOptions;
  readonly #held = new Map<string, Held>();
  readonly #pending = new Map<string, Pending>();
  #closed = false;

  constructor(opts: DaemonPoolOptions) {
    this.#opts = opts;
  }

  /** The daemons with an open client. */
  get daemons(): PooledDaemon[] {
    return [...this.#held.values()];
  }

  /**
   * Syncs with discovery, then reads every daemon's stats (the groups given, or those `groups` gives for each
   * daemon). Rejects only when discovery does.
   */
  async read(groups: number | ((daemon: PooledDaemon) => number)): Promise<PoolRead> {
    const groupsOf = typeof groups === "number" ? () => groups : groups;
    const errors: string[] = [];
    await this.#sync();
    const reads: DaemonStats[] = [];
    const unread: string[] = [];
    await forEachLimit(this.#held.values(), this.#opts.concurrency ?? DAEMONS_AT_ONCE, async (d) => {
      try {
        const records = await this.#stats(d, groupsOf(d));
        d.uuids = records.map((r) => r.dom.uuid);
        reads.push({ daemon: d, records });
      } catch (err) {
        unread.push(...d.uuids);
        errors.push(`daemon of ${daemonLabel(d.target)}: ${(err as Error).message}`);
      }
    });
    // Daemons whose first connection is still to come: a new pod's daemon is not up yet, or one went away.
    for (const p of this.#pending.values())
      if (p.lastError) errors.push(`daemon of ${daemonLabel(p.target)}: ${p.lastError}`);
    return { reads, unread, errors };
  }

  /**
   * One daemon's bulk stats, given up on after `deadline` so a hung daemon does not hold every VM's collection
   * up to the call timeout. A call still running is not doubled: the daemon is skipped until it ends.
   */
  async #stats(d: Held, groups: number): Promise<DomainStatsRecord[]> {
    if (d.inflight) throw new Error("still answering the previous stats call");
    const call = d.client.getAllDomainStats(groups);
    d.inflight = call;
    const done = () => {
      d.inflight = undefined;
    };
    call.then(done, done);
    const deadline = this.#opts.deadline;
    if (deadline === undefined) return call;
    const timers = this.#opts.timers ?? realTimers;
    let timer: unknown;
    const late = new Promise<never>((_, reject) => {
      timer = timers.setTimeout(() => reject(new Error(`no stats within ${deadline} ms`)), deadline);
    });
    try {
      return await Promise.race([call, late]);
    } finally {
      timers.clearTimeout(timer);
    }
  }

  async #sync(): Promise<void> {
    const targets = await this.#opts.discovery.targets();
    const wanted = new Map(targets.map((t) => [t.key, t]));
    const gone = [...this.#held.values()].filter((h) => {
      const t = wanted.get(h.target.key);
      // A pod whose socket changed (libvirtd replaced by virtqemud) gets a new client.
      return !t || t.socketPath !== h.target.socketPath;
    });
    for (const h of gone) await this.#drop(h);
    for (const [key, p] of this.#pending)
      if (!wanted.has(key)) {
        this.#pending.delete(key);
        this.#opts.onForget?.(p.target.socketPath);
      }
    const now = this.#opts.now();
    const toOpen: Pending[] = [];
    for (const t of targets) {
      const held = this.#held.get(t.key);
      if (held) {
        // The API may name the VMI after the socket showed up; the newest naming wins.
        if (t.vmi && !held.target.vmi) held.target = t;
        continue;
      }
      const p = this.#pending.get(t.key) ?? { target: t, attempts: 0, notBefore: 0 };
      p.target = t;
      this.#pending.set(t.key, p);
      if (p.notBefore <= now) toOpen.push(p);
    }
    await forEachLimit(toOpen, this.#opts.concurrency ?? DAEMONS_AT_ONCE, (p) => this.#open(p));
  }

  async #open(p: Pending): Promise<void> {
    const client = this.#opts.client(p.target);
    const label = daemonLabel(p.target);
    try {
      await client.connect();
      const daemon: Held = { target: p.target, client, uuids: [], unsubscribe: async () => {} };
      daemon.unsubscribe = await client.onLifecycle((e) => this.#opts.onLifecycle(e, daemon));
      if (this.#closed) {
        await client.close();
        return;
      }
      this.#pending.delete(p.target.key);
      this.#held.set(p.target.key, daemon);
      if (p.lastError) this.#opts.log?.info({ daemon: label }, "libvirt daemon reachable again");
      else this.#opts.log?.debug({ daemon: label, socket: client.socketPath }, "libvirt daemon connected");
    } catch (err) {
      await client.close().catch(() => {});
      const message = (err as Error).message;
      if (p.lastError === undefined)
        this.#opts.log?.warn(
          { daemon: label, socket: client.socketPath, err: message },
          "cannot connect to a discovered libvirt daemon; retrying",
        );
      p.lastError = message;
      p.notBefore =
        this.#opts.now() +
        backoffDelay(p.attempts++, {
          initial: this.#opts.retry?.initial ?? 1000,
          max: this.#opts.retry?.max ?? 30_000,
          ...(this.#opts.retry?.random ? { random: this.#opts.retry.random } : {}),
        });
    }
  }

  async #drop(h: Held): Promise<void> {
    this.#held.delete(h.target.key);
    await h.unsubscribe().catch(() => {});
    await h.client.close().catch(() => {});
    this.#opts.onForget?.(h.client.socketPath);
    this.#opts.log?.debug({ daemon: daemonLabel(h.target) }, "libvirt daemon gone; connection closed");
  }

  /** Closes every client and the discovery. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const held = [...this.#held.values()];
    this.#held.clear();
    this.#pending.clear();
    await Promise.all(
      held.map(async (h) => {
        await h.unsubscribe().catch(() => {});
        await h.client.close().catch(() => {});
      }),
    );
    await this.#opts.discovery.close();
  }
}
