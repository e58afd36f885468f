import type { Logger } from "pino";
import { realTimers, type Timers } from "./timers.ts";

/** Settings of a work queue. Defaults are client-go's `DefaultControllerRateLimiter`. */
export interface WorkQueueOptions {
  /** First per-item retry delay, ms. Defaults to 5. */
  baseDelayMs?: number;
  /** Largest per-item retry delay, ms. Defaults to 1000 s. */
  maxDelayMs?: number;
  /** Refill rate of the global token bucket, per second. Defaults to 10. */
  qps?: number;
  /** Size of the global token bucket. Defaults to 100. */
  burst?: number;
  timers?: Timers;
  log?: Logger;
  /** Names the queue in log lines. */
  name?: string;
}

/**
 * A keyed work queue with client-go's semantics: a key is queued at most once however often it is added; a
 * key is never processed by two workers at once (one added while in flight runs again once the current run
 * ends); failed keys come back after the larger of a per-item exponential backoff and a global token-bucket
 * delay.
 */
export class WorkQueue<K extends string> {
  readonly #timers: Timers;
  readonly #baseDelay: number;
  readonly #maxDelay: number;
  readonly #qps: number;
  readonly #burst: number;
  readonly #log: Logger | undefined;
  readonly #name: string;
  readonly #queue: K[] = [];
  /** Keys that need processing: queued, or added again while in flight. */
  readonly #dirty = new Set<K>();
  readonly #processing = new Set<K>();
  readonly #failures = new Map<K, number>();
  readonly #delayed = new Map<K, { at: number; handle: unknown }>();
  readonly #waiters: (() => void)[] = [];
  readonly #loops: Promise<void>[] = [];
  #tokens: number;
  #refilledAt: number;
  #shuttingDown = false;

  constructor(opts: WorkQueueOptions = {}) {
    this.#timers = opts.timers ?? realTimers;
    this.#baseDelay = opts.baseDelayMs ?? 5;
    this.#maxDelay = opts.maxDelayMs ?? 1_000_000;
    this.#qps = opts.qps ?? 10;
    this.#burst = opts.burst ?? 100;
    this.#log = opts.log;
    this.#name = opts.name ?? "workqueue";
    this.#tokens = this.#burst;
    this.#refilledAt = this.#timers.now();
  }

  /** Queues a key now, unless it is already queued. Ignored after `shutDown()`. */
  add(key: K): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    // An in-flight key is queued again when its run ends, so it never runs twice at once.
    if (this.#processing.has(key)) return;
    this.#queue.push(key);
    this.#waiters.shift()?.();
  }

  /** Queues a key after `ms`; a key already waiting keeps the earlier of the two times. */
  addAfter(key: K, ms: number): void {
    if (this.#shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.#timers.now() + ms;
    const waiting = this.#delayed.get(key);
    if (waiting) {
      if (waiting.at <= at) return;
      this.#timers.clearTimeout(waiting.handle);
    }
    const handle = this.#timers.setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, ms);
    this.#delayed.set(key, { at, handle });
  }

  /** Queues a key after its backoff: the larger of the per-item delay and the global bucket's. */
  addRateLimited(key: K): void {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    const perItem = Math.min(this.#maxDelay, this.#baseDelay * 2 ** Math.min(failures, 62));
    this.addAfter(key, Math.max(perItem, this.#bucketDelay()));
  }

  /** Clears a key's failure count, so its next `addRateLimited` starts from the base delay. */
  forget(key: K): void {
    this.#failures.delete(key);
  }

  /** How often a key has been rate-limited since it was last forgotten. */
  numRequeues(key: K): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Keys ready to be processed (client-go's `workqueue_depth`). */
  get depth(): number {
    return this.#queue.length;
  }

  /** Distinct keys known to the queue: ready, waiting for their delay, or in flight. */
  get length(): number {
    return new Set([...this.#dirty, ...this.#processing, ...this.#delayed.keys()]).size;
  }

  /** Keys being processed now. */
  get inFlight(): number {
    return this.#processing.size;
  }

  /**
   * Processes keys with `concurrency` workers until `shutDown()`. A worker that throws gets its key requeued
   * with `addRateLimited`; one that succeeds gets it forgotten. Resolves when every worker has stopped.
   */
  run(concurrency: number, worker: (key: K) => Promise<void>): Promise<void> {
    const loops: Promise<void>[] = [];
    for (let i = 0; i < Math.max(1, concurrency); i++) loops.push(this.#loop(worker));
    this.#loops.push(...loops);
    return Promise.all(loops).then(() => undefined);
  }

  /**
   * Stops accepting keys and drops delayed ones; workers still take what is already queued (as client-go's
   * ShutDownWithDrain), and this resolves once they have finished.
   */
  async shutDown(): Promise<void> {
    this.#shuttingDown = true;
    for (const { handle } of this.#delayed.values()) this.#timers.clearTimeout(handle);
    this.#delayed.clear();
    for (const wake of this.#waiters.splice(0)) wake();
    await Promise.all(this.#loops);
  }

  /** Whether `shutDown()` has been called. */
  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Takes one token; the answer is how long the caller must wait for it (tokens may go into debt). */
  #bucketDelay(): number {
    const now = this.#timers.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#refilledAt) * this.#qps) / 1000);
    this.#refilledAt = now;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens * 1000) / this.#qps);
  }

  async #next(): Promise<K | undefined> {
    for (;;) {
      const key = this.#queue.shift();
      if (key !== undefined) {
        this.#dirty.delete(key);
        this.#processing.add(key);
        return key;
      }
      if (this.#shuttingDown) return undefined;
      await new Promise<void>((wake) => this.#waiters.push(wake));
    }
  }

  async #loop(worker: (key: K) => Promise<void>): Promise<void> {
    for (;;) {
      const key = await this.#next();
      if (key === undefined) return;
      try {
        await worker(key);
        this.forget(key);
      } catch (err) {
        this.#log?.warn(
          {
            queue: this.#name,
            key,
            err: (err as Error)?.message ?? String(err),
            requeues: this.numRequeues(key),
          },
          "work item failed; requeued with backoff",
        );
        this.addRateLimited(key);
      } finally {
        this.#processing.delete(key);
        if (this.#dirty.has(key)) {
          this.#queue.push(key);
          this.#waiters.shift()?.();
        }
      }
    }
  }
}
