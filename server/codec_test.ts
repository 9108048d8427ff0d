import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeMeta, encodeMeta, fromBadd, fromPullFields, toBadd, toPullFields } from "./codec.ts";
import {
  type FileMeta,
  type JobMeta,
  type ObjectMeta,
  type StoredObject,
  versionOf,
} from "./objects.ts";
import { encodeRequest, parseRequest, ProtocolError, type Request } from "../protocol/message.ts";
import { objectHash } from "../protocol/hash.ts";
import { fileIdentity } from "../protocol/digest.ts";
import { job, output, upload, validObjectArb } from "./_test_objects.ts";

// Property failures print `{ seed, path }`; pass them to fc.assert to replay.

/** Any Unicode scalar value, ASCII half the time (fast-check's "binary" unit takes a second to set up). */
const anyChar = fc.oneof(
  fc.integer({ min: 0, max: 0x7f }),
  fc.integer({ min: 0, max: 0x10ffff - 0x800 }).map((n) => (n < 0xd800 ? n : n + 0x800)),
).map((n) => String.fromCodePoint(n));

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const base64Json = (value: unknown): string => utf8(JSON.stringify(value)).toBase64();

const jobMeta: JobMeta = {
  kind: "job",
  id: "ab".repeat(32),
  output: 0xdeadbeef,
  outputName: "out",
  outputSalt: 7,
  inputs: [{ hash: 1, name: "in" }, { hash: 0xffffffff, name: "in" }],
  state: "done",
  attempt: 1,
  lost: 0,
  leaseUntilMs: 0,
  createdMs: 1_700_000_000_000,
  exitCode: 0,
  reason: null,
  detail: "",
  stderr: "aGk=",
};

const fileMeta: FileMeta = { kind: "file", id: "cd".repeat(32), state: "complete", size: 3 };

function object(meta: ObjectMeta, name = "name", salt = 5): StoredObject {
  return { hash: objectHash(name, salt), name, salt, meta, data: utf8("abc") };
}

function assertMetadataError(action: () => unknown, label = ""): void {
  assert.throws(action, (error) => {
    assert.ok(error instanceof ProtocolError, `${label}: expected ProtocolError, got ${error}`);
    assert.equal(error.reason, "metadata", label);
    return true;
  });
}

const stringArb = fc.string({ unit: anyChar, maxLength: 20 });
const countArb = fc.nat(0xffffffff);
const digestArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => bytes.toHex());
const nameArb = fc.string({ unit: anyChar, minLength: 1, maxLength: 30 }).filter((n) =>
  !n.includes(":") && !n.includes("\0")
);
const jobMetaArb: fc.Arbitrary<JobMeta> = fc.record({
  kind: fc.constant("job" as const),
  id: digestArb,
  output: countArb,
  outputName: nameArb,
  outputSalt: countArb,
  inputs: fc.array(fc.record({ hash: countArb, name: nameArb }), { maxLength: 4 }),
  state: fc.constantFrom("waiting", "ready", "leased", "released", "done", "failed"),
  attempt: fc.nat(100),
  lost: fc.nat(5),
  leaseUntilMs: fc.maxSafeNat(),
  createdMs: fc.maxSafeNat(),
  exitCode: fc.option(fc.integer({ min: -255, max: 255 }), { nil: null }),
  reason: fc.option(fc.constantFrom("timeout", "lost", "exception"), { nil: null }),
  detail: stringArb,
  stderr: fc.uint8Array({ maxLength: 30 }).map((bytes) => bytes.toBase64()),
});
const fileMetaArb: fc.Arbitrary<FileMeta> = fc.record(
  {
    kind: fc.constant("file" as const),
    id: digestArb,
    state: fc.constantFrom("incomplete", "complete", "failed"),
    size: fc.maxSafeNat(),
    job: countArb,
    attempt: fc.nat(100),
    error: stringArb,
    chunked: fc.boolean(),
  },
  { requiredKeys: ["kind", "id", "state", "size"] },
);
const objectArb = validObjectArb;

Deno.test("encodeMeta() writes base64 of the JSON", () => {
  assert.equal(encodeMeta(fileMeta), base64Json(fileMeta));
  assert.deepEqual(
    JSON.parse(new TextDecoder().decode(Uint8Array.fromBase64(encodeMeta(jobMeta)))),
    jobMeta,
  );
});

