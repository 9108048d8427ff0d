import assert from "node:assert/strict";
import fc from "fast-check";
import {
  ack,
  capStderr,
  decodePayload,
  encodeReply,
  encodeRequest,
  type MemberRecord,
  nack,
  parseMembers,
  parseReply,
  parseRequest,
  parseServers,
  ProtocolError,
  type Reply,
  type Request,
  validateName,
} from "./message.ts";
import { type ChunkRef, encodeManifest, objectSize, treeShape } from "./manifest.ts";
import { haveEntriesMax, jobInputsMax, nameBytesMax, ringSaltsMax } from "../limits.ts";

// Property failures print `{ seed, path }`; pass them to fc.assert to replay.

/** Any Unicode scalar value, ASCII half the time (fast-check's "binary" unit takes a second to set up). */
const anyChar = fc.oneof(
  fc.integer({ min: 0, max: 0x7f }),
  fc.integer({ min: 0, max: 0x10ffff - 0x800 }).map((n) => (n < 0xd800 ? n : n + 0x800)),
).map((n) => String.fromCodePoint(n));

const encoder = new TextEncoder();
const byteLength = (text: string): number => encoder.encode(text).length;
const utf8Base64 = (text: string): string => encoder.encode(text).toBase64();

// ---------------------------------------------------------------- arbitraries

/** Drops trailing code points until the text fits in `max` UTF-8 bytes. */
function fitBytes(text: string, max: number): string {
  const points = Array.from(text);
  while (byteLength(points.join("")) > max) points.pop();
  return points.join("");
}

const nameChar = fc.oneof(
  fc.constantFrom(..."abcXYZ019 ._-/\n\t\\=,é日"),
  anyChar.filter((c) => c !== ":" && c !== "\0"),
);
/** Valid names: 1 to 1024 UTF-8 bytes, no ':' or NUL, sometimes right at the limit. */
const nameArb = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: nameChar, minLength: 1, maxLength: 30 }) },
  {
    weight: 1,
    arbitrary: fc.string({ unit: nameChar, minLength: 300, maxLength: 1100 })
      .map((text) => fitBytes(text, nameBytesMax))
      .filter((text) => text.length > 0),
  },
  { weight: 1, arbitrary: fc.constantFrom("n".repeat(1024), "é".repeat(512), "日".repeat(341)) },
);
const hashArb = fc.nat(0xffffffff);
const bytesArb = fc.uint8Array({ maxLength: 200 });
const portArb = fc.integer({ min: 1, max: 65535 });
const hostArb = fc.oneof(
  fc.string({
    unit: fc.constantFrom(..."abcxyzABC0129.-_[]%"),
    minLength: 1,
    maxLength: 30,
  }),
  fc.constantFrom("localhost", "127.0.0.1", "h".repeat(255)),
);
const base64Arb = bytesArb.map((bytes) => bytes.toBase64());
const reasonArb = fc.stringMatching(/^[a-z][a-z-]{0,31}$/);
const tokenArb = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes) => bytes.toHex());

/** A well-formed manifest (protocol/manifest.ts) of a small chunked file. */
const manifestArb = fc.record({
  chunkSize: fc.integer({ min: 1, max: 1000 }),
  chunks: fc.nat(6),
  tail: fc.nat(),
  sha256: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => bytes.toHex()),
  hash: hashArb,
}).map(({ chunkSize, chunks, tail, sha256, hash }) => {
  const size = chunks === 0 ? 0 : (chunks - 1) * chunkSize + 1 + (tail % chunkSize);
  const shape = treeShape(size, chunkSize);
  const level = shape.depth - 1;
  const refs: ChunkRef[] = Array.from({ length: shape.counts[level]! }, (_, index) => ({
    hash: (hash + index) >>> 0,
    digest: sha256.slice(0, 16),
    size: objectSize(shape, level, index, { size, chunkSize }),
  }));
  return encodeManifest({ depth: shape.depth, chunkSize, size, sha256, refs });
});

