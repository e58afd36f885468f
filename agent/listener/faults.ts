/**
 * The fault knobs of the listener. Counters (`*Next`) act on exactly that many requests and count down;
 * rates (`*Rate`, 0..1) draw from the random source on each request. Counters go before rates.
 */
export interface FaultSettings {
  /** Delay before answering, in ms. Defaults to 0. */
  latencyMs: number;
  /** Destroy the socket of the next N requests without answering. Defaults to 0. */
  dropConnectionNext: number;
  /** Probability of destroying the socket without answering. Defaults to 0. */
  dropRate: number;
  /** Answer the next N requests with 429 and Retry-After. Defaults to 0. */
  throttleNext: number;
  /** Probability of answering 429. Defaults to 0. */
  throttleRate: number;
  /** Retry-After of a 429, in seconds. Defaults to 1. */
  retryAfter: number;
  /** Answer the next N requests with `errorStatus`. Defaults to 0. */
  failNext: number;
  /** Probability of answering `errorStatus`. Defaults to 0. */
  errorRate: number;
  /** Status of an injected error, 400..599. Defaults to 503. */
  errorStatus: number;
}

/** What to do with one request, before it is authenticated or parsed. */
export type FaultAction =
  | { kind: "drop" }
  | { kind: "throttle"; retryAfter: number }
  | { kind: "error"; status: number }
  | { kind: "pass" };

/** The knobs' defaults: no faults. */
export const DEFAULT_FAULTS: Readonly<FaultSettings> = Object.freeze({
  latencyMs: 0,
  dropConnectionNext: 0,
  dropRate: 0,
  throttleNext: 0,
  throttleRate: 0,
  retryAfter: 1,
  failNext: 0,
  errorRate: 0,
  errorStatus: 503,
});

type Rule = { kind: "count" } | { kind: "rate" } | { kind: "status" };

const RULES: Record<keyof FaultSettings, Rule> = {
  latencyMs: { kind: "count" },
  dropConnectionNext: { kind: "count" },
  dropRate: { kind: "rate" },
  throttleNext: { kind: "count" },
  throttleRate: { kind: "rate" },
  retryAfter: { kind: "count" },
  failNext: { kind: "count" },
  errorRate: { kind: "rate" },
  errorStatus: { kind: "status" },
};

function isKnob(key: string): key is keyof FaultSettings {
  return Object.hasOwn(RULES, key);
}

/**
 * Checks a partial set of knobs (from options or the control API). Returns the errors, each naming the knob;
 * keys in `extra` are allowed and left to the caller.
 */
export function checkFaults(patch: unknown, extra: readonly string[] = []): string[] {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch))
    return ["(root): must be an object"];
  const errors: string[] = [];
  for (const [key, value] of Object.entries(patch)) {
    if (extra.includes(key)) continue;
    if (!isKnob(key)) {
      errors.push(`${key}: unknown fault knob`);
      continue;
    }
    const rule = RULES[key];
    if (typeof value !== "number" || !Number.isFinite(value)) errors.push(`${key}: must be a number`);
    else if (rule.kind === "rate" && (value < 0 || value > 1)) errors.push(`${key}: must be within [0, 1]`);
    else if (rule.kind === "count" && (value < 0 || !Number.isInteger(value)))
      errors.push(`${key}: must be an integer ≥ 0`);
    else if (rule.kind === "status" && (!Number.isInteger(value) || value < 400 || value > 599))
      errors.push(`${key}: must be an HTTP status within [400, 599]`);
  }
  return errors;
}

/** The live knobs of one listener, changed at run time through the control API. */
export class Faults {
  readonly #random: () => number;
  #settings: FaultSettings;

  /** Throws naming the knob when `initial` is invalid. `random` returns [0, 1); defaults to Math.random. */
  constructor(initial: Partial<FaultSettings> = {}, random: () => number = Math.random) {
    const errors = checkFaults(initial);
    if (errors.length) throw new TypeError(`invalid fault settings: ${errors.join("; ")}`);
    this.#settings = { ...DEFAULT_FAULTS, ...initial };
    this.#random = random;
  }

  /** A copy of the current knobs, counters as they stand now. */
  get settings(): FaultSettings {
    return { ...this.#settings };
  }

  /** Merges knobs into the current ones. The patch must have passed `checkFaults`. */
  update(patch: Partial<FaultSettings>): void {
    for (const key of Object.keys(patch)) {
      const value = patch[key as keyof FaultSettings];
      if (isKnob(key) && value !== undefined) this.#settings[key] = value;
    }
  }

  /** Puts every knob back to its default. */
  reset(): void {
    this.#settings = { ...DEFAULT_FAULTS };
  }

  /** Decides the fate of one request and counts down the counter it used. */
  next(): FaultAction {
    const s = this.#settings;
    if (this.#take("dropConnectionNext", "dropRate")) return { kind: "drop" };
    if (this.#take("throttleNext", "throttleRate")) return { kind: "throttle", retryAfter: s.retryAfter };
    if (this.#take("failNext", "errorRate")) return { kind: "error", status: s.errorStatus };
    return { kind: "pass" };
  }

  #take(
    counter: "dropConnectionNext" | "throttleNext" | "failNext",
    rate: "dropRate" | "throttleRate" | "errorRate",
  ) {
    if (this.#settings[counter] > 0) {
      this.#settings[counter]--;
      return true;
    }
    // Draw only for a rate that is set, so a test's random source sees exactly the draws it arranged.
    return this.#settings[rate] > 0 && this.#random() < this.#settings[rate];
  }
}
