import { Worker } from "node:worker_threads";
import { realTimers, type Timers } from "../../kube/timers.ts";
import type { ValidationRequest, ValidationResult } from "./cluster-validation.ts";

// The worker's file sits beside this one, as .ts when run from the sources and .js when built into dist/.
const WORKER = new URL(
  `./validation-worker${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`,
  import.meta.url,
);

/** A validation's outcome: the worker's answer, or why there is none. */
export type IsolatedOutcome = { ok: true; result: ValidationResult } | { ok: false; message: string };

/** Settings of an IsolatedValidator. */
export interface IsolatedValidatorOptions {
  /** How long the worker stays after its last answer. Defaults to 30 s. */
  idleMs?: number;
  timers?: Timers;
}

/**
 * Cluster mode's validation, in a worker thread that ends when idle. The validators (ajv, the CEL runtime, the
 * TypeBox schemas) cost about 15 MiB of heap and code that the main thread would keep for good (ES modules are
 * never unloaded), to be used once per profile edit. The worker stays for a while after an answer, so a burst
 * of edits (or many agents in one process, as bench/agent-fleet.ts runs them) starts it once. Never throws: a
 * worker that fails answers every request in flight with its error.
 */
export class IsolatedValidator {
  readonly #idleMs: number;
  readonly #timers: Timers;
  #worker: Worker | undefined;
  #idle: unknown;
  #next = 0;
  readonly #pending = new Map<number, (o: IsolatedOutcome) => void>();

  constructor(opts: IsolatedValidatorOptions = {}) {
    this.#idleMs = opts.idleMs ?? 30_000;
    this.#timers = opts.timers ?? realTimers;
  }

  /** Validates in the worker, starting it if needed. */
  validate(request: ValidationRequest): Promise<IsolatedOutcome> {
    this.#timers.clearTimeout(this.#idle);
    const worker = this.#worker ?? this.#start();
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      worker.postMessage({ id, request });
    });
  }

  /** Whether a worker is running (for tests and the memory figures). */
  get running(): boolean {
    return this.#worker !== undefined;
  }

  /** Ends the worker now; requests in flight are answered with an error. */
  close(): Promise<void> {
    const w = this.#worker;
    this.#fail(w, "the validator was closed");
    return w ? w.terminate().then(() => undefined) : Promise.resolve();
  }

  #start(): Worker {
    const worker = new Worker(WORKER);
    // An idle worker must not keep the process alive; a request in flight holds it with ref().
    worker.unref();
    this.#worker = worker;
    worker.on("message", (m: { id: number; result: ValidationResult }) => {
      const resolve = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      resolve?.({ ok: true, result: m.result });
      if (this.#pending.size === 0)
        this.#idle = this.#timers.setTimeout(() => {
          if (this.#pending.size === 0 && this.#worker === worker) {
            this.#worker = undefined;
            void worker.terminate();
          }
        }, this.#idleMs);
    });
    worker.once("error", (err: Error) => this.#fail(worker, `validation failed: ${err.message}`));
    worker.once("exit", (code) => this.#fail(worker, `the validation worker ended (exit code ${code})`));
    return worker;
  }

  #fail(worker: Worker | undefined, message: string): void {
    if (!worker || this.#worker !== worker) return;
    this.#worker = undefined;
    this.#timers.clearTimeout(this.#idle);
    const waiting = [...this.#pending.values()];
    this.#pending.clear();
    for (const resolve of waiting) resolve({ ok: false, message });
  }
}
