import { CoordinationV1Api, type KubeConfig, type V1Lease, V1MicroTime } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { isConflict, isNotFound } from "./apply.ts";
import { realTimers, type Timers } from "./timers.ts";

/** Settings of a leader elector. Durations default to client-go's 15 s / 10 s / 2 s. */
export interface LeaderElectorOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** Name of the Lease. */
  name: string;
  /** This candidate, unique among them (typically the pod name). */
  identity: string;
  /** How long a lease holds without renewal; others wait this long after the last renewal. */
  leaseDurationMs?: number;
  /** A leader that cannot renew for this long steps down; must be shorter than the lease duration. */
  renewDeadlineMs?: number;
  /** Time between attempts to acquire or renew. */
  retryPeriodMs?: number;
  timers?: Timers;
  /** Source of randomness in [0, 1) for the acquire jitter; injectable for tests. */
  random?: () => number;
  /** Called on becoming leader; the signal aborts when leadership ends. */
  onStartedLeading?: (signal: AbortSignal) => void;
  /** Called when leadership ends: lost, renewal deadline passed, or stopped. */
  onStoppedLeading?: () => void;
  /** Called when the observed holder changes (including to this candidate). */
  onNewLeader?: (identity: string) => void;
  log?: Logger;
}

// client-go's JitterFactor for the acquire loop: waits are spread over retryPeriod × [1, 2.2).
const JITTER = 1.2;

/**
 * Leader election on a `coordination.k8s.io/v1` Lease, after client-go's `leaderelection`: candidates poll
 * the lease and take it when it is absent, released or expired. Expiry is judged, as client-go does, by the
 * local time at which this candidate last saw the record change plus leaseDurationSeconds, never by the
 * holder's renewTime: the clocks of two nodes need not agree, and a follower whose clock runs ahead must not
 * take a lease that is being renewed;
 * the leader renews every retry period; writes carry the read resourceVersion, so a 409 means another
 * candidate won the race. A leader that cannot renew within the renew deadline steps down and stops
 * campaigning (as client-go's `Run` returns); call `start()` again to stand again. `stop()` releases the lease
 * so a successor takes over at once (client-go's ReleaseOnCancel). All time math uses `timers.now()`.
 */
export class LeaderElector {
  readonly #opts: LeaderElectorOptions;
  readonly #api: CoordinationV1Api;
  readonly #timers: Timers;
  readonly #leaseMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryMs: number;
  #running = false;
  #leading: AbortController | undefined;
  #timer: unknown;
  #deadline: unknown;
  #attempt: Promise<void> | undefined;
  /** The lease as last written by this candidate, for release. */
  #observed: V1Lease | undefined;
  #leader: string | undefined;
  /** The lease spec as last seen, and the local time it was first seen so: the basis of expiry. */
  #observedRecord: string | undefined;
  #observedAt = 0;

