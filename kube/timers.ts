/** Timer functions, injectable so tests can drive time (keepalive, timeouts, schedules). */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

/** The real clock; timers do not keep the process alive on their own. */
export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  now: () => Date.now(),
};

/** The next multiple of `intervalMs` after `now`: schedules fall on the same boundaries whenever they start. */
export function nextBoundary(now: number, intervalMs: number): number {
  return (Math.floor(now / intervalMs) + 1) * intervalMs;
}
