import assert from "node:assert/strict";
import fc from "fast-check";
import { jobIdentity, saltOf, sha256Hex } from "../protocol/digest.ts";
import { objectHash } from "../protocol/hash.ts";
import { chunkedIdentity, encodeManifest } from "../protocol/manifest.ts";
import { saltProbesMax } from "../limits.ts";
import { copyProblem, relationProblem } from "./copy_check.ts";
import { job, output, upload, validObjectArb } from "./_test_objects.ts";
import type { FileMeta, JobMeta, StoredObject } from "./objects.ts";
import { keyOf } from "./result_keys.ts";

// Property failures print `{ seed, path }`; pass them to fc.assert to replay.

const encoder = new TextEncoder();

/** `object` with other metadata (same name, salt and data). */
function withMeta(object: StoredObject, meta: Partial<FileMeta> | Partial<JobMeta>): StoredObject {
  return { ...object, meta: { ...object.meta, ...meta } as StoredObject["meta"] };
}

/** `object` at another salt (and so another hash). */
function atSalt(object: StoredObject, salt: number): StoredObject {
  return { ...object, salt, hash: objectHash(object.name, salt) };
}

Deno.test("copyProblem() takes every object a server writes (property)", () => {
  fc.assert(fc.property(validObjectArb, (object) => {
    assert.equal(copyProblem(object), null);
    assert.equal(copyProblem({ ...object, data: new Uint8Array() }, { metaOnly: true }), null);
  }));
});

