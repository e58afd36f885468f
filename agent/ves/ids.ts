import { randomBytes } from "node:crypto";

/** Digits of the counter part of an eventId; ids stay the same length, so they also sort as text, up to 10^10 - 1. */
export const EVENT_ID_DIGITS = 10;

const PREFIX = /^[A-Za-z][A-Za-z0-9._:-]*$/;

/** Formats an eventId: the prefix and the zero-padded counter (`measurement0000000042`). No whitespace, as VES asks. */
export function formatEventId(prefix: string, n: number): string {
  if (!PREFIX.test(prefix)) throw new RangeError(`invalid eventId prefix ${JSON.stringify(prefix)}`);
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`invalid eventId counter ${n}`);
  return `${prefix}${String(n).padStart(EVENT_ID_DIGITS, "0")}`;
}

/**
 * One increasing eventId series (VES: "increment the integer part of eventId by 1 per event"; a repeated id reads as
 * a duplicate). `last` is the counter of the id handed out most recently, so a restored sequence continues after it.
 */
export class EventIdSequence {
  readonly prefix: string;
  #last: number;

  /** `last`: the counter already used (0 when none was), e.g. restored from a spool after a restart. */
  constructor(prefix: string, last = 0) {
    formatEventId(prefix, last);
    this.prefix = prefix;
    this.#last = last;
  }

  /** The next id; each call returns a larger one. */
  next(): string {
    this.#last++;
    return formatEventId(this.prefix, this.#last);
  }

  /** The counter of the id handed out most recently (0 before the first). */
  get last(): number {
    return this.#last;
  }
}

/**
 * One sequence per key (a domain such as `measurement`, or `measurement:vm1` for a per-source series), created on
 * first use with the key as prefix. `snapshot()` and the constructor's `start` let a caller persist and restore them.
 */
export class EventIds {
  readonly #sequences = new Map<string, EventIdSequence>();
  readonly #start: Readonly<Record<string, number>>;

  /** `start`: the last counter used per key, as returned by a previous `snapshot()`. */
  constructor(start: Readonly<Record<string, number>> = {}) {
    this.#start = start;
  }

  /** The sequence of `key`; the same object on every call. */
  sequence(key: string): EventIdSequence {
    let seq = this.#sequences.get(key);
    if (!seq) {
      seq = new EventIdSequence(key, this.#start[key] ?? 0);
      this.#sequences.set(key, seq);
    }
    return seq;
  }

  /** The next id of `key`. */
  next(key: string): string {
    return this.sequence(key).next();
  }

  /** The last counter used per key (including restored keys not used since), to persist. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = { ...this.#start };
    for (const [key, seq] of this.#sequences) out[key] = seq.last;
    return out;
  }
}

/**
 * What makes one run's eventIds unlike any other run's: the start time (ms, base 36) and 24 random bits.
 * Counters restart with each run, and a run may start with its state directory gone, so the counter alone
 * would repeat ids a collector has already seen (and would drop as duplicates); the epoch never repeats,
 * even when two starts read the same clock.
 */
export function eventIdEpoch(nowMs: number, random: (bytes: number) => Buffer = randomBytes): string {
  return `${Math.floor(nowMs).toString(36)}${random(3).toString("hex")}`;
}

/** The prefix of a series in one run: `heartbeat-<epoch>-`, so ids read `heartbeat-<epoch>-0000000042`. */
export function epochPrefix(domain: string, epoch: string): string {
  return `${domain}-${epoch}-`;
}
