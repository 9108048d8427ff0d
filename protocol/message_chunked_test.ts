/**
 * The large-object commands of message.ts (MADD, GETM, UPD's manifest
 * field) and capStderr; the rest of the vocabulary is tested in
 * message_test.ts.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { capStderr, encodeRequest, parseRequest, ProtocolError, type Request } from "./message.ts";
import { encodeManifest, type Manifest } from "./manifest.ts";
import { stderrBytesMax } from "../limits.ts";

// Property failures print `{ seed, path }`; pass them to fc.assert to replay.

/** docs/PROTOCOL.md 9.10: 100 bytes "a" in chunks of 40. */
const vector =
  "Y21hbgEBAAMAAAAoAAAAAAAAAGQoFll4iOSg06NrgrgzFqsyaA648A+M07kE1oEkbShaDt162eLjPN+cf3EguQAAACjdetni4zzfnH9xILkAAAAoJ6JeQEJJLaBiNK0KAAAAFA==";
const manifest = Uint8Array.fromBase64(vector);

function assertReason(work: () => unknown, reason: string, label: string): void {
  assert.throws(work, (error) => {
    assert.ok(error instanceof ProtocolError, `${label}: ${error}`);
    assert.equal(error.reason, reason, label);
    return true;
  });
}

Deno.test("encodeRequest() writes MADD, GETM and UPD's manifest as documented", () => {
  assert.equal(encodeRequest({ command: "MADD", name: "big", manifest }), `MADD:big:${vector}`);
  assert.equal(
    encodeRequest({ command: "MADD", name: "big", manifest, salt: 0x1f }),
    `MADD:big:${vector}:0000001f`,
  );
  assert.equal(encodeRequest({ command: "GETM", hash: 0x93304150 }), "GETM:93304150");
  assert.equal(
    encodeRequest({
      command: "UPD",
      hash: 0x1234abcd,
      stdout: new Uint8Array(),
      stderr: new Uint8Array(),
      exitCode: 0,
      manifest,
    }),
    `UPD:1234abcd:::0:::${vector}`,
  );
});

Deno.test("parseRequest() reads MADD, GETM and UPD's manifest back", () => {
  const requests: Request[] = [
    { command: "MADD", name: "big", manifest },
    { command: "MADD", name: "big", manifest, salt: 7 },
    { command: "GETM", hash: 0x93304150 },
    { command: "UPD", hash: 5, stdout: new Uint8Array(), stderr: new Uint8Array(), manifest },
    {
      command: "UPD",
      hash: 5,
      stdout: new Uint8Array(),
      stderr: new Uint8Array([1, 2]),
      exitCode: 0,
      detail: "d",
      manifest,
    },
  ];
  for (const request of requests) {
    assert.deepEqual(parseRequest(encodeRequest(request)), request);
  }
});

Deno.test("parseRequest() refuses a malformed manifest with NACK reason manifest", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), (junk) => {
      const text = junk.toBase64();
      assertReason(() => parseRequest(`MADD:x:${text}`), "manifest", "MADD");
      assertReason(() => parseRequest(`UPD:1::::::${text || "AA=="}`), "manifest", "UPD");
    }),
  );
  const truncated = manifest.subarray(0, manifest.length - 1).toBase64();
  assertReason(() => parseRequest(`MADD:x:${truncated}`), "manifest", "truncated");
});

Deno.test("parseRequest() checks the fields of MADD, GETM and UPD with a manifest", () => {
  assertReason(() => parseRequest("MADD:x"), "fields", "MADD without manifest");
  assertReason(() => parseRequest(`MADD:x:${vector}:1:2`), "fields", "MADD with 4 fields");
  assertReason(() => parseRequest(`MADD::${vector}`), "name", "MADD without a name");
  assertReason(() => parseRequest(`MADD:x:${vector}:zz`), "hash", "MADD with a bad salt");
  assertReason(() => parseRequest("MADD:x:%%"), "base64", "MADD with bad base64");
  assertReason(() => parseRequest("GETM"), "fields", "GETM without hash");
  assertReason(() => parseRequest("GETM:1:2"), "fields", "GETM with 2 fields");
  assertReason(() => parseRequest("GETM:xyz"), "hash", "GETM with a bad hash");
  assertReason(() => parseRequest(`UPD:1:AA==:::::${vector}`), "fields", "stdout and a manifest");
  assertReason(() => parseRequest("UPD:1::::::"), "fields", "empty manifest field");
  assertReason(() => parseRequest(`UPD:1::::::${vector}:x`), "fields", "8 fields");
});

Deno.test("encodeManifest() of the vector matches the documented bytes", () => {
  const decoded: Manifest = {
    depth: 1,
    chunkSize: 40,
    size: 100,
    sha256: "2816597888e4a0d3a36b82b83316ab32680eb8f00f8cd3b904d681246d285a0e",
    refs: [
      { hash: 0xdd7ad9e2, digest: "e33cdf9c7f7120b9", size: 40 },
      { hash: 0xdd7ad9e2, digest: "e33cdf9c7f7120b9", size: 40 },
      { hash: 0x27a25e40, digest: "42492da06234ad0a", size: 20 },
    ],
  };
  assert.equal(encodeManifest(decoded).toBase64(), vector);
});

Deno.test("capStderr() keeps short stderr and cuts long stderr to its head and tail", () => {
  const short = new Uint8Array(stderrBytesMax).fill(65);
  assert.equal(capStderr(short), short);
  fc.assert(
    fc.property(fc.integer({ min: stderrBytesMax + 1, max: 4 * stderrBytesMax }), (length) => {
      const long = new Uint8Array(length).map((_, i) => 48 + (i % 10));
      const capped = capStderr(long);
      assert.ok(capped.length <= stderrBytesMax, `${capped.length}`);
      assert.deepEqual(capped.subarray(0, 100), long.subarray(0, 100));
      assert.deepEqual(capped.subarray(capped.length - 100), long.subarray(length - 100));
    }),
    { numRuns: 20 },
  );
});
