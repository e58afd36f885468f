/**
 * Runs `fn` on every item with at most `limit` calls in flight, in order of the items. Every item is tried even
 * when some fail; then the first failure is thrown, so a reconcile that wrote most of its objects is requeued
 * for the rest.
 */
export async function forEachLimit<T>(
  items: Iterable<T>,
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  const queue = [...items];
  let next = 0;
  const failures: unknown[] = [];
  const worker = async () => {
    while (next < queue.length) {
      const item = queue[next++]!;
      await fn(item).catch((err: unknown) => {
        failures.push(err);
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), queue.length) }, worker));
  if (failures.length) throw failures[0];
}