const requestArb: Record<Request["command"], fc.Arbitrary<Request>> = {
  ADD: fc.record(
    { command: fc.constant("ADD" as const), name: nameArb, data: bytesArb, salt: hashArb },
    { requiredKeys: ["command", "name", "data"] },
  ),
  BADD: fc.record({
    command: fc.constant("BADD" as const),
    name: nameArb,
    salt: hashArb,
    complete: fc.boolean(),
    metadata: fc.oneof(fc.constant(""), base64Arb),
    data: bytesArb,
  }),
  MADD: fc.record(
    { command: fc.constant("MADD" as const), name: nameArb, manifest: manifestArb, salt: hashArb },
    { requiredKeys: ["command", "name", "manifest"] },
  ),
  GET: fc.record({ command: fc.constant("GET" as const), hash: hashArb }),
  GETM: fc.record({ command: fc.constant("GETM" as const), hash: hashArb }),
  STAT: fc.record({ command: fc.constant("STAT" as const), hash: hashArb }),
  CNCL: fc.record({ command: fc.constant("CNCL" as const), hash: hashArb }),
  RLSE: fc.record(
    { command: fc.constant("RLSE" as const), hash: hashArb, lease: tokenArb },
    { requiredKeys: ["command", "hash"] },
  ),
  RNEW: fc.record({
    command: fc.constant("RNEW" as const),
    leases: fc.array(fc.record({ hash: hashArb, lease: tokenArb }), { maxLength: 8 }),
  }),
  // The tail is positional; an absent stderr before a later field cannot be
  // told from an empty one, so stderr is present whenever a later field is
  // (see the test of that case below).
  UPD: fc.record(
    {
      hash: hashArb,
      stdout: bytesArb,
      stderr: bytesArb,
      exitCode: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      reason: reasonArb,
      detail: fc.string({ unit: anyChar, minLength: 1, maxLength: 60 }),
      manifest: manifestArb,
      lease: tokenArb,
    },
    { requiredKeys: ["hash", "stdout"] },
  ).map((update): Request => {
    const later = "exitCode" in update || "reason" in update || "detail" in update ||
      "manifest" in update;
    return {
      command: "UPD",
      ...update,
      // A chunked output comes with an empty stdout.
      ...("manifest" in update ? { stdout: new Uint8Array() } : {}),
      ...(later && !("stderr" in update) ? { stderr: new Uint8Array() } : {}),
    };
  }),
  JADD: fc.record(
    {
      command: fc.constant("JADD" as const),
      name: nameArb,
      source: bytesArb,
      outputName: nameArb,
      inputs: fc.array(hashArb, { maxLength: 20 }),
      salt: hashArb,
    },
    { requiredKeys: ["command", "name", "source", "outputName", "inputs"] },
  ),
  GETJ: fc.constant({ command: "GETJ" }),
  HAVJ: fc.constant({ command: "HAVJ" }),
  GETS: fc.constant({ command: "GETS" }),
  STOP: fc.constant({ command: "STOP" }),
  INFO: fc.oneof(
    fc.constant({ command: "INFO" as const }),
    fc.integer({ min: 1, max: 3_600_000 }).map((maxAgeMs) => ({
      command: "INFO" as const,
      maxAgeMs,
    })),
  ),
  JOBS: fc.string({ unit: anyChar, maxLength: 40 }).map((query) => ({
    command: "JOBS" as const,
    query,
  })),
  RUNS: fc.string({ unit: anyChar, maxLength: 40 }).map((query) => ({
    command: "RUNS" as const,
    query,
  })),
  RUNR: fc.string({ unit: anyChar, minLength: 1, maxLength: 40 }).map((record) => ({
    command: "RUNR" as const,
    record,
  })),
  JOBI: hashArb.map((hash) => ({ command: "JOBI" as const, hash })),
  PROG: fc.record({ command: fc.constant("PROG" as const), hash: hashArb, stderr: bytesArb }),
  SADD: fc.record({
    command: fc.constant("SADD" as const),
    servers: fc.array(fc.record({ host: hostArb, port: portArb, salt: hashArb }), {
      maxLength: 8,
    }),
  }),
  SUCC: fc.record(
    {
      command: fc.constant("SUCC" as const),
      dead: fc.record({ host: hostArb, port: portArb }),
    },
    { requiredKeys: ["command"] },
  ),
  WAIT: fc.record({
    command: fc.constant("WAIT" as const),
    hash: hashArb,
    timeoutMs: fc.integer({ min: 0, max: 3_600_000 }),
  }),
  PEER: fc.record({ command: fc.constant("PEER" as const), host: hostArb, port: portArb }),
  PROB: fc.record({ command: fc.constant("PROB" as const), host: hostArb, port: portArb }),
  MEMB: fc.record({
    command: fc.constant("MEMB" as const),
    members: fc.array(
      fc.record({
        host: hostArb,
        port: portArb,
        incarnation: fc.maxSafeNat(),
        alive: fc.boolean(),
        salts: fc.array(hashArb, { minLength: 1, maxLength: 16 }),
      }),
      { maxLength: 6 },
    ),
  }),
  HAVE: fc.record({
    command: fc.constant("HAVE" as const),
    entries: fc.array(fc.record({ hash: hashArb, version: fc.maxSafeNat() }), { maxLength: 30 }),
  }),
  PULL: fc.record({ command: fc.constant("PULL" as const), hash: hashArb, metaOnly: fc.boolean() }),
  HELO: fc.constant({ command: "HELO" as const }),
  AUTH: fc.record({
    command: fc.constant("AUTH" as const),
    role: fc.constantFrom("client", "runner", "server", "operator"),
    proof: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => bytes.toHex()),
  }),
  HOLD: fc.record({
    command: fc.constant("HOLD" as const),
    nonce: tokenArb,
    hashes: fc.array(hashArb, { maxLength: 30 }),
  }),
};