  constructor(opts: LeaderElectorOptions) {
    this.#opts = opts;
    this.#api = opts.kubeConfig.makeApiClient(CoordinationV1Api);
    this.#timers = opts.timers ?? realTimers;
    this.#leaseMs = opts.leaseDurationMs ?? 15_000;
    this.#renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.#retryMs = opts.retryPeriodMs ?? 2_000;
    if (this.#renewDeadlineMs >= this.#leaseMs)
      throw new Error("renewDeadlineMs must be below leaseDurationMs");
  }

  /** Whether this candidate holds the lease now. */
  get isLeader(): boolean {
    return this.#leading !== undefined;
  }

  /** The holder last seen on the lease, if any. */
  get leader(): string | undefined {
    return this.#leader;
  }

  /** Resolves when no acquire or renew request is in flight (tests drive time between attempts). */
  async whenIdle(): Promise<void> {
    while (this.#attempt) await this.#attempt;
  }

  /** Starts campaigning: the first attempt is immediate. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#tick();
  }

  /**
   * Stops campaigning, waits for an attempt in flight, and, when leading, ends leadership. With `release`
   * (the default) the lease is handed back so another candidate takes it on its next attempt; without it the
   * lease runs out as if this process had died.
   */
  async stop({ release = true }: { release?: boolean } = {}): Promise<void> {
    this.#running = false;
    this.#timers.clearTimeout(this.#timer);
    await this.#attempt;
    if (!this.#leading) return;
    if (release) await this.#release();
    this.#stepDown("stopped");
  }

  /** Stops and hands the lease back at once; the same as `stop()`. */
  release(): Promise<void> {
    return this.stop({ release: true });
  }

  #tick(): void {
    if (!this.#running) return;
    this.#attempt = this.#tryAcquireOrRenew().finally(() => {
      this.#attempt = undefined;
      if (!this.#running) return;
      const wait = this.#leading
        ? this.#retryMs
        : this.#retryMs * (1 + JITTER * (this.#opts.random ?? Math.random)());
      this.#timer = this.#timers.setTimeout(() => this.#tick(), wait);
    });
  }

  #observe(holder: string | undefined): void {
    if (!holder || holder === this.#leader) return;
    this.#leader = holder;
    this.#opts.log?.info({ lease: this.#opts.name, leader: holder }, "new leader observed");
    this.#safely(() => this.#opts.onNewLeader?.(holder));
  }

  async #tryAcquireOrRenew(): Promise<void> {
    const { namespace, name, identity } = this.#opts;
    const started = this.#timers.now();
    const now = new V1MicroTime(started);
    const leaseDurationSeconds = Math.ceil(this.#leaseMs / 1000);
    try {
      let current: V1Lease | undefined;
      try {
        current = await this.#api.readNamespacedLease({ name, namespace });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      if (!this.#running) return;
      let written: V1Lease;
      if (!current) {
        written = await this.#api.createNamespacedLease({
          namespace,
          body: {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: { name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds,
              acquireTime: now,
              renewTime: now,
              leaseTransitions: 0,
            },
          },
        });
      } else {
        const spec = current.spec ?? {};
        const holder = spec.holderIdentity || undefined;
        this.#observe(holder);
        this.#observeRecord(spec, started);
        if (holder && holder !== identity && !this.#expired(spec, started)) {
          if (this.#leading) this.#lose(`lease taken by ${holder}`);
          return;
        }
        const mine = holder === identity;
        written = await this.#api.replaceNamespacedLease({
          name,
          namespace,
          body: {
            ...current,
            spec: {
              ...spec,
              holderIdentity: identity,
              leaseDurationSeconds,
              renewTime: now,
              acquireTime: mine && spec.acquireTime ? spec.acquireTime : now,
              leaseTransitions: (spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
            },
          },
        });
      }
      // Leadership may have ended (deadline, stop) while the write was in flight; then it does not count.
      if (!this.#running) return;
      this.#observed = written;
      this.#observeRecord(written.spec ?? {}, started);
      this.#observe(identity);
      this.#renewed(started);
    } catch (err) {
      if (isConflict(err)) this.#opts.log?.debug({ lease: name }, "lost the race for the lease");
      else
        this.#opts.log?.warn(
          { lease: name, err: (err as Error)?.message ?? String(err), leading: this.isLeader },
          "cannot acquire or renew the lease",
        );
    }
  }

  /** Notes the local time when the record differs from the one seen before. */
  #observeRecord(spec: NonNullable<V1Lease["spec"]>, now: number): void {
    const record = JSON.stringify([
      spec.holderIdentity ?? "",
      spec.leaseDurationSeconds ?? 0,
      String(spec.acquireTime ?? ""),
      String(spec.renewTime ?? ""),
      spec.leaseTransitions ?? 0,
    ]);
    if (record === this.#observedRecord) return;
    this.#observedRecord = record;
    this.#observedAt = now;
  }

  /** Valid while the record was seen changing less than leaseDurationSeconds ago, by this process's clock. */
  #expired(spec: NonNullable<V1Lease["spec"]>, now: number): boolean {
    return this.#observedAt + (spec.leaseDurationSeconds ?? 0) * 1000 <= now;
  }

  /** Counts the deadline from the attempt's start: that is the renewTime others see. */
  #renewed(at: number): void {
    this.#timers.clearTimeout(this.#deadline);
    const left = at + this.#renewDeadlineMs - this.#timers.now();
    this.#deadline = this.#timers.setTimeout(() => this.#lose("renew deadline passed"), left);
    if (this.#leading) return;
    this.#leading = new AbortController();
    this.#opts.log?.info({ lease: this.#opts.name, identity: this.#opts.identity }, "became leader");
    const signal = this.#leading.signal;
    this.#safely(() => this.#opts.onStartedLeading?.(signal));
  }

  /** Leadership lost while campaigning: step down and stop, as client-go's `Run` returns. */
  #lose(why: string): void {
    this.#running = false;
    this.#timers.clearTimeout(this.#timer);
    this.#stepDown(why);
  }

  #stepDown(why: string): void {
    this.#timers.clearTimeout(this.#deadline);
    const leading = this.#leading;
    if (!leading) return;
    this.#leading = undefined;
    this.#opts.log?.warn({ lease: this.#opts.name, identity: this.#opts.identity, why }, "stopped leading");
    leading.abort();
    this.#safely(() => this.#opts.onStoppedLeading?.());
  }

  async #release(): Promise<void> {
    const lease = this.#observed;
    if (!lease?.spec) return;
    const now = new V1MicroTime(this.#timers.now());
    try {
      await this.#api.replaceNamespacedLease({
        name: this.#opts.name,
        namespace: this.#opts.namespace,
        body: {
          ...lease,
          // As client-go's release: no holder and a 1 s duration, so candidates take over on their next try.
          spec: {
            ...lease.spec,
            holderIdentity: "",
            leaseDurationSeconds: 1,
            renewTime: now,
            acquireTime: now,
          },
        },
      });
    } catch (err) {
      this.#opts.log?.warn(
        { lease: this.#opts.name, err: (err as Error)?.message ?? String(err) },
        "cannot release the lease; it will expire",
      );
    }
  }

  #safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#opts.log?.error(
        { err: (err as Error)?.message ?? String(err) },
        "leader election callback failed",
      );
    }
  }
}
