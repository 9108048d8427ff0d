/**
 * Moving chunked files: storing a stream of chunks and its index objects
 * with a bounded number of requests in flight, and reading them back in
 * order with every chunk checked against its ref and the whole content
 * against the manifest. The requests themselves go through an
 * {@linkcode ObjectIo}, so this logic runs against a real ring or a map.
 *
 * Memory: an upload holds `parallel` chunks and one pending ref list per
 * tree level; a download holds `parallel` chunks and one index object per
 * level. Neither depends on the file's size.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { saltOf } from "../protocol/digest.ts";
import { formatHash, objectHash } from "../protocol/hash.ts";
import {
  checkManifest,
  chunkName,
  type ChunkRef,
  ChunkTreeBuilder,
  decodeIndex,
  encodeManifest,
  indexName,
  type Manifest,
  ManifestError,
  objectSize,
  type TreeShape,
} from "../protocol/manifest.ts";
import { CloudError } from "./errors.ts";

/** What one copy of an object turned out to be. */
export type FetchedCopy =
  | { readonly kind: "data"; readonly data: Uint8Array }
  | { readonly kind: "missing"; readonly detail: string }
  /** No server is left to ask. */
  | { readonly kind: "end" };

/** How transfers store and read single objects. */
export interface ObjectIo {
  /**
   * Stores `data` as a complete file named `name` (ADD) and returns its
   * hash. `hash` is where it lands unless its salt is taken (a hint for
   * sending it to its owner).
   */
  store(name: string, data: Uint8Array, hash: number): Promise<number>;
  /**
   * Reads copy number `copy` of the object at `hash`: 0 through its owner,
   * then each other server of the ring in turn, then `end`.
   */
  fetch(hash: number, copy: number): Promise<FetchedCopy>;
}

/** Options of {@linkcode storeChunks}. */
export interface StoreChunksOptions {
  /** Chunk size; every chunk but the last must have exactly this length. */
  readonly chunkSize: number;
  /** Chunks stored at once. */
  readonly parallel: number;
  /** Called with the number of bytes stored so far. */
  readonly onProgress?: (bytes: number) => void;
}

/** A chunked file whose chunks and index objects are stored. */
export interface StoredChunks {
  /** The encoded manifest: MADD it, or send it with UPD. */
  readonly manifest: Uint8Array;
  readonly size: number;
  readonly sha256: string;
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then((value) => ({ ok: true, value }), (error) => ({ ok: false, error }));
}

function unwrap<T>(settled: Settled<T>): T {
  if (!settled.ok) throw settled.error;
  return settled.value;
}

/** Stores one object and returns its ref; the salt the server picks is the digest's first 32 bits. */
async function storeRef(io: ObjectIo, name: string, data: Uint8Array): Promise<ChunkRef> {
  const sha = createHash("sha256").update(data).digest("hex");
  const hash = await io.store(name, data, objectHash(name, saltOf(sha)));
  return { hash, digest: sha.slice(0, 16), size: data.length };
}

/**
 * Stores `chunks` (in order, each of `chunkSize` bytes but the last) and
 * the index objects above them; returns the manifest. At most `parallel`
 * chunks are in flight. Nothing is stored for the file itself: MADD the
 * manifest, or send it with UPD.
 *
 * @throws {CloudError} or {@linkcode ConnectionError} when a chunk cannot be stored;
 * the chunks stored before stay (nothing refers to them).
 */
export async function storeChunks(
  io: ObjectIo,
  chunks: AsyncIterable<Uint8Array>,
  options: StoreChunksOptions,
): Promise<StoredChunks> {
  const builder = new ChunkTreeBuilder();
  const whole = createHash("sha256");
  const inflight: Promise<Settled<ChunkRef>>[] = [];
  let size = 0;
  let stored = 0;
  const push = async (level: number, ref: ChunkRef): Promise<void> => {
    let index = builder.push(level, ref);
    while (index) index = builder.push(index.level, await storeRef(io, indexName, index.bytes));
  };
  const take = async (): Promise<void> => {
    const ref = unwrap(await inflight.shift()!);
    stored += ref.size;
    options.onProgress?.(stored);
    await push(0, ref);
  };
  for await (const chunk of chunks) {
    if (chunk.length === 0) continue;
    if (size % options.chunkSize !== 0) {
      throw new RangeError(
        `Cannot store chunks: a chunk shorter than ${options.chunkSize} bytes is not the last`,
      );
    }
    whole.update(chunk);
    size += chunk.length;
    inflight.push(settle(storeRef(io, chunkName, chunk)));
    if (inflight.length >= options.parallel) await take();
  }
  while (inflight.length > 0) await take();
  for (;;) {
    const step = builder.finish();
    if (step.kind === "root") {
      const sha256 = whole.digest("hex");
      const manifest: Manifest = {
        depth: step.depth,
        chunkSize: options.chunkSize,
        size,
        sha256,
        refs: step.refs,
      };
      return { manifest: encodeManifest(manifest), size, sha256 };
    }
    await push(step.index.level, await storeRef(io, indexName, step.index.bytes));
  }
}