function assertProtocolError(action: () => unknown, reason: string, label = ""): void {
  assert.throws(action, (error) => {
    assert.ok(error instanceof ProtocolError, `${label}: expected ProtocolError, got ${error}`);
    assert.equal(error.reason, reason, `${label}: ${error.message}`);
    return true;
  });
}

/** What a server does with a request's bytes: UTF-8 decode, then parse. */
const throughBytes = (text: string): Request => parseRequest(decodePayload(encoder.encode(text)));

// ---------------------------------------------------------------- round trips

for (const [command, arbitrary] of Object.entries(requestArb)) {
  Deno.test(`parseRequest() inverts encodeRequest() for ${command}`, () => {
    fc.assert(
      fc.property(arbitrary, (request) => {
        const text = encodeRequest(request);
        assert.ok(text === command || text.startsWith(`${command}:`), text.slice(0, 40));
        // structuredClone: fast-check records have a null prototype.
        assert.deepEqual(throughBytes(text), structuredClone(request));
      }),
      { numRuns: 150 },
    );
  });
}

Deno.test("encodeRequest() writes the wire format of the original design", () => {
  const utf8 = (text: string) => encoder.encode(text);
  assert.equal(
    encodeRequest({ command: "ADD", name: "name1", data: utf8("hi") }),
    "ADD:name1:aGk=",
  );
  assert.equal(
    encodeRequest({ command: "ADD", name: "n", data: new Uint8Array(), salt: 10 }),
    "ADD:n::0000000a",
  );
  assert.equal(encodeRequest({ command: "GET", hash: 0xab }), "GET:000000ab");
  assert.equal(
    encodeRequest({
      command: "JADD",
      name: "job",
      source: utf8("x"),
      outputName: "out",
      inputs: [1, 0xffffffff],
    }),
    "JADD:job:eA==:out:00000001:ffffffff",
  );
  assert.equal(
    encodeRequest({
      command: "BADD",
      name: "f",
      salt: 2,
      complete: true,
      metadata: "",
      data: utf8("ab"),
    }),
    "BADD:f:00000002:1::YWI=",
  );
  assert.equal(
    encodeRequest({ command: "SADD", servers: [{ host: "h", port: 11111, salt: 3 }] }),
    "SADD:h:11111:00000003",
  );
  assert.equal(encodeRequest({ command: "SADD", servers: [] }), "SADD");
  assert.equal(encodeRequest({ command: "GETJ" }), "GETJ");
  assert.equal(
    encodeRequest({
      command: "MEMB",
      members: [{ host: "h", port: 1, incarnation: 2, alive: false, salts: [0, 0x10] }],
    }),
    "MEMB:h:1:2:dead:00000000,00000010",
  );
  assert.equal(encodeRequest({ command: "PULL", hash: 1, metaOnly: true }), "PULL:00000001:meta");
  assert.equal(encodeRequest({ command: "UPD", hash: 1, stdout: utf8("o") }), "UPD:00000001:bw==");
  assert.equal(
    encodeRequest({ command: "UPD", hash: 1, stdout: new Uint8Array(), reason: "timeout" }),
    "UPD:00000001::::timeout",
  );
});

