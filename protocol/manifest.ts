/**
 * Chunked files: the manifest and index objects that describe a file too
 * large for one object, and the tree that links them to its chunks. Pure:
 * no sockets, no clock. docs/PROTOCOL.md ("Large objects") is the normative
 * description, byte by byte, with test vectors.
 *
 * A file of `size` bytes is cut into chunks of `chunkSize` bytes (the last
 * one shorter), each stored as an ordinary file named {@linkcode chunkName}.
 * A ref names a stored object: its hash, the first 8 bytes of the SHA-256 of
 * its content and its length. Up to {@linkcode chunkRefsMax} refs fit in one
 * index object (a file named {@linkcode indexName}); when a level has more
 * refs than that, they are grouped into index objects, whose refs form the
 * next level, until one level fits in the manifest. Every index object but
 * the last of its level is full, so the shape of the tree follows from
 * `size` and `chunkSize` alone and a reader can check every ref's length.
 *
 * ```
 * ref (16 bytes):    hash u32 | digest 8 bytes | length u32
 * index object:      "cidx" | version 1 | level u8 | count u16 | count refs
 * manifest:          "cman" | version 1 | depth u8 | count u16 | chunk size u32
 *                    | size u64 | SHA-256 of the whole content (32 bytes) | count refs
 * ```
 *
 * Integers are big-endian.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { chunkRefsMax, chunkTreeDepthMax, inlineBytesMax } from "../limits.ts";

/** Name of the objects that hold a chunked file's data. */
export const chunkName = "chunk";

/** Name of the index objects of a chunked file. */
export const indexName = "chunk-index";

/** Bytes of one ref. */
export const refBytes = 16;

/** Bytes of an index object before its refs. */
export const indexHeaderBytes = 8;

/** Bytes of a manifest before its refs. */
export const manifestHeaderBytes = 52;

/** Format version of manifests and index objects. */
export const manifestVersion = 1;

const manifestMagic = [0x63, 0x6d, 0x61, 0x6e]; // "cman"
const indexMagic = [0x63, 0x69, 0x64, 0x78]; // "cidx"
const hexPattern16 = /^[0-9a-f]{16}$/;
const hexPattern64 = /^[0-9a-f]{64}$/;
const two32 = 2 ** 32;

/** A stored object as a chunked file refers to it. */
export interface ChunkRef {
  /** The object's hash (where it lives on the ring). */
  readonly hash: number;
  /** First 8 bytes of the SHA-256 of its content, as 16 lower-case hex digits. */
  readonly digest: string;
  /** Length of its content in bytes. */
  readonly size: number;
}

/** The description of a chunked file, stored as the file object itself. */
export interface Manifest {
  /** Levels of refs between the manifest and the data: 1 means the refs name chunks. */
  readonly depth: number;
  /** Length of every chunk but the last. */
  readonly chunkSize: number;
  /** Length of the whole file. */
  readonly size: number;
  /** SHA-256 of the whole content, 64 lower-case hex digits. */
  readonly sha256: string;
  /** The root refs: chunks when `depth` is 1, else index objects of level `depth - 1`. */
  readonly refs: readonly ChunkRef[];
}

/** The shape of a chunk tree: how many objects each level holds. */
export interface TreeShape {
  /** `counts[0]` chunks, `counts[k]` index objects of level k; the last level is the root's refs. */
  readonly counts: readonly number[];
  readonly depth: number;
}

/** A manifest or index object that is not well formed; becomes `NACK:manifest`. */
export class ManifestError extends Error {
  /** The NACK reason of this error. */
  readonly reason = "manifest";

  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "ManifestError";
  }
}

/** The 16-hex digest of a ref: the first 8 bytes of the SHA-256 of `data`. */
export function refDigest(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex").slice(0, 16);
}

/** The ref of an object with content `data` stored at `hash`. */
export function refOf(hash: number, data: Uint8Array): ChunkRef {
  return { hash: hash >>> 0, digest: refDigest(data), size: data.length };
}