Deno.test("toBadd() carries name, salt, completeness, metadata and data", () => {
  assert.deepEqual(toBadd(object(jobMeta)), {
    command: "BADD",
    name: "name",
    salt: 5,
    complete: true,
    metadata: encodeMeta(jobMeta),
    data: utf8("abc"),
  });
  const waiting = toBadd(object({ ...jobMeta, state: "waiting" }));
  assert.equal((waiting as Extract<Request, { command: "BADD" }>).complete, false);
  const incomplete = toBadd(object({ ...fileMeta, state: "incomplete" }));
  assert.equal((incomplete as Extract<Request, { command: "BADD" }>).complete, false);
});

Deno.test("fromBadd() inverts toBadd() for files and jobs", () => {
  const done = job({ name: "j", source: "print(1)", state: "done", stdout: utf8("1\n") });
  const failed = job({ name: "k", source: "print(2)", state: "failed" });
  for (
    const original of [
      done,
      output(done, utf8("1\n")),
      failed,
      output(failed),
      upload("name", "abc"),
      upload("name", "x".repeat(5000)),
    ]
  ) {
    const badd = toBadd(original) as Extract<Request, { command: "BADD" }>;
    assert.deepEqual(fromBadd(badd), original);
  }
});

Deno.test("fromBadd() inverts toBadd() through the wire, for any object", () => {
  fc.assert(
    fc.property(objectArb, (original) => {
      const wire = parseRequest(encodeRequest(toBadd(original)));
      assert.equal(wire.command, "BADD");
      // structuredClone: fast-check records have a null prototype.
      assert.deepEqual(
        fromBadd(wire as Extract<Request, { command: "BADD" }>),
        structuredClone(original),
      );
    }),
    { numRuns: 300 },
  );
});

Deno.test("fromPullFields() inverts toPullFields(), without data for metadata only", () => {
  fc.assert(
    fc.property(objectArb, (original) => {
      const plain = structuredClone(original);
      assert.deepEqual(fromPullFields(toPullFields(original, { metaOnly: false })), plain);
      const metaOnly = { metaOnly: true };
      assert.deepEqual(fromPullFields(toPullFields(original, metaOnly), metaOnly), {
        ...plain,
        data: new Uint8Array(),
      });
    }),
    { numRuns: 200 },
  );
});

Deno.test("toPullFields() matches the PROTOCOL.md PULL vector", () => {
  const data = utf8("contents");
  const meta: FileMeta = {
    kind: "file",
    id: "d1b2a59fbea7e20077af9f91b27e95e865061b270be03ff539ab3b73587882e8",
    state: "complete",
    size: 8,
  };
  const name1 = { hash: 0xfa20045a, name: "name1", salt: 0xd1b2a59f, meta, data };
  const reply = "ACK:name1:d1b2a59f:1:" +
    "eyJraW5kIjoiZmlsZSIsImlkIjoiZDFiMmE1OWZiZWE3ZTIwMDc3YWY5ZjkxYjI3ZTk1ZTg2NTA2MWIyNzBiZTAzZmY1MzlhYjNiNzM1ODc4ODJlOCIsInN0YXRlIjoiY29tcGxldGUiLCJzaXplIjo4fQ==" +
    ":Y29udGVudHM=";
  assert.equal(["ACK", ...toPullFields(name1, { metaOnly: false })].join(":"), reply);
  assert.deepEqual(fromPullFields(reply.split(":").slice(1)), name1);
});

Deno.test("fromPullFields() rejects a reply with the wrong number of fields", () => {
  assert.throws(() => fromPullFields(["a", "1", "1", ""]), ProtocolError);
});

Deno.test("fromBadd() reads empty metadata as a plain file of the original design", () => {
  const data = utf8("contents");
  for (const complete of [true, false]) {
    assert.deepEqual(fromBadd({ name: "name1", salt: 3, complete, metadata: "", data }), {
      hash: objectHash("name1", 3),
      name: "name1",
      salt: 3,
      data,
      meta: {
        kind: "file",
        id: fileIdentity(data),
        state: complete ? "complete" : "incomplete",
        size: 8,
      },
    });
  }
});

Deno.test("fromBadd() rejects a complete bit that disagrees with the metadata", () => {
  const badd = (meta: ObjectMeta, complete: boolean) => ({
    name: "n",
    salt: 0,
    complete,
    metadata: encodeMeta(meta),
    data: new Uint8Array(),
  });
  assertMetadataError(() => fromBadd(badd(jobMeta, false)), "done job sent as incomplete");
  assertMetadataError(() => fromBadd(badd({ ...jobMeta, state: "leased" }, true)), "leased job");
  assertMetadataError(() => fromBadd(badd({ ...fileMeta, state: "incomplete" }, true)), "file");
  assertMetadataError(() => fromBadd(badd({ ...fileMeta, state: "failed" }, false)), "failed file");
});

