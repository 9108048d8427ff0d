import assert from "node:assert/strict";
import fc from "fast-check";
import { createHash } from "node:crypto";
import { exactChunks } from "./chunks.ts";
import { CloudError } from "./errors.ts";
import { type FetchedCopy, type ObjectIo, readChunks, storeChunks } from "./transfer.ts";
import { chunkName, decodeIndex, decodeManifest, indexName } from "../protocol/manifest.ts";
import { formatHash } from "../protocol/hash.ts";
import { chunkRefsMax } from "../limits.ts";

// Property failures print `{ seed, path }`; pass them to fc.assert to replay.

/** An in-memory ring of `copies` servers, each a map from hash to content. */
class MemoryIo implements ObjectIo {
  readonly copies: Map<number, Uint8Array>[];
  readonly names = new Map<number, string>();
  inflight = 0;
  inflightMax = 0;

  constructor(copies = 2) {
    this.copies = Array.from({ length: copies }, () => new Map());
  }

  async store(name: string, data: Uint8Array, hash: number): Promise<number> {
    this.inflight++;
    this.inflightMax = Math.max(this.inflightMax, this.inflight);
    await new Promise((resolve) => setTimeout(resolve, 0));
    this.inflight--;
    for (const copy of this.copies) copy.set(hash, data.slice());
    this.names.set(hash, name);
    return hash;
  }

  fetch(hash: number, copy: number): Promise<FetchedCopy> {
    const server = this.copies[copy];
    if (!server) return Promise.resolve({ kind: "end" });
    const data = server.get(hash);
    return Promise.resolve(
      data ? { kind: "data", data } : { kind: "missing", detail: `not-found: No object ${hash}` },
    );
  }
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return new Uint8Array(await new Blob(parts as BlobPart[]).arrayBuffer());
}

async function store(io: ObjectIo, data: Uint8Array, chunkSize: number, parallel = 4) {
  return await storeChunks(io, exactChunks(data, chunkSize), { chunkSize, parallel });
}

function pattern(size: number): Uint8Array {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (i * 31 + (i >> 8)) & 0xff;
  return data;
}

async function rejection(work: Promise<unknown>): Promise<CloudError> {
  try {
    await work;
  } catch (error) {
    assert.ok(error instanceof CloudError, `threw ${error}`);
    return error;
  }
  throw new Error("Expected a rejection");
}

Deno.test("storeChunks() and readChunks() round-trip any content and chunk size", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 3000 }),
      fc.integer({ min: 1, max: 700 }),
      fc.integer({ min: 1, max: 8 }),
      async (data, chunkSize, parallel) => {
        const io = new MemoryIo();
        const stored = await store(io, data, chunkSize, parallel);
        assert.equal(stored.size, data.length);
        assert.equal(stored.sha256, createHash("sha256").update(data).digest("hex"));
        const manifest = decodeManifest(stored.manifest);
        const read = await collect(readChunks(io, "f", manifest, { parallel }));
        assert.deepEqual(read, data);
        assert.ok(io.inflightMax <= parallel, `${io.inflightMax} in flight`);
      },
    ),
    { numRuns: 60 },
  );
});

Deno.test("storeChunks() stores index objects once a level outgrows one object", async () => {
  const io = new MemoryIo(1);
  const data = pattern(chunkRefsMax + 5);
  const stored = await store(io, data, 1, 16);
  const manifest = decodeManifest(stored.manifest);
  assert.equal(manifest.depth, 2);
  assert.equal(manifest.refs.length, 2);
  const names = [...io.names.values()];
  assert.equal(names.filter((name) => name === indexName).length, 2);
  assert.equal(decodeIndex(io.copies[0]!.get(manifest.refs[1]!.hash)!, 1).length, 5);
  assert.ok(names.includes(chunkName));
  assert.deepEqual(await collect(readChunks(io, "f", manifest, { parallel: 16 })), data);
});

