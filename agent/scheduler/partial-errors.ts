/** Distinct partial errors a job tracks one by one; beyond them, one overflow key stands for the rest. */
export const MAX_PARTIAL_ERROR_KEYS = 16;
/** Longest key kept from an error's first line: collector errors can quote whole files. */
export const MAX_PARTIAL_ERROR_KEY_LENGTH = 256;
/** Consecutive collections without an error before it counts as cleared: an error seen every other read stays open. */
export const DEFAULT_PARTIAL_CLEAR_AFTER = 2;
/** The key that stands for the errors past MAX_PARTIAL_ERROR_KEYS. */
export const OVERFLOW_KEY = "more distinct partial errors than are tracked one by one";

/** What one collection's partial errors changed: keys that appeared and keys that cleared, in order. */
export interface PartialErrorChange {
  appeared: string[];
  cleared: string[];
}

/**
 * The key of a partial error: its first line, trimmed and clipped. Numbers and ids are kept (they name the
 * disk or domain that failed), so two domains failing are two keys.
 */
export function partialErrorKey(error: string): string {
  const line = (error.split("\n", 1)[0] ?? "").trim() || "unnamed partial error";
  return line.length > MAX_PARTIAL_ERROR_KEY_LENGTH
    ? `${line.slice(0, MAX_PARTIAL_ERROR_KEY_LENGTH - 1)}…`
    : line;
}

/**
 * One job's open partial errors (`CollectResult.errors`), as transitions: a key opens the first time a
 * collection reports it and clears after `clearAfter` consecutive collections without it. Bounded: at most
 * `maxKeys` keys are open, further distinct errors share OVERFLOW_KEY. Pure bookkeeping, no clock.
 */
export class PartialErrors {
  readonly #clearAfter: number;
  readonly #maxKeys: number;
  /** Open key → consecutive collections that did not report it. */
  readonly #open = new Map<string, number>();
  /** Distinct errors in the latest collection, and errors reported since the job started. */
  #current = 0;
  #total = 0;

  constructor(options: { clearAfter?: number; maxKeys?: number } = {}) {
    this.#clearAfter = options.clearAfter ?? DEFAULT_PARTIAL_CLEAR_AFTER;
    this.#maxKeys = options.maxKeys ?? MAX_PARTIAL_ERROR_KEYS;
    if (!Number.isSafeInteger(this.#clearAfter) || this.#clearAfter < 1)
      throw new RangeError(`clearAfter must be a positive integer, got ${this.#clearAfter}`);
    if (!Number.isSafeInteger(this.#maxKeys) || this.#maxKeys < 1)
      throw new RangeError(`maxKeys must be a positive integer, got ${this.#maxKeys}`);
  }

  /** Distinct partial errors in the latest collection. */
  get current(): number {
    return this.#current;
  }

  /** Partial errors reported since the job started (each error of each collection). */
  get total(): number {
    return this.#total;
  }

  /** The keys open now. */
  open(): string[] {
    return [...this.#open.keys()];
  }

  /** Takes the `errors` of one successful collection. */
  observe(errors: readonly string[]): PartialErrorChange {
    this.#total += errors.length;
    const seen = new Set<string>();
    for (const e of errors) seen.add(partialErrorKey(e));
    this.#current = seen.size;
    // Keys that went away clear first, so a new error takes the room they leave before the overflow key does.
    const cleared: string[] = [];
    for (const key of this.#open.keys()) if (key !== OVERFLOW_KEY && !seen.has(key)) this.#miss(key, cleared);
    const reported = new Set<string>();
    const appeared: string[] = [];
    for (const key of seen) {
      const named = this.#open.size - (this.#open.has(OVERFLOW_KEY) ? 1 : 0);
      const tracked = this.#open.has(key) || named < this.#maxKeys - 1 ? key : OVERFLOW_KEY;
      reported.add(tracked);
      if (!this.#open.has(tracked)) appeared.push(tracked);
      this.#open.set(tracked, 0);
    }
    if (this.#open.has(OVERFLOW_KEY) && !reported.has(OVERFLOW_KEY)) this.#miss(OVERFLOW_KEY, cleared);
    return { appeared, cleared };
  }

  /** One more collection without `key`: cleared (and pushed to `cleared`) once it has missed clearAfter. */
  #miss(key: string, cleared: string[]): void {
    const missed = (this.#open.get(key) ?? 0) + 1;
    if (missed < this.#clearAfter) this.#open.set(key, missed);
    else {
      this.#open.delete(key);
      cleared.push(key);
    }
  }
}