/** Options of {@linkcode readChunks}. */
export interface ReadChunksOptions {
  /** Chunks fetched at once, ahead of the reader. */
  readonly parallel: number;
  /** Called with the number of bytes read so far. */
  readonly onProgress?: (bytes: number) => void;
}

/** Where an object sits in a file's tree, for error messages. */
interface Place {
  readonly level: number;
  readonly index: number;
}

/**
 * Reads the chunks of the chunked file `file` (its hash, for messages) in
 * order, fetching up to `parallel` ahead. Each chunk and index object is
 * checked against its ref (length and digest), trying the other servers
 * when a copy is bad; the whole content is checked against the manifest's
 * SHA-256 before the generator finishes.
 *
 * @throws {CloudError} `chunk-missing` or `chunk-corrupt` naming the file, the
 * chunk's number and hash, when no intact copy of a chunk or index object
 * exists; `corrupt` when the whole content does not match the manifest.
 */
export async function* readChunks(
  io: ObjectIo,
  file: string,
  manifest: Manifest,
  options: ReadChunksOptions,
): AsyncGenerator<Uint8Array> {
  const shape = checkManifest(manifest);
  const whole = createHash("sha256");
  const refs = walk(io, file, manifest, shape);
  const queue: Promise<Settled<Uint8Array>>[] = [];
  let bytes = 0;
  let exhausted = false;
  try {
    for (;;) {
      while (!exhausted && queue.length < options.parallel) {
        const next = await refs.next();
        if (next.done) exhausted = true;
        else queue.push(settle(fetchChecked(io, file, next.value, shape)));
      }
      const head = queue.shift();
      if (!head) break;
      const chunk = unwrap(await head);
      whole.update(chunk);
      bytes += chunk.length;
      options.onProgress?.(bytes);
      yield chunk;
    }
  } finally {
    await refs.return(undefined);
  }
  const sha256 = whole.digest("hex");
  if (sha256 !== manifest.sha256 || bytes !== manifest.size) {
    throw new CloudError(
      "corrupt",
      `Cannot read file ${file}: its ${bytes} bytes have SHA-256 ${sha256} where the manifest says ${manifest.size} bytes with ${manifest.sha256}`,
    );
  }
}

/** The chunk refs of a tree in order, fetching and checking index objects on the way. */
async function* walk(
  io: ObjectIo,
  file: string,
  manifest: Manifest,
  shape: TreeShape,
): AsyncGenerator<{ ref: ChunkRef; place: Place }> {
  const positions = shape.counts.map(() => 0);
  async function* visit(
    level: number,
    refs: readonly ChunkRef[],
  ): AsyncGenerator<{ ref: ChunkRef; place: Place }> {
    for (const ref of refs) {
      const place = { level, index: positions[level]!++ };
      const size = objectSize(shape, level, place.index, manifest);
      if (ref.size !== size) {
        throw new CloudError(
          "corrupt",
          `Cannot read file ${file}: the ref of ${describePlace(place, shape)} (${
            formatHash(ref.hash)
          }) says ${ref.size} bytes where ${size} belong`,
        );
      }
      if (level === 0) {
        yield { ref, place };
        continue;
      }
      const bytes = await fetchChecked(io, file, { ref, place }, shape);
      let children: ChunkRef[];
      try {
        children = decodeIndex(bytes, level);
      } catch (error) {
        if (!(error instanceof ManifestError)) throw error;
        throw new CloudError(
          "chunk-corrupt",
          `Cannot read file ${file}: ${describePlace(place, shape)} (${
            formatHash(ref.hash)
          }) is malformed: ${error.message}`,
        );
      }
      yield* visit(level - 1, children);
    }
  }
  yield* visit(shape.depth - 1, manifest.refs);
}

function describePlace(place: Place, shape: TreeShape): string {
  const count = shape.counts[place.level]!;
  return place.level === 0
    ? `chunk ${place.index} of ${count}`
    : `index object ${place.index} of ${count} at level ${place.level}`;
}

/** Fetches an object and checks it against its ref, trying every copy before giving up. */
async function fetchChecked(
  io: ObjectIo,
  file: string,
  target: { ref: ChunkRef; place: Place },
  shape: TreeShape,
): Promise<Uint8Array> {
  const { ref, place } = target;
  let corrupt: string | undefined;
  let missing = "no server holds it";
  for (let copy = 0;; copy++) {
    const fetched = await io.fetch(ref.hash, copy);
    if (fetched.kind === "end") break;
    if (fetched.kind === "missing") {
      if (copy === 0) missing = fetched.detail;
      continue;
    }
    const data = fetched.data;
    const digest = data.length === ref.size
      ? createHash("sha256").update(data).digest("hex").slice(0, 16)
      : undefined;
    if (digest === ref.digest) return data;
    corrupt ??= `${data.length} bytes with digest ${
      digest ?? "(not computed)"
    } where its ref says ${ref.size} bytes with digest ${ref.digest}`;
  }
  const what = `Cannot read file ${file}: ${describePlace(place, shape)} (${formatHash(ref.hash)})`;
  if (corrupt) throw new CloudError("chunk-corrupt", `${what} is corrupt: ${corrupt}`);
  throw new CloudError("chunk-missing", `${what} is missing: ${missing}`);
}