Deno.test("parseRequest() reads an absent UPD stderr before a later field as empty", () => {
  const text = encodeRequest({ command: "UPD", hash: 1, stdout: new Uint8Array(), exitCode: 3 });
  assert.equal(text, "UPD:00000001:::3");
  assert.deepEqual(parseRequest(text), {
    command: "UPD",
    hash: 1,
    stdout: new Uint8Array(),
    stderr: new Uint8Array(),
    exitCode: 3,
  });
});

Deno.test("parseRequest() accepts hashes of 1 to 8 hex digits in either case", () => {
  assert.deepEqual(parseRequest("GET:ABCDEF01"), { command: "GET", hash: 0xabcdef01 });
  assert.deepEqual(parseRequest("GET:1"), { command: "GET", hash: 1 });
});

Deno.test("parseRequest() reads JADD salt= after the inputs", () => {
  assert.deepEqual(parseRequest("JADD:j:eA==:o:00000001:salt=000000FF"), {
    command: "JADD",
    name: "j",
    source: Uint8Array.of(0x78),
    outputName: "o",
    inputs: [1],
    salt: 0xff,
  });
});

Deno.test("parseRequest() reads JADD fields exactly: 8-digit hashes, canonical source", () => {
  // A name holding ":" (`x:<base64>`) shifts every field after it: the job's
  // own source lands in the output name, its output name where an input goes.
  assertProtocolError(() => parseRequest("JADD:x:cHJpbnQoMSk=:cHJpbnQoMik=:out"), "hash");
  assertProtocolError(() => parseRequest("JADD:j:eA==:o:1"), "hash");
  assertProtocolError(() => parseRequest("JADD:j:eA==:o:00000001:salt=ff"), "hash");
  for (const source of ["eA", "e A==", "eA==\n"]) {
    assertProtocolError(() => parseRequest(`JADD:j:${source}:o`), "base64", source);
  }
  assert.deepEqual(parseRequest("JADD:j:eA==:o:ABCDEF01"), {
    command: "JADD",
    name: "j",
    source: Uint8Array.of(0x78),
    outputName: "o",
    inputs: [0xabcdef01],
  });
});

Deno.test("parseRequest() splits a trailing lease= field off UPD and RLSE", () => {
  const token = "0123456789abcdef0123456789abcdef";
  assert.deepEqual(parseRequest(`RLSE:0000002a:lease=${token}`), {
    command: "RLSE",
    hash: 0x2a,
    lease: token,
  });
  assert.deepEqual(parseRequest(`UPD:0000002a:eA==:lease=${token}`), {
    command: "UPD",
    hash: 0x2a,
    stdout: Uint8Array.of(0x78),
    lease: token,
  });
  assert.equal(
    encodeRequest({ command: "UPD", hash: 0x2a, stdout: new Uint8Array(), lease: token }),
    `UPD:0000002a::lease=${token}`,
  );
  for (const text of ["RLSE:1:lease=xyz", `UPD:1::lease=${token.toUpperCase()}`, "RLSE:1:2"]) {
    assertProtocolError(() => parseRequest(text), "fields", text);
  }
});

Deno.test("encodeRequest() refuses a name holding ':' rather than splice fields", () => {
  const source = new Uint8Array();
  for (
    const request of [
      { command: "JADD", name: "x:cHJpbnQoMSk=", source, outputName: "o", inputs: [] },
      { command: "JADD", name: "j", source, outputName: "o:1", inputs: [] },
      { command: "ADD", name: "a:b", data: source },
      { command: "MADD", name: "a\0b", manifest: source },
    ] as Request[]
  ) {
    assertProtocolError(() => encodeRequest(request), "name", request.command);
  }
});

