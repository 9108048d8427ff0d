/**
 * The interface every system of the object-store scenario implements: Redis
 * (redis.ts) today, the cloud ring (cloud.ts) once client/ exists. The
 * scenario drives all of them with the same closed-loop generator (load.ts).
 *
 * @module
 */

import type { LoadDriver } from "./load.ts";

/** A running key-value or object store, ready for load. */
export interface ObjectStore {
  /** What the table calls it, e.g. `redis 7.0.15` or `cloud, 3 servers, 2 copies`. */
  readonly label: string;
  /** Pids of the store's server processes (for peak RSS and for the record). */
  readonly pids: readonly number[];
  /**
   * Store `count` objects of `valueBytes` bytes each, for readers to fetch
   * (not timed). Readers fetch object `i % count`.
   */
  preload(count: number, valueBytes: number): Promise<void>;
  /**
   * One connection whose op(i) stores a new `valueBytes` object (cloud ADD,
   * Redis SET): the content or key depends on `i`, so no operation is a
   * repeat the store could skip.
   */
  openWriter(valueBytes: number): Promise<LoadDriver>;
  /** One connection whose op(i) fetches preloaded object `i % count` and checks its length (GET). */
  openReader(): Promise<LoadDriver>;
  /** Stop every process the store started. */
  stop(): Promise<void>;
}