/**
 * Identity of a chunked upload, derived from its whole content's SHA-256
 * and chunk size: identical large files uploaded alike share one object.
 */
export function chunkedIdentity(sha256: string, chunkSize: number): string {
  return createHash("sha256").update(`chunked\n${chunkSize}\n${sha256}`).digest("hex");
}

/**
 * The shape of the tree of a file of `size` bytes in chunks of `chunkSize`.
 *
 * @throws {ManifestError} when the sizes are out of range or the tree would
 * be deeper than `chunkTreeDepthMax`.
 */
export function treeShape(size: number, chunkSize: number): TreeShape {
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1 || chunkSize > inlineBytesMax) {
    throw new ManifestError(
      `Invalid manifest: chunk size out of range (1 to ${inlineBytesMax}, got ${chunkSize})`,
    );
  }
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new ManifestError(`Invalid manifest: size out of range (got ${size})`);
  }
  const counts = [Math.ceil(size / chunkSize)];
  while (counts[counts.length - 1]! > chunkRefsMax) {
    counts.push(Math.ceil(counts[counts.length - 1]! / chunkRefsMax));
  }
  if (counts.length > chunkTreeDepthMax) {
    throw new ManifestError(
      `Invalid manifest: ${size} bytes in chunks of ${chunkSize} need ${counts.length} levels (max ${chunkTreeDepthMax})`,
    );
  }
  return { counts, depth: counts.length };
}

/**
 * Length of object number `index` of `level` in a tree of `shape` (level 0:
 * chunks; level k: index objects of level k).
 */
export function objectSize(
  shape: TreeShape,
  level: number,
  index: number,
  sizes: { size: number; chunkSize: number },
): number {
  if (level === 0) {
    const last = shape.counts[0]! - 1;
    return index < last ? sizes.chunkSize : sizes.size - last * sizes.chunkSize;
  }
  const below = shape.counts[level - 1]!;
  return indexHeaderBytes + refBytes * Math.min(chunkRefsMax, below - index * chunkRefsMax);
}

function writeRefs(target: Uint8Array, offset: number, refs: readonly ChunkRef[]): void {
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  for (const ref of refs) {
    if (!hexPattern16.test(ref.digest)) {
      throw new ManifestError(`Invalid ref: digest must be 16 hex digits (got "${ref.digest}")`);
    }
    if (!Number.isSafeInteger(ref.size) || ref.size < 0 || ref.size >= two32) {
      throw new ManifestError(`Invalid ref: size out of range (got ${ref.size})`);
    }
    view.setUint32(offset, ref.hash >>> 0);
    target.set(Uint8Array.fromHex(ref.digest), offset + 4);
    view.setUint32(offset + 12, ref.size);
    offset += refBytes;
  }
}

function readRefs(bytes: Uint8Array, offset: number, count: number): ChunkRef[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const refs: ChunkRef[] = [];
  for (let i = 0; i < count; i++, offset += refBytes) {
    refs.push({
      hash: view.getUint32(offset),
      digest: bytes.subarray(offset + 4, offset + 12).toHex(),
      size: view.getUint32(offset + 12),
    });
  }
  return refs;
}

function hasMagic(bytes: Uint8Array, magic: readonly number[]): boolean {
  return magic.every((byte, i) => bytes[i] === byte);
}

/**
 * Encodes an index object of `level` (1 or more) holding `refs`.
 *
 * @throws {ManifestError} when the level or the number of refs is out of range, or a ref is malformed.
 */