Deno.test("parseRequest() reads HOLD: a nonce then hashes", () => {
  const nonce = "f".repeat(32);
  assert.deepEqual(parseRequest(`HOLD:${nonce}:1:ff`), {
    command: "HOLD",
    nonce,
    hashes: [1, 0xff],
  });
  assertProtocolError(() => parseRequest("HOLD:abc:1"), "fields");
  assertProtocolError(() => parseRequest("HOLD"), "fields");
});

Deno.test("parseRequest() accepts exactly jobInputsMax inputs", () => {
  const inputs = Array.from({ length: jobInputsMax }, (_, i) => i);
  const request: Request = {
    command: "JADD",
    name: "j",
    source: new Uint8Array(),
    outputName: "o",
    inputs,
  };
  const text = encodeRequest(request);
  assert.ok(byteLength(text) <= 0xffff, "fits in one frame");
  assert.deepEqual(parseRequest(text), request);
});

Deno.test("parseRequest() accepts a name of exactly nameBytesMax bytes", () => {
  for (const name of ["a".repeat(nameBytesMax), "é".repeat(nameBytesMax / 2)]) {
    assert.deepEqual(parseRequest(`ADD:${name}:`), {
      command: "ADD",
      name,
      data: new Uint8Array(),
    });
  }
});

// ---------------------------------------------------------------- errors

Deno.test("parseRequest() rejects an unknown command", () => {
  for (const text of ["FOO", "", "add:x:AA==", "GET ", " GET:1", "ACK", "GETJX"]) {
    assertProtocolError(() => parseRequest(text), "unknown-command", text);
  }
});

Deno.test("parseRequest() rejects wrong field counts", () => {
  const cases = [
    "GET",
    "GET:1:2",
    "STAT",
    "RLSE:1:2",
    "RNEW:0000002a",
    "RNEW:",
    "ADD:x",
    "ADD:x:AA==:1:2",
    "BADD:a:1:1:",
    "BADD:a:1:1:::",
    "UPD:1",
    "UPD:1:AA==::::::",
    "JADD:j:AA==",
    "GETJ:1:2",
    "HAVJ:",
    "GETS:1",
    "STOP:now",
    "INFO:1:2",
    "SADD:h:1",
    "SADD:h:1:0:h2",
    "SUCC:h",
    "SUCC:h:1:2",
    "WAIT:1",
    "PEER:h",
    "PEER:h:1:2",
    "MEMB:h:1:0:alive",
    "HAVE:1",
    "PULL",
    "PULL:1:meta:x",
  ];
  for (const text of cases) assertProtocolError(() => parseRequest(text), "fields", text);
});

Deno.test("parseRequest() rejects invalid field words", () => {
  const cases = [
    "BADD:a:1:2::",
    "BADD:a:1:true::",
    "PULL:1:data",
    "MEMB:h:1:0:zombie:0",
    "UPD:1::::Timeout",
    "UPD:1::::1abc",
    `UPD:1::::${"a".repeat(33)}`,
    "JADD:j:eA==:o:salt=00000001:00000002",
    "JADD:j:eA==:o:salt=00000001:salt=00000002",
    "JADD:j:eA==:o:00000001:fresh=1",
    "JADD:j:eA==:o:00000001:lease=0123",
  ];
  for (const text of cases) assertProtocolError(() => parseRequest(text), "fields", text);
});

Deno.test("parseRequest() rejects invalid base64", () => {
  for (
    const text of ["ADD:x:!!!", "ADD:x:A", "BADD:a:1:1::@@", "UPD:1:%%", "UPD:1::*", "JADD:j:=:o"]
  ) {
    assertProtocolError(() => parseRequest(text), "base64", text);
  }
});

Deno.test("parseRequest() rejects an empty name", () => {
  for (const text of ["ADD::AA==", "BADD::1:1::", "JADD::AA==:o", "JADD:j:AA==:"]) {
    assertProtocolError(() => parseRequest(text), "name", text);
  }
});

Deno.test("parseRequest() rejects a name over 1024 bytes", () => {
  for (const name of ["a".repeat(nameBytesMax + 1), "é".repeat(nameBytesMax / 2 + 1)]) {
    assertProtocolError(() => parseRequest(`ADD:${name}:AA==`), "name");
    assertProtocolError(() => parseRequest(`JADD:j:AA==:${name}`), "name");
  }
});