Deno.test("readChunks() names the file and the chunk when a chunk is missing everywhere", async () => {
  const io = new MemoryIo();
  const manifest = decodeManifest((await store(io, pattern(1000), 100)).manifest);
  const lost = manifest.refs[7]!.hash;
  for (const copy of io.copies) copy.delete(lost);
  const error = await rejection(collect(readChunks(io, "1a2b3c4d", manifest, { parallel: 3 })));
  assert.equal(error.reason, "chunk-missing");
  assert.match(error.message, /file 1a2b3c4d: chunk 7 of 10 \(/);
  assert.ok(error.message.includes(formatHash(lost)), error.message);
});

Deno.test("readChunks() reads a good copy when one copy of a chunk is corrupt", async () => {
  const io = new MemoryIo();
  const data = pattern(1000);
  const manifest = decodeManifest((await store(io, data, 100)).manifest);
  io.copies[0]!.get(manifest.refs[3]!.hash)![5]! ^= 1;
  io.copies[1]!.delete(manifest.refs[4]!.hash);
  assert.deepEqual(await collect(readChunks(io, "f", manifest, { parallel: 3 })), data);
});

Deno.test("readChunks() names the chunk when every copy is corrupt", async () => {
  const io = new MemoryIo();
  const manifest = decodeManifest((await store(io, pattern(1000), 100)).manifest);
  const bad = manifest.refs[9]!.hash;
  for (const copy of io.copies) copy.get(bad)![0]! ^= 0xff;
  const error = await rejection(collect(readChunks(io, "00c0ffee", manifest, { parallel: 2 })));
  assert.equal(error.reason, "chunk-corrupt");
  assert.match(error.message, /file 00c0ffee: chunk 9 of 10 \([0-9a-f]{8}\) is corrupt/);
});

Deno.test("readChunks() names a corrupt index object", async () => {
  const io = new MemoryIo(1);
  const manifest = decodeManifest((await store(io, pattern(chunkRefsMax + 1), 1)).manifest);
  io.copies[0]!.get(manifest.refs[0]!.hash)![9]! ^= 1;
  const error = await rejection(collect(readChunks(io, "f", manifest, { parallel: 2 })));
  assert.equal(error.reason, "chunk-corrupt");
  assert.match(error.message, /index object 0 of 2 at level 1/);
});

Deno.test("readChunks() fails at the end when the whole content does not match", async () => {
  const io = new MemoryIo();
  const manifest = decodeManifest((await store(io, pattern(500), 100)).manifest);
  const forged = { ...manifest, sha256: "0".repeat(64) };
  const error = await rejection(collect(readChunks(io, "f", forged, { parallel: 2 })));
  assert.equal(error.reason, "corrupt");
});

Deno.test("exactChunks() cuts any split of a stream into exact chunks", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }),
      fc.integer({ min: 1, max: 200 }),
      async (pieces, size) => {
        const stream = ReadableStream.from(pieces);
        const chunks: Uint8Array[] = [];
        for await (const chunk of exactChunks(stream, size)) chunks.push(chunk.slice());
        const whole = pieces.flatMap((piece) => [...piece]);
        assert.deepEqual(chunks.flatMap((chunk) => [...chunk]), whole);
        chunks.forEach((chunk, i) => {
          if (i < chunks.length - 1) assert.equal(chunk.length, size);
          else assert.ok(chunk.length >= 1 && chunk.length <= size);
        });
      },
    ),
  );
});

Deno.test("exactChunks() reads a file in exact chunks", async () => {
  const path = await Deno.makeTempFile();
  try {
    const data = pattern(2500);
    await Deno.writeFile(path, data);
    const chunks: Uint8Array[] = [];
    for await (const chunk of exactChunks({ path }, 1000)) chunks.push(chunk);
    assert.deepEqual(chunks.map((chunk) => chunk.length), [1000, 1000, 500]);
    assert.deepEqual(await collect(ReadableStream.from(chunks)), data);
  } finally {
    await Deno.remove(path);
  }
});
