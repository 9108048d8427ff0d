/**
 * The inputs of jobs on a runner's disk, by hash: stored objects never
 * change, so each is fetched once and shared by every job (and lane) that
 * reads it, within a bound on the bytes kept. A job holds its inputs from
 * before they are fetched until it has run: the oldest inputs no job holds
 * go when the cache is over its bound (held ones may take it over for a
 * while), so an input is never deleted between being fetched and being read.
 *
 * @module
 */

/** Fetches input `hash` into the local file `path`; resolves to its size in bytes. */
export type InputFetch = (hash: string, path: string) => Promise<number>;

/** Inputs held for one job: their paths stay on disk until {@linkcode HeldInputs.release}. */
export interface HeldInputs {
  /** The local path of each input, in the order asked for. */
  readonly paths: readonly string[];
  /** Lets the inputs go (once; later calls do nothing). */
  release(): void;
}

/** Options of {@linkcode InputCache}. */
export interface InputCacheOptions {
  /** Directory of the cached files (created on first use). */
  readonly dir: string;
  /** Bytes kept; beyond them the oldest inputs go. */
  readonly bytesMax: number;
  readonly fetch: InputFetch;
}

/** Inputs on local disk, by hash: stored objects never change, so a hash is fetched once. */
export class InputCache {
  readonly #options: InputCacheOptions;
  readonly #pending = new Map<string, Promise<string>>();
  readonly #sizes = new Map<string, number>();
  /** Jobs holding each input now. */
  readonly #holds = new Map<string, number>();
  #bytes = 0;

  /** An empty cache. */
  constructor(options: InputCacheOptions) {
    this.#options = options;
  }

  /**
   * Holds the inputs `hashes` for one job, fetching those not cached, and
   * returns their paths; they stay on disk until released.
   *
   * @throws {unknown} what fetching an input threw (the others are let go).
   */
  async acquire(hashes: readonly string[]): Promise<HeldInputs> {
    for (const hash of hashes) this.#holds.set(hash, (this.#holds.get(hash) ?? 0) + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      for (const hash of hashes) {
        const holds = (this.#holds.get(hash) ?? 1) - 1;
        if (holds === 0) this.#holds.delete(hash);
        else this.#holds.set(hash, holds);
      }
      this.#evict();
    };
    try {
      return { paths: await Promise.all(hashes.map((hash) => this.#path(hash))), release };
    } catch (error) {
      release();
      throw error;
    }
  }

  /** Bytes of the inputs on disk now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The local path of input `hash`, fetching it when not cached. */
  #path(hash: string): Promise<string> {
    let pending = this.#pending.get(hash);
    if (!pending) {
      pending = this.#fetch(hash);
      this.#pending.set(hash, pending);
      pending.catch(() => this.#pending.delete(hash));
    }
    return pending;
  }

  /** Streams the input to disk, then renames it into place. */
  async #fetch(hash: string): Promise<string> {
    await Deno.mkdir(this.#options.dir, { recursive: true });
    const path = `${this.#options.dir}/${hash}`;
    const partial = `${path}.part`;
    const size = await this.#options.fetch(hash, partial);
    await Deno.rename(partial, path);
    this.#sizes.set(hash, size);
    this.#bytes += size;
    this.#evict();
    return path;
  }

  /** Drops the oldest inputs no job holds while the cache is over its limit. */
  #evict(): void {
    for (const [hash, size] of this.#sizes) {
      if (this.#bytes <= this.#options.bytesMax) return;
      if (this.#holds.has(hash)) continue;
      this.#sizes.delete(hash);
      this.#pending.delete(hash);
      this.#bytes -= size;
      // At once, not in the background: a removal still pending when the
      // input is fetched again would delete the new copy.
      try {
        Deno.removeSync(`${this.#options.dir}/${hash}`);
      } catch {
        // Already gone.
      }
    }
  }
}