Deno.test("parseRequest() rejects a name containing NUL", () => {
  assertProtocolError(() => parseRequest("ADD:a\0b:AA=="), "name");
});

Deno.test("parseRequest() rejects a bad hash", () => {
  const cases = [
    "GET:xyz",
    "GET:",
    "GET:123456789",
    "GET:0x12",
    "STAT:-1",
    "ADD:x:AA==:zz",
    "BADD:a:q:1::",
    "JADD:j:AA==:o:q",
    "JADD:j:AA==:o:salt=",
    "SADD:h:1:nothex",
    "MEMB:h:1:0:alive:",
    "MEMB:h:1:0:alive:1,,2",
    "HAVE:g:1",
    "PULL:z",
    "WAIT::10",
  ];
  for (const text of cases) assertProtocolError(() => parseRequest(text), "hash", text);
});

Deno.test("parseRequest() rejects a bad port or number", () => {
  const cases = [
    "PEER:h:0",
    "PEER:h:65536",
    "PEER:h:abc",
    "PEER:h:-1",
    "PEER:h:",
    "SUCC:h:1.5",
    "SADD:h:+1:0",
    "WAIT:1:3600001",
    "WAIT:1:1e3",
    "MEMB:h:1:x:alive:0",
    "HAVE:1:12345678901234567",
    "HAVE:1:99999999999999999",
    "UPD:1:::1.0",
  ];
  for (const text of cases) assertProtocolError(() => parseRequest(text), "number", text);
});

Deno.test("parseRequest() rejects a bad host", () => {
  for (const text of ["PEER:a b:1", "PEER::1", `PEER:${"h".repeat(256)}:1`, "SUCC:h/x:1"]) {
    assertProtocolError(() => parseRequest(text), "host", text);
  }
});

Deno.test("parseRequest() rejects too many JADD inputs", () => {
  const inputs = Array.from({ length: jobInputsMax + 1 }, (_, i) => i.toString(16).padStart(8, "0"))
    .join(":");
  assertProtocolError(() => parseRequest(`JADD:j:AA==:o:${inputs}`), "fields");
});

Deno.test("parseRequest() rejects too many HAVE entries and member salts", () => {
  const entries = Array.from({ length: haveEntriesMax + 1 }, (_, i) => `${i.toString(16)}:1`);
  assertProtocolError(() => parseRequest(`HAVE:${entries.join(":")}`), "fields");
  const salts = Array.from({ length: ringSaltsMax + 1 }, (_, i) => i.toString(16)).join(",");
  assertProtocolError(() => parseRequest(`MEMB:h:1:0:alive:${salts}`), "fields");
  const most = Array.from({ length: ringSaltsMax }, (_, i) => i.toString(16)).join(",");
  assert.equal(parseMembers(["h", "1", "0", "alive", most])[0]!.salts.length, ringSaltsMax);
});

Deno.test("parseRequest() checks MADD and UPD manifests", () => {
  const manifest = fc.sample(manifestArb, { numRuns: 1, seed: 1 })[0]!.toBase64();
  assertProtocolError(() => parseRequest("MADD:n"), "fields");
  assertProtocolError(() => parseRequest("GETM"), "fields");
  assertProtocolError(() => parseRequest("MADD:n:!!!"), "base64");
  assertProtocolError(() => parseRequest(`MADD::${manifest}`), "name");
  assertProtocolError(() => parseRequest("MADD:n:AAAA"), "manifest");
  assertProtocolError(() => parseRequest(`MADD:n:${utf8Base64("cman")}`), "manifest");
  assertProtocolError(() => parseRequest("UPD:1::::::AAAA"), "manifest");
  assertProtocolError(() => parseRequest("UPD:1::::::"), "fields"); // empty manifest field
  assertProtocolError(() => parseRequest(`UPD:1:AA==:::::${manifest}`), "fields"); // stdout too
  assert.equal(parseRequest(`MADD:n:${manifest}`).command, "MADD");
});