export function encodeIndex(level: number, refs: readonly ChunkRef[]): Uint8Array {
  if (!Number.isInteger(level) || level < 1 || level > chunkTreeDepthMax) {
    throw new ManifestError(`Invalid index: level out of range (got ${level})`);
  }
  if (refs.length < 1 || refs.length > chunkRefsMax) {
    throw new ManifestError(
      `Invalid index: 1 to ${chunkRefsMax} refs (got ${refs.length})`,
    );
  }
  const bytes = new Uint8Array(indexHeaderBytes + refBytes * refs.length);
  bytes.set(indexMagic);
  bytes[4] = manifestVersion;
  bytes[5] = level;
  new DataView(bytes.buffer).setUint16(6, refs.length);
  writeRefs(bytes, indexHeaderBytes, refs);
  return bytes;
}

/**
 * Decodes an index object and checks it is of `level`.
 *
 * @throws {ManifestError} (only) when it is not a well-formed index object of that level.
 */
export function decodeIndex(bytes: Uint8Array, level: number): ChunkRef[] {
  if (bytes.length < indexHeaderBytes || !hasMagic(bytes, indexMagic)) {
    throw new ManifestError("Invalid index object: no cidx header");
  }
  if (bytes[4] !== manifestVersion) {
    throw new ManifestError(`Invalid index object: unknown version ${bytes[4]}`);
  }
  if (bytes[5] !== level) {
    throw new ManifestError(`Invalid index object: level ${bytes[5]} where ${level} belongs`);
  }
  const count = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint16(6);
  if (count < 1 || count > chunkRefsMax) {
    throw new ManifestError(`Invalid index object: ${count} refs (1 to ${chunkRefsMax})`);
  }
  if (bytes.length !== indexHeaderBytes + refBytes * count) {
    throw new ManifestError(
      `Invalid index object: ${bytes.length} bytes for ${count} refs (expected ${
        indexHeaderBytes + refBytes * count
      })`,
    );
  }
  return readRefs(bytes, indexHeaderBytes, count);
}

/**
 * Checks that a manifest's fields describe a well-formed tree: sizes in
 * range, the depth and number of root refs its size implies, and every root
 * ref of the length its place implies.
 *
 * @throws {ManifestError} when they do not.
 */
export function checkManifest(manifest: Manifest): TreeShape {
  const shape = treeShape(manifest.size, manifest.chunkSize);
  if (manifest.depth !== shape.depth) {
    throw new ManifestError(
      `Invalid manifest: depth ${manifest.depth} where ${manifest.size} bytes in chunks of ${manifest.chunkSize} need ${shape.depth}`,
    );
  }
  const expected = shape.counts[shape.depth - 1]!;
  if (manifest.refs.length !== expected) {
    throw new ManifestError(
      `Invalid manifest: ${manifest.refs.length} root refs where ${expected} belong`,
    );
  }
  if (!hexPattern64.test(manifest.sha256)) {
    throw new ManifestError("Invalid manifest: SHA-256 must be 64 hex digits");
  }
  manifest.refs.forEach((ref, index) => {
    const size = objectSize(shape, shape.depth - 1, index, manifest);
    if (ref.size !== size) {
      throw new ManifestError(
        `Invalid manifest: root ref ${index} has length ${ref.size} where ${size} belongs`,
      );
    }
  });
  return shape;
}

/**
 * Encodes a manifest.
 *
 * @throws {ManifestError} when it does not describe a well-formed tree (see {@linkcode checkManifest}).
 */
export function encodeManifest(manifest: Manifest): Uint8Array {
  checkManifest(manifest);
  const bytes = new Uint8Array(manifestHeaderBytes + refBytes * manifest.refs.length);
  const view = new DataView(bytes.buffer);
  bytes.set(manifestMagic);
  bytes[4] = manifestVersion;
  bytes[5] = manifest.depth;
  view.setUint16(6, manifest.refs.length);
  view.setUint32(8, manifest.chunkSize);
  view.setUint32(12, Math.floor(manifest.size / two32));
  view.setUint32(16, manifest.size >>> 0);
  bytes.set(Uint8Array.fromHex(manifest.sha256), 20);
  writeRefs(bytes, manifestHeaderBytes, manifest.refs);
  return bytes;
}

