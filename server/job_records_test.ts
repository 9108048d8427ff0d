import assert from "node:assert/strict";
import fc from "fast-check";
import { outputIdentity } from "../protocol/digest.ts";
import { detailBytesMax, framePayloadBytesMax } from "../limits.ts";
import {
  failureText,
  finishedOutputOf,
  leaseFields,
  newJobMeta,
  outputOf,
  recordTooLarge,
} from "./job_records.ts";
import { isTerminal, type StoredJob } from "./objects.ts";

// Property failures print `{ seed, path }`; pass them to fc.assert to replay.

const encoder = new TextEncoder();

function job(extra: Partial<StoredJob["meta"]> = {}, source = "print(1)"): StoredJob {
  return {
    hash: 0xabc,
    name: "count",
    salt: 4,
    data: encoder.encode(source),
    meta: {
      ...newJobMeta({
        id: "job-id",
        inputs: [{ hash: 0x1, name: "data" }],
        output: { hash: 0xdef, salt: 9, name: "counts" },
        state: "ready",
        createdMs: 1_000,
      }),
      ...extra,
    },
  };
}

Deno.test("newJobMeta() starts a job at attempt 0 with nothing reported", () => {
  const meta = job().meta;
  assert.equal(meta.state, "ready");
  assert.equal(meta.attempt, 0);
  assert.equal(meta.output, 0xdef);
  assert.equal(meta.outputName, "counts");
  assert.equal(meta.outputSalt, 9);
  assert.deepEqual(meta.inputs, [{ hash: 0x1, name: "data" }]);
  assert.equal(meta.exitCode, null);
  assert.equal(meta.resultKey, undefined);
});

Deno.test("outputOf() derives the output's identity, place and rank from the job", () => {
  const done = job({ state: "done", attempt: 2, resultKey: 77 });
  const output = outputOf(done, { state: "complete", data: encoder.encode("3\n") });
  assert.equal(output.hash, 0xdef);
  assert.equal(output.name, "counts");
  assert.equal(output.salt, 9);
  assert.deepEqual(output.meta, {
    kind: "file",
    id: outputIdentity("job-id"),
    state: "complete",
    size: 2,
    job: 0xabc,
    attempt: 2,
    resultKey: 77,
  });
});

Deno.test("finishedOutputOf() is complete for a done job and failed, with its reason, otherwise", () => {
  const done = finishedOutputOf(job({ state: "done" }), encoder.encode("ok"));
  assert.equal(done.meta.state, "complete");
  const failed = finishedOutputOf(
    job({ state: "failed", reason: "timeout", detail: "ran 60 s" }),
    null,
  );
  assert.equal(failed.meta.state, "failed");
  assert.ok(failed.meta.kind === "file");
  assert.equal(failed.meta.error, "job count (00000abc) failed (timeout): ran 60 s");
});

Deno.test("failureText() is one line within the detail limit (property)", () => {
  fc.assert(fc.property(fc.string({ maxLength: 3000 }), (detail) => {
    const text = failureText(job({ state: "failed", reason: "exception", detail }));
    assert.ok(!text.includes("\n"));
    assert.ok(encoder.encode(text).length <= detailBytesMax);
  }));
});

Deno.test("leaseFields() hands out source, hash and namespace in order", () => {
  assert.deepEqual(leaseFields(job()), [
    encoder.encode("print(1)").toBase64(),
    "00000abc",
    "00000001",
    "data",
  ]);
});

Deno.test("recordTooLarge() passes a usual job and names the limit for one that cannot travel", () => {
  assert.equal(recordTooLarge(job()), null);
  const inputs = Array.from({ length: 3000 }, (_, i) => ({ hash: i, name: `input-${i}` }));
  const message = recordTooLarge(job({ inputs }));
  assert.ok(message?.includes(`exceeds one frame (${framePayloadBytesMax} bytes)`), message ?? "");
});

Deno.test("outputOf() of a terminal job's result is terminal too (property)", () => {
  fc.assert(
    fc.property(fc.constantFrom<"done" | "failed">("done", "failed"), (state) => {
      const output = finishedOutputOf(job({ state }), new Uint8Array());
      assert.ok(isTerminal(output.meta));
    }),
  );
});
