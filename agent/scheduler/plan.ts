/** What applying a configuration does to the running jobs. */
export interface Plan<T> {
  /** Jobs to start (new ids). */
  start: T[];
  /** Ids of running jobs that are no longer wanted. */
  stop: string[];
  /** Ids running and still wanted: left untouched. */
  keep: string[];
}

/**
 * Diffs running against desired jobs by id. A changed job has a new id, so it appears as one start and
 * one stop; the caller starts before it stops, so the collector is never absent.
 */
export function plan<T>(running: ReadonlyMap<string, unknown>, desired: ReadonlyMap<string, T>): Plan<T> {
  const start: T[] = [];
  const keep: string[] = [];
  for (const [id, job] of desired) {
    if (running.has(id)) keep.push(id);
    else start.push(job);
  }
  const stop = [...running.keys()].filter((id) => !desired.has(id));
  return { start, stop, keep };
}