Deno.test("parseRequest() rejects a UPD detail that is not UTF-8", () => {
  const detail = Uint8Array.of(0xff, 0xfe).toBase64();
  assertProtocolError(() => parseRequest(`UPD:1:::1:exception:${detail}`), "encoding");
});

Deno.test("parseServers() and parseMembers() reject lists of the wrong length", () => {
  assertProtocolError(() => parseServers(["h", "1"]), "fields");
  assertProtocolError(() => parseMembers(["h", "1", "0", "alive", "0", "h"]), "fields");
  assert.deepEqual(parseServers([]), []);
  assert.deepEqual(parseMembers([]), []);
});

Deno.test("validateName() names the field in its message", () => {
  assert.equal(validateName("ok"), "ok");
  assert.throws(() => validateName("", "output name"), /Invalid output name: empty/);
  assert.throws(() => validateName("a:b", "job name"), /Invalid job name: contains ":"/);
  assert.throws(
    () => validateName("a".repeat(2000)),
    /Invalid name: too long \(max 1024 bytes, got 2000\)/,
  );
});

Deno.test("decodePayload() rejects invalid UTF-8", () => {
  const cases = [
    [0xff],
    [0x41, 0xc3], // truncated sequence
    [0xc0, 0x80], // overlong NUL
    [0xed, 0xa0, 0x80], // encoded surrogate
    [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
  ];
  for (const bytes of cases) {
    assertProtocolError(() => decodePayload(Uint8Array.from(bytes)), "encoding", `${bytes}`);
  }
  assert.equal(decodePayload(encoder.encode("GET:é日")), "GET:é日");
});

const commandWords = [...Object.keys(requestArb), "ACK", "NACK", "add"];
const fieldArb = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: anyChar, maxLength: 12 }),
  hashArb.map((h) => h.toString(16)),
  fc.integer().map(String),
  fc.constantFrom("", "0", "1", "alive", "dead", "meta", "salt=1", "salt=", "-", "1e9", "AA=="),
  base64Arb,
  fc.array(hashArb.map((h) => h.toString(16)), { maxLength: 4 }).map((s) => s.join(",")),
  fc.uint8Array({ maxLength: 12 }).map((bytes) => bytes.toBase64()),
  fc.string({ maxLength: 1100 }).map((text) => text.replaceAll(":", "")),
);

Deno.test("parseRequest() throws nothing but ProtocolError on any text", () => {
  const text = fc.oneof(
    fc.string({ unit: anyChar, maxLength: 200 }),
    fc.tuple(fc.constantFrom(...commandWords), fc.array(fieldArb, { maxLength: 12 }))
      .map(([command, fields]) => [command, ...fields].join(":")),
  );
  fc.assert(
    fc.property(text, (input) => {
      try {
        parseRequest(input);
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        assert.ok(error.reason.length > 0 && error.message.length > 0);
      }
    }),
    { numRuns: 3000 },
  );
});

// ---------------------------------------------------------------- replies

const fieldNoColon = fc.string({ unit: anyChar, maxLength: 20 }).map((t) => t.replaceAll(":", ""));

Deno.test("parseReply() inverts encodeReply() for ACK", () => {
  fc.assert(
    fc.property(fc.array(fieldNoColon, { maxLength: 6 }), (fields) => {
      assert.deepEqual(parseReply(encodeReply(ack(...fields))), { ok: true, fields });
    }),
  );
  assert.equal(encodeReply(ack()), "ACK");
  assert.equal(encodeReply(ack("")), "ACK:");
  assert.deepEqual(parseReply("ACK:"), { ok: true, fields: [""] });
});

Deno.test("parseReply() inverts encodeReply() for NACK, a detail with ':' included", () => {
  fc.assert(
    fc.property(fieldNoColon, fc.string({ unit: anyChar, maxLength: 40 }), (reason, detail) => {
      const reply: Reply = { ok: false, reason, detail };
      assert.deepEqual(parseReply(encodeReply(reply)), reply);
    }),
  );
  const reply = nack("name", 'Invalid name: contains ":" in a:b:c');
  assert.equal(encodeReply(reply), 'NACK:name:Invalid name: contains ":" in a:b:c');
  assert.deepEqual(parseReply(encodeReply(reply)), reply);
});