Deno.test("copyProblem() refuses an upload whose data is not its identity's", () => {
  const file = upload("f", "the original");
  assert.match(copyProblem({ ...file, data: encoder.encode("the attacker") })!, /digest/);
  assert.match(copyProblem(withMeta(file, { size: 99 }))!, /size/);
  assert.match(copyProblem(withMeta(file, { resultKey: 5 }))!, /fields of a job's output/);
  assert.match(copyProblem(withMeta(file, { state: "failed", error: "x" }))!, /cannot be failed/);
  // ADD takes any salt: an upload's salt is not checked.
  assert.equal(copyProblem(atSalt(file, 12345)), null);
});

Deno.test("copyProblem() checks a chunked upload against its manifest", () => {
  const manifest = encodeManifest({
    depth: 1,
    chunkSize: 4,
    size: 8,
    sha256: "a".repeat(64),
    refs: [{ hash: 1, digest: "0".repeat(16), size: 4 }, {
      hash: 2,
      digest: "0".repeat(16),
      size: 4,
    }],
  });
  const id = chunkedIdentity("a".repeat(64), 4);
  const file: StoredObject = {
    hash: objectHash("big", saltOf(id)),
    name: "big",
    salt: saltOf(id),
    data: manifest,
    meta: { kind: "file", id, state: "complete", size: 8, chunked: true },
  };
  assert.equal(copyProblem(file), null);
  assert.match(copyProblem(withMeta(file, { id: "b".repeat(64) }))!, /identity/);
  assert.match(copyProblem(withMeta(file, { size: 9 }))!, /size/);
  assert.match(copyProblem({ ...file, data: manifest.subarray(1) })!, /malformed/);
});

Deno.test("copyProblem() refuses a job whose source, name or inputs are not its identity's", () => {
  const leased = job({
    name: "j",
    source: "print(1)",
    inputs: [{ hash: 7, name: "in" }],
    state: "leased",
  });
  assert.match(copyProblem({ ...leased, data: encoder.encode("evil()") })!, /identity/);
  assert.match(copyProblem(withMeta(leased, { outputName: "other" }))!, /identity/);
  assert.match(copyProblem(withMeta(leased, { inputs: [{ hash: 8, name: "in" }] }))!, /identity/);
  assert.match(copyProblem(withMeta(leased, { fresh: 1 }))!, /identity/);
  assert.match(copyProblem(withMeta(leased, { lease: undefined }))!, /lease token/);
});

Deno.test("copyProblem() takes a job's salt only from its identity's or a forced one, with probes", () => {
  const ready = job({ name: "j", source: "print(1)" });
  const start = saltOf(ready.meta.kind === "job" ? ready.meta.id : "");
  assert.equal(copyProblem(atSalt(ready, (start + saltProbesMax - 1) >>> 0)), null);
  assert.match(copyProblem(atSalt(ready, (start + saltProbesMax) >>> 0))!, /salt/);
  assert.match(copyProblem(atSalt(ready, (start - 1) >>> 0))!, /salt/);
  const forced = job({ name: "j", source: "print(1)", fresh: 0xffffffff, probes: [3, 0] });
  assert.equal(forced.salt, 2, "probing wraps around");
  assert.equal(copyProblem(forced), null);
  // The attacker's source at the victim's hash: the identity recomputed, the salt is off.
  const source = encoder.encode("evil()");
  const id = jobIdentity({ name: "j", source, outputName: "j.out", inputs: [] });
  assert.match(copyProblem({ ...withMeta(ready, { id }), data: source })!, /salt/);
});

Deno.test("copyProblem() refuses a job whose output is not where its identity puts it", () => {
  const ready = job({ name: "j", source: "print(1)" });
  const meta = ready.meta as JobMeta;
  assert.match(copyProblem(withMeta(ready, { output: meta.output ^ 1 }))!, /output/);
  const salt = (meta.outputSalt + saltProbesMax) >>> 0;
  assert.match(
    copyProblem(withMeta(ready, { outputSalt: salt, output: objectHash("j.out", salt) }))!,
    /output salt/,
  );
});

Deno.test("copyProblem() refuses a finished job whose result key does not follow from it", () => {
  const done = job({ name: "j", source: "print(1)", state: "done", stdout: encoder.encode("1\n") });
  const meta = done.meta as JobMeta;
  assert.match(copyProblem(withMeta(done, { resultKey: (meta.resultKey! + 1) % 2 ** 20 }))!, /key/);
  assert.match(copyProblem(withMeta(done, { stderr: "ZXZpbA==" }))!, /report digest/);
  assert.match(copyProblem(withMeta(done, { resultKey: undefined }))!, /no result key/);
  // Even self-consistent, a failed job's output holds no data.
  const failed = job({ name: "k", source: "print(2)", state: "failed" });
  const digest = sha256Hex("x");
  const report = (failed.meta as JobMeta).report!;
  assert.match(
    copyProblem(withMeta(failed, { outputDigest: digest, resultKey: keyOf(digest, report) }))!,
    /failed job/,
  );
  // And a metadata-only copy is checked for what metadata shows.
  assert.match(
    copyProblem({ ...withMeta(done, { resultKey: 1 }), data: new Uint8Array() }, {
      metaOnly: true,
    })!,
    /key/,
  );
});

Deno.test("copyProblem() refuses an output whose data or key does not follow from its result", () => {
  const stdout = encoder.encode("honest");
  const done = job({ name: "j", source: "print(1)", state: "done", stdout });
  const out = output(done, stdout);
  assert.equal(copyProblem(out), null);
  const forged = { ...withMeta(out, { size: 6 }), data: encoder.encode("forged") };
  assert.match(copyProblem(forged)!, /key/);
  assert.match(copyProblem(withMeta(forged, { resultKey: 2 ** 20 - 1 }))!, /key/);
  const incomplete = output(job({ name: "j", source: "print(1)" }));
  assert.match(copyProblem({ ...incomplete, data: stdout })!, /holds data/);
  assert.match(copyProblem(withMeta(incomplete, { resultKey: 3 }))!, /result key/);
  assert.match(copyProblem(atSalt(out, (out.salt + saltProbesMax) >>> 0))!, /salt/);
});

Deno.test("relationProblem() ties an output to the finished job held here", () => {
  const stdout = encoder.encode("honest");
  const done = job({ name: "j", source: "print(1)", state: "done", stdout });
  const out = output(done, stdout);
  assert.equal(relationProblem(out, done), null);
  assert.equal(relationProblem(done, out), null, "a job ranks by its own key");
  // Consistent with itself, but another result than the job here.
  const report = "9".repeat(64);
  const other = {
    ...withMeta(out, { report, resultKey: keyOf(sha256Hex("forged"), report), size: 6 }),
    data: encoder.encode("forged"),
  };
  assert.equal(copyProblem(other), null, "a self-consistent forgery passes the copy's own checks");
  assert.match(relationProblem(other, done, { replacing: true })!, /another/);
  assert.equal(relationProblem(other, done), null, "an output that replaces nothing is taken");
  // An unfinished job here: nothing to compare the result with.
  const leased = job({ name: "j", source: "print(1)", state: "leased" });
  assert.equal(relationProblem(other, leased, { replacing: true }), null);
  assert.equal(
    relationProblem(other, upload("x", "y")),
    null,
    "objects that do not name each other",
  );
});