/**
 * Decodes and checks a manifest.
 *
 * @throws {ManifestError} (only) when the bytes are not a well-formed manifest.
 */
export function decodeManifest(bytes: Uint8Array): Manifest {
  if (bytes.length < manifestHeaderBytes || !hasMagic(bytes, manifestMagic)) {
    throw new ManifestError("Invalid manifest: no cman header");
  }
  if (bytes[4] !== manifestVersion) {
    throw new ManifestError(`Invalid manifest: unknown version ${bytes[4]}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint16(6);
  if (bytes.length !== manifestHeaderBytes + refBytes * count) {
    throw new ManifestError(
      `Invalid manifest: ${bytes.length} bytes for ${count} refs (expected ${
        manifestHeaderBytes + refBytes * count
      })`,
    );
  }
  const high = view.getUint32(12);
  const manifest: Manifest = {
    depth: bytes[5]!,
    chunkSize: view.getUint32(8),
    size: high * two32 + view.getUint32(16),
    sha256: bytes.subarray(20, 52).toHex(),
    refs: readRefs(bytes, manifestHeaderBytes, count),
  };
  if (high >= 2 ** 21) throw new ManifestError("Invalid manifest: size above 2^53");
  checkManifest(manifest);
  return manifest;
}

/** An index object the builder wants stored; its ref then goes to `level`. */
export interface PendingIndex {
  /** The index object's level; push its ref with `push(level, ref)`. */
  readonly level: number;
  readonly bytes: Uint8Array;
}

/** What {@linkcode ChunkTreeBuilder.finish} asks for next. */
export type FinishStep =
  | { readonly kind: "index"; readonly index: PendingIndex }
  | { readonly kind: "root"; readonly depth: number; readonly refs: readonly ChunkRef[] };

/**
 * Builds a chunk tree while chunks stream by, holding at most
 * `chunkRefsMax + 1` refs per level. Push each chunk's ref at level 0 in
 * order; when a push returns an index object, store it and push its ref
 * (at the level it names) before pushing anything else. At the end call
 * `finish` until it gives the root.
 */
export class ChunkTreeBuilder {
  readonly #pending: ChunkRef[][] = [[]];
  readonly #flushed: boolean[] = [false];
  #finishing = 0;

  /**
   * Adds the next ref of `level`; returns an index object to store when
   * that level has more refs than fit in one.
   *
   * @throws {ManifestError} when the tree would grow deeper than `chunkTreeDepthMax`.
   */
  push(level: number, ref: ChunkRef): PendingIndex | null {
    const pending = this.#level(level);
    pending.push(ref);
    if (pending.length <= chunkRefsMax) return null;
    this.#flushed[level] = true;
    return this.#indexOf(level, pending.splice(0, chunkRefsMax));
  }

  /**
   * The next step at the end: an index object to store (then push its ref
   * and call again), or the root refs and depth of the manifest.
   */
  finish(): FinishStep {
    for (;;) {
      const level = this.#finishing;
      const pending = this.#level(level);
      if (!this.#flushed[level]) return { kind: "root", depth: level + 1, refs: [...pending] };
      this.#finishing = level + 1;
      if (pending.length > 0) {
        return { kind: "index", index: this.#indexOf(level, pending.splice(0)) };
      }
    }
  }

  #level(level: number): ChunkRef[] {
    while (this.#pending.length <= level) {
      this.#pending.push([]);
      this.#flushed.push(false);
    }
    return this.#pending[level]!;
  }

  #indexOf(level: number, refs: ChunkRef[]): PendingIndex {
    if (level + 1 >= chunkTreeDepthMax) {
      throw new ManifestError(`Invalid manifest: file needs more than ${chunkTreeDepthMax} levels`);
    }
    return { level: level + 1, bytes: encodeIndex(level + 1, refs) };
  }
}
