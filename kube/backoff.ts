/** Capped exponential backoff with jitter. */
export interface BackoffOptions {
  /** First delay in ms. Defaults to 500. */
  initial?: number;
  /** Largest delay in ms. Defaults to 30000. */
  max?: number;
  /** Relative jitter, 0..1: each delay is spread uniformly over ±jitter. Defaults to 0.2. */
  jitter?: number;
  /** Source of randomness in [0, 1); injectable for tests. */
  random?: () => number;
}

/** The delay before retry number `attempt` (0-based). */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}): number {
  const initial = opts.initial ?? 500;
  const max = opts.max ?? 30_000;
  const jitter = Math.min(Math.max(opts.jitter ?? 0.2, 0), 1);
  const base = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  const spread = 1 + jitter * (2 * (opts.random ?? Math.random)() - 1);
  return Math.round(Math.min(max, base * spread));
}

/**
 * client-go's `wait.Backoff` with a jitter factor: the base doubles from `initial` up to `max`, then each delay
 * is stretched by up to `jitter` times itself, never shortened. So no retry comes sooner than the base, and
 * a fleet that failed together spreads out. client-go's reflector uses 800 ms, 30 s and a factor of 1.
 */
export function upwardJitterDelay(
  attempt: number,
  opts: { initial: number; max: number; jitter?: number; random?: () => number },
): number {
  const base = Math.min(opts.max, opts.initial * 2 ** Math.min(attempt, 30));
  return Math.round(base * (1 + (opts.jitter ?? 1) * (opts.random ?? Math.random)()));
}
