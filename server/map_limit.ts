/**
 * Bounded concurrency for the server's fan-outs (repair, the readiness
 * sweep): at most `limit` pieces of work in flight.
 *
 * @module
 */

/** Runs `work` over `items`, at most `limit` at a time, in order of `items`. */
export async function mapLimit<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  });
  await Promise.all(lanes);
}
