import assert from "node:assert/strict";
import fc from "fast-check";
import {
  chunkedIdentity,
  chunkName,
  type ChunkRef,
  ChunkTreeBuilder,
  decodeIndex,
  decodeManifest,
  encodeIndex,
  encodeManifest,
  type Manifest,
  ManifestError,
  objectSize,
  refDigest,
  refOf,
  treeShape,
} from "./manifest.ts";
import { chunkRefsMax, chunkTreeDepthMax, inlineBytesMax } from "../limits.ts";
import { saltOf, sha256Hex } from "./digest.ts";
import { formatHash, objectHash } from "./hash.ts";

// Property failures print `{ seed, path }`; pass them to fc.assert to replay.

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/** A well-formed manifest for a file of `size` bytes in chunks of `chunkSize`. */
function manifestArb(): fc.Arbitrary<Manifest> {
  return fc.record({
    chunkSize: fc.integer({ min: 1, max: inlineBytesMax }),
    chunks: fc.integer({ min: 0, max: 3 * chunkRefsMax }),
    tail: fc.integer({ min: 0, max: inlineBytesMax - 1 }),
    sha256: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => b.toHex()),
    seed: fc.uint8Array({ minLength: 12, maxLength: 12 }),
  }).map(({ chunkSize, chunks, tail, sha256, seed }) => {
    const size = chunks === 0 ? 0 : (chunks - 1) * chunkSize + 1 + (tail % chunkSize);
    const shape = treeShape(size, chunkSize);
    const level = shape.depth - 1;
    const refs: ChunkRef[] = Array.from({ length: shape.counts[level]! }, (_, index) => ({
      hash: (seed[0]! * 0x1000000 + index * 7919) >>> 0,
      digest: seed.subarray(4, 12).toHex(),
      size: objectSize(shape, level, index, { size, chunkSize }),
    }));
    return { depth: shape.depth, chunkSize, size, sha256, refs };
  });
}

function assertOwnError(work: () => unknown): void {
  try {
    work();
  } catch (error) {
    assert.ok(error instanceof ManifestError, `threw ${(error as Error)?.stack ?? error}`);
    assert.equal(error.reason, "manifest");
  }
}

Deno.test("encodeManifest() and decodeManifest() round-trip every well-formed manifest", () => {
  fc.assert(
    fc.property(manifestArb(), (manifest) => {
      assert.deepEqual(decodeManifest(encodeManifest(manifest)), manifest);
    }),
    { numRuns: 200 },
  );
});

Deno.test("decodeManifest() never throws but its own error on junk", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      assertOwnError(() => decodeManifest(bytes));
    }),
  );
});

Deno.test("decodeManifest() never throws but its own error on a damaged manifest", () => {
  fc.assert(
    fc.property(
      manifestArb(),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      }),
      fc.integer({ min: -3, max: 3 }),
      (manifest, flips, grow) => {
        const encoded = encodeManifest(manifest);
        const bytes = new Uint8Array(Math.max(0, encoded.length + grow));
        bytes.set(encoded.subarray(0, bytes.length));
        for (const [at, value] of flips) if (bytes.length > 0) bytes[at % bytes.length] = value;
        assertOwnError(() => decodeManifest(bytes));
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("decodeIndex() round-trips and never throws but its own error on junk", () => {
  const refArb = fc.record({
    hash: fc.nat({ max: 0xffffffff }),
    digest: fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => b.toHex()),
    size: fc.nat({ max: 0xffffffff }),
  });
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: chunkTreeDepthMax }),
      fc.array(refArb, { minLength: 1, maxLength: 50 }),
      (level, refs) => {
        assert.deepEqual(
          decodeIndex(encodeIndex(level, refs), level),
          refs.map((ref) => ({ ...ref })),
        );
      },
    ),
  );
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 100 }),
      fc.integer({ min: 0, max: 9 }),
      (bytes, level) => {
        assertOwnError(() => decodeIndex(bytes, level));
      },
    ),
  );
});

Deno.test("decodeIndex() rejects an index of another level", () => {
  const index = encodeIndex(1, [{ hash: 1, digest: "00".repeat(8), size: 3 }]);
  assert.throws(() => decodeIndex(index, 2), ManifestError);
});