Deno.test("nack() replaces NUL in the detail so the reply stays one frame of text", () => {
  assert.deepEqual(nack("x", "a\0b"), { ok: false, reason: "x", detail: "a b" });
  assert.deepEqual(nack("x"), { ok: false, reason: "x", detail: "" });
  assert.equal(encodeReply(nack("checksum")), "NACK:checksum");
});

Deno.test("parseReply() reads a bare NACK as unspecified", () => {
  assert.deepEqual(parseReply("NACK"), { ok: false, reason: "unspecified", detail: "" });
});

Deno.test("parseReply() rejects text that is neither ACK nor NACK", () => {
  for (const text of ["", "OK", "ack", "ACKX", "NACKX", " ACK", "GET:1"]) {
    assertProtocolError(() => parseReply(text), "reply", text);
  }
});

Deno.test("memberFields() and parseMembers() keep a member's salts in order", () => {
  const member: MemberRecord = {
    host: "h",
    port: 7,
    incarnation: 9,
    alive: true,
    salts: [5, 1, 0xffffffff, 5],
  };
  const parsed = parseRequest(encodeRequest({ command: "MEMB", members: [member] }));
  assert.deepEqual(parsed, { command: "MEMB", members: [member] });
});

Deno.test("capStderr() leaves stderr within the limit untouched", () => {
  const stderr = new Uint8Array(100).fill(0x61);
  assert.equal(capStderr(stderr, 100), stderr);
  const empty = new Uint8Array();
  assert.equal(capStderr(empty), empty);
});

Deno.test("capStderr() keeps head and tail within the limit and says truly how much was cut", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 80, max: 4000 }),
      fc.integer({ min: 1, max: 20_000 }),
      (max, extra) => {
        const stderr = Uint8Array.from({ length: max + extra }, (_, i) => 0x41 + (i % 26));
        const capped = capStderr(stderr, max);
        assert.ok(capped.length <= max, `${capped.length} > ${max}`);
        const text = new TextDecoder().decode(capped);
        const match = /\n… (\d+) bytes of stderr cut …\n/.exec(text);
        assert.ok(match, text.slice(0, 80));
        const cut = Number(match[1]);
        const kept = capped.length - encoder.encode(match[0]).length;
        assert.equal(cut, stderr.length - kept, "the marker counts the bytes left out");
        const head = capped.subarray(0, match.index);
        const tail = capped.subarray(match.index + encoder.encode(match[0]).length);
        assert.deepEqual(head, stderr.subarray(0, head.length));
        assert.deepEqual(tail, stderr.subarray(stderr.length - tail.length));
        assert.ok(Math.abs(head.length - tail.length) <= 1);
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("parseRequest() reads GETJ's optional wait and rejects a bad one", () => {
  assert.deepEqual(parseRequest("GETJ"), { command: "GETJ" });
  assert.deepEqual(parseRequest("GETJ:250"), { command: "GETJ", waitMs: 250 });
  assert.equal(encodeRequest({ command: "GETJ", waitMs: 250 }), "GETJ:250");
  assert.throws(
    () => parseRequest("GETJ:x"),
    (error: Error) => error instanceof ProtocolError && error.reason === "number",
  );
  assert.throws(
    () => parseRequest("GETJ:-1"),
    (error: Error) => error instanceof ProtocolError && error.reason === "number",
  );
  assert.throws(
    () => parseRequest("GETJ:30001"),
    (error: Error) => error instanceof ProtocolError && error.reason === "number",
  );
});

Deno.test("parseRequest() reads RNEW's pairs of job hash and lease token", () => {
  const token = "0123456789abcdef0123456789abcdef";
  assert.deepEqual(parseRequest(`RNEW:0000002a:${token}:ffffffff:${token}`), {
    command: "RNEW",
    leases: [{ hash: 0x2a, lease: token }, { hash: 0xffffffff, lease: token }],
  });
  assert.deepEqual(parseRequest("RNEW"), { command: "RNEW", leases: [] });
  for (const text of [`RNEW:2a:${token}`, "RNEW:0000002a:xyz", `RNEW:0000002a:${token}:1`]) {
    assert.throws(() => parseRequest(text), ProtocolError, text);
  }
});