Deno.test("decodeMeta() inverts encodeMeta()", () => {
  fc.assert(
    fc.property(fc.oneof(jobMetaArb, fileMetaArb), (meta) => {
      assert.deepEqual(decodeMeta(encodeMeta(meta)), structuredClone(meta));
    }),
    { numRuns: 200 },
  );
});

Deno.test("decodeMeta() rejects text that is not base64 of JSON", () => {
  for (const text of ["!!!", "A", utf8("{").toBase64(), utf8("not json").toBase64(), "AAAA"]) {
    assertMetadataError(() => decodeMeta(text), text);
  }
});

Deno.test("decodeMeta() rejects JSON of the wrong shape", () => {
  const { id: _id, ...noId } = fileMeta;
  const { attempt: _attempt, ...noAttempt } = jobMeta;
  const { stderr: _stderr, ...noStderr } = jobMeta;
  const cases: unknown[] = [
    null,
    42,
    "file",
    [fileMeta],
    {},
    noId,
    { ...fileMeta, kind: "server" },
    { ...fileMeta, state: "done" },
    { ...fileMeta, size: -1 },
    { ...fileMeta, size: 1.5 },
    { ...fileMeta, size: "3" },
    { ...fileMeta, id: 7 },
    { ...jobMeta, state: "complete" },
    noAttempt,
    noStderr,
    { ...jobMeta, output: -1 },
    { ...jobMeta, outputName: 1 },
    { ...jobMeta, inputs: {} },
    { ...jobMeta, inputs: [{ hash: "1", name: "x" }] },
    { ...jobMeta, inputs: [{ hash: 1 }] },
    { ...jobMeta, inputs: [null] },
    { ...jobMeta, lost: 2 ** 53 },
    { ...jobMeta, detail: null },
    // Optional and nullable fields: a wrong type here once got through and
    // made versionOf() NaN (attempt) or broke a NACK (error).
    { ...fileMeta, attempt: "x" },
    { ...fileMeta, attempt: -1 },
    { ...fileMeta, job: "00000001" },
    { ...fileMeta, error: 5 },
    { ...fileMeta, chunked: "yes" },
    { ...jobMeta, exitCode: "0" },
    { ...jobMeta, exitCode: 1.5 },
    { ...jobMeta, exitCode: undefined },
    { ...jobMeta, reason: 5 },
    { ...jobMeta, reason: undefined },
  ];
  for (const value of cases) {
    assertMetadataError(() => decodeMeta(base64Json(value)), JSON.stringify(value));
  }
});

Deno.test("decodeMeta() throws nothing but ProtocolError on any text", () => {
  const nearMeta = fc.oneof(fc.oneof(jobMetaArb, fileMetaArb), fc.object()).chain((meta) =>
    fc.tuple(
      fc.constant(meta),
      fc.constantFrom(...Object.keys(meta), "kind", "state"),
      fc.jsonValue(),
    )
  ).map(([meta, key, value]) => base64Json({ ...meta, [key]: value }));
  const text = fc.oneof(
    fc.string({ unit: anyChar, maxLength: 80 }),
    fc.string({ unit: fc.constantFrom(..."ABCDabcd0189+/= "), maxLength: 40 }),
    fc.jsonValue().map(base64Json),
    fc.uint8Array({ maxLength: 60 }).map((bytes) => bytes.toBase64()),
    nearMeta,
  );
  fc.assert(
    fc.property(text, (input) => {
      try {
        // Whatever is accepted must rank: replicas compare versions.
        assert.ok(Number.isSafeInteger(versionOf(decodeMeta(input))));
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        assert.equal(error.reason, "metadata");
      }
    }),
    { numRuns: 2000 },
  );
});

Deno.test("toBadd() sends the metadata of every copy, small uploads included", () => {
  const data = utf8("contents");
  const plain: StoredObject = {
    hash: objectHash("name1", 7),
    name: "name1",
    salt: 7,
    data,
    meta: { kind: "file", id: fileIdentity(data), state: "complete", size: data.length },
  };
  const badd = toBadd(plain) as Extract<Request, { command: "BADD" }>;
  assert.equal(badd.metadata, encodeMeta(plain.meta), "the receiver checks the data against it");
  assert.deepEqual(fromBadd(badd), plain);
  const bent = { ...badd, data: utf8("contentz") };
  assert.throws(() => fromBadd(bent), (error: ProtocolError) => error.reason === "mismatch");
});