Deno.test("decodeManifest() reads the documented test vector", () => {
  // docs/PROTOCOL.md, Large objects: 100 bytes "a" in chunks of 40.
  const content = utf8("a".repeat(100));
  const chunks = [content.subarray(0, 40), content.subarray(40, 80), content.subarray(80)];
  // Chunk hashes: objectHash("chunk", first 32 bits of the chunk's SHA-256).
  const hashes = [0xdd7ad9e2, 0xdd7ad9e2, 0x27a25e40];
  const manifest: Manifest = {
    depth: 1,
    chunkSize: 40,
    size: 100,
    sha256: "2816597888e4a0d3a36b82b83316ab32680eb8f00f8cd3b904d681246d285a0e",
    refs: chunks.map((chunk, i) => refOf(hashes[i]!, chunk)),
  };
  assert.equal(refDigest(chunks[0]!), "e33cdf9c7f7120b9");
  assert.equal(refDigest(chunks[2]!), "42492da06234ad0a");
  const hex = encodeManifest(manifest).toHex();
  assert.equal(
    hex,
    "636d616e" + "01" + "01" + "0003" + "00000028" + "0000000000000064" +
      "2816597888e4a0d3a36b82b83316ab32680eb8f00f8cd3b904d681246d285a0e" +
      "dd7ad9e2" + "e33cdf9c7f7120b9" + "00000028" +
      "dd7ad9e2" + "e33cdf9c7f7120b9" + "00000028" +
      "27a25e40" + "42492da06234ad0a" + "00000014",
  );
  assert.deepEqual(decodeManifest(Uint8Array.fromHex(hex)), manifest);
  assert.equal(
    encodeIndex(1, manifest.refs.slice(0, 2)).toHex(),
    "6369647801010002" + "dd7ad9e2e33cdf9c7f7120b900000028".repeat(2),
  );
  assert.equal(objectHash(chunkName, saltOf(sha256Hex(chunks[2]!))), hashes[2]);
  const identity = chunkedIdentity(manifest.sha256, 40);
  assert.equal(formatHash(objectHash("big", saltOf(identity))), "93304150");
  assert.equal(
    chunkedIdentity(manifest.sha256, 40),
    "ddce8c202236770bb785e3f49c1546b733f20c48b98b5a8694fe1d286ef564d1",
  );
});

Deno.test("treeShape() gives the levels a file needs", () => {
  assert.deepEqual(treeShape(0, 10).counts, [0]);
  assert.deepEqual(treeShape(10, 10).counts, [1]);
  assert.deepEqual(treeShape(11, 10).counts, [2]);
  assert.deepEqual(treeShape(chunkRefsMax * 10, 10).counts, [chunkRefsMax]);
  assert.deepEqual(treeShape(chunkRefsMax * 10 + 1, 10).counts, [chunkRefsMax + 1, 2]);
  assert.equal(treeShape(chunkRefsMax ** 2 * 10 + 1, 10).depth, 3);
  assert.throws(() => treeShape(Number.MAX_SAFE_INTEGER, 1), ManifestError);
  assert.throws(() => treeShape(10, 0), ManifestError);
  assert.throws(() => treeShape(10, inlineBytesMax + 1), ManifestError);
  assert.throws(() => treeShape(-1, 10), ManifestError);
});

/** Runs the builder over `count` chunks; returns the manifest's root and every index object. */
function build(count: number): {
  depth: number;
  refs: readonly ChunkRef[];
  stored: Map<number, Uint8Array>;
} {
  const builder = new ChunkTreeBuilder();
  const stored = new Map<number, Uint8Array>();
  let next = 1_000_000;
  const store = (index: { level: number; bytes: Uint8Array }): void => {
    const hash = next++;
    stored.set(hash, index.bytes);
    const pushed = builder.push(index.level, refOf(hash, index.bytes));
    if (pushed) store(pushed);
  };
  for (let i = 0; i < count; i++) {
    const pushed = builder.push(0, { hash: i, digest: "00".repeat(8), size: 1 });
    if (pushed) store(pushed);
  }
  for (;;) {
    const step = builder.finish();
    if (step.kind === "root") return { depth: step.depth, refs: step.refs, stored };
    store(step.index);
  }
}

/** Walks the tree from the root refs back to the chunk numbers, checking the canonical shape. */
function walk(
  root: { depth: number; refs: readonly ChunkRef[] },
  stored: Map<number, Uint8Array>,
  count: number,
): number[] {
  const shape = treeShape(count, 1);
  assert.equal(root.depth, shape.depth);
  assert.equal(root.refs.length, shape.counts[shape.depth - 1]);
  const leaves: number[] = [];
  const positions = shape.counts.map(() => 0);
  const visit = (ref: ChunkRef, level: number): void => {
    assert.equal(
      ref.size,
      objectSize(shape, level, positions[level]!++, { size: count, chunkSize: 1 }),
    );
    if (level === 0) return void leaves.push(ref.hash);
    const bytes = stored.get(ref.hash)!;
    assert.equal(refDigest(bytes), ref.digest);
    for (const child of decodeIndex(bytes, level)) visit(child, level - 1);
  };
  for (const ref of root.refs) visit(ref, root.depth - 1);
  return leaves;
}

Deno.test("ChunkTreeBuilder builds the canonical tree at every boundary", () => {
  const f = chunkRefsMax;
  for (const count of [0, 1, 2, f - 1, f, f + 1, 2 * f, 2 * f + 1, f * f]) {
    const { depth, refs, stored } = build(count);
    const leaves = walk({ depth, refs }, stored, count);
    assert.deepEqual(leaves, Array.from({ length: count }, (_, i) => i), `count ${count}`);
  }
});

Deno.test("ChunkTreeBuilder builds three levels past chunkRefsMax squared chunks", () => {
  const count = chunkRefsMax * chunkRefsMax + 1;
  const { depth, refs, stored } = build(count);
  assert.equal(depth, 3);
  assert.equal(refs.length, 2);
  assert.equal(walk({ depth, refs }, stored, count).length, count);
});
