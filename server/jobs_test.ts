import assert from "node:assert/strict";
import fc from "fast-check";
import {
  failJob,
  finishFromOutput,
  finishJob,
  type InputStatus,
  isLeasable,
  isSuccess,
  type JobResult,
  leaseJob,
  leaseProblem,
  markReady,
  readinessOf,
  releaseJob,
  releaseUnder,
} from "./jobs.ts";
import { type FileMeta, isTerminal, type JobMeta, type JobState, versionOf } from "./objects.ts";
import { emptyDigest, jobResultProblem, keyOf, reportDigest, withResult } from "./result_keys.ts";
import { jobLostMax } from "../limits.ts";

// Property failures print `{ seed, path }`; pass them to fc.assert to replay.

function job(state: JobState, extra: Partial<JobMeta> = {}): JobMeta {
  return {
    kind: "job",
    id: "id",
    output: 2,
    outputName: "out",
    outputSalt: 3,
    inputs: [{ hash: 5, name: "in" }],
    state,
    attempt: 0,
    lost: 0,
    leaseUntilMs: 0,
    createdMs: 100,
    exitCode: null,
    reason: null,
    detail: "",
    stderr: "",
    ...extra,
  };
}

const token = "0123456789abcdef0123456789abcdef";
const lease = { nowMs: 1_000, leaseMs: 500, lostMax: 3, token };
const digest = "d".repeat(64);
const success: JobResult = { stderr: "ZXJy", exitCode: 0, reason: null, detail: "" };
const input = (name: string, state: InputStatus["state"], error?: string): InputStatus => ({
  hash: 0xab,
  name,
  state,
  ...(error === undefined ? {} : { error }),
});

Deno.test("readinessOf() is ready when every input is complete, or there are none", () => {
  assert.deepEqual(readinessOf([]), { kind: "ready" });
  assert.deepEqual(readinessOf([input("a", "complete"), input("b", "complete")]), {
    kind: "ready",
  });
});

Deno.test("readinessOf() waits for an incomplete, missing or unknown input", () => {
  for (const state of ["incomplete", "missing", "unknown"] as const) {
    assert.deepEqual(readinessOf([input("a", "complete"), input("b", state)]), { kind: "waiting" });
  }
});

Deno.test("readinessOf() fails naming the failed input, before any waiting one", () => {
  assert.deepEqual(
    readinessOf([input("a", "incomplete"), input("data.csv", "failed", "exit status 1")]),
    { kind: "failed", detail: "input data.csv (000000ab) failed: exit status 1" },
  );
  assert.deepEqual(readinessOf([input("x", "failed")]), {
    kind: "failed",
    detail: "input x (000000ab) failed",
  });
});

Deno.test("readinessOf() names the first failed input", () => {
  const result = readinessOf([input("first", "failed"), input("second", "failed")]);
  assert.equal(result.kind, "failed");
  assert.match((result as { detail: string }).detail, /^input first /);
});

Deno.test("isLeasable() allows ready and released jobs", () => {
  assert.ok(isLeasable(job("ready"), 0));
  assert.ok(isLeasable(job("released"), 0));
  for (const state of ["waiting", "done", "failed"] as const) {
    assert.ok(!isLeasable(job(state, { leaseUntilMs: 0 }), 10_000), state);
  }
});

Deno.test("isLeasable() allows a leased job from the exact end of its lease", () => {
  const leased = job("leased", { leaseUntilMs: 1_500 });
  assert.ok(!isLeasable(leased, 1_499));
  assert.ok(isLeasable(leased, 1_500));
  assert.ok(isLeasable(leased, 1_501));
});

Deno.test("leaseJob() starts the next attempt until nowMs + leaseMs", () => {
  const leased = leaseJob(job("ready", { attempt: 2 }), lease);
  assert.deepEqual(leased, job("leased", { attempt: 3, leaseUntilMs: 1_500, lease: token }));
  assert.ok(isLeasable(leased, 1_500) && !isLeasable(leased, 1_499));
  assert.deepEqual(
    leaseJob(job("released", { attempt: 1 }), lease),
    job("leased", { attempt: 2, leaseUntilMs: 1_500, lease: token }),
  );
});

Deno.test("leaseJob() counts an expired lease as lost", () => {
  const again = leaseJob(job("leased", { attempt: 1, leaseUntilMs: 900 }), lease);
  assert.deepEqual(
    again,
    job("leased", { attempt: 2, lost: 1, leaseUntilMs: 1_500, lease: token }),
  );
  // A release is not a loss.
  assert.equal(leaseJob(job("released", { attempt: 1, lost: 1 }), lease).lost, 1);
});

Deno.test("leaseJob() fails a job as lost after lostMax expired leases", () => {
  let meta = job("ready");
  let nowMs = 0;
  for (let i = 0; i < jobLostMax; i++) {
    assert.ok(isLeasable(meta, nowMs));
    meta = leaseJob(meta, { nowMs, leaseMs: 100, lostMax: jobLostMax, token });
    assert.equal(meta.state, "leased");
    assert.equal(meta.attempt, i + 1);
    assert.equal(meta.lost, i);
    nowMs = meta.leaseUntilMs; // the runner died; the lease runs out
  }
  const failed = leaseJob(meta, { nowMs, leaseMs: 100, lostMax: jobLostMax, token });
  assert.equal(failed.state, "failed");
  assert.equal(failed.reason, "lost");
  assert.equal(failed.lost, jobLostMax);
  assert.equal(failed.attempt, jobLostMax);
  assert.equal(failed.exitCode, null);
  assert.match(failed.detail, /no result after 3 leases expired/);
  assert.ok(isTerminal(failed));
  assert.ok(versionOf(failed) > versionOf(meta));
});

Deno.test("releaseJob() gives a leased job back, and nothing else", () => {
  assert.deepEqual(
    releaseJob(job("leased", { attempt: 1, leaseUntilMs: 1_500 })),
    job("released", { attempt: 1 }),
  );
  for (const state of ["waiting", "ready", "released", "done", "failed"] as const) {
    assert.equal(releaseJob(job(state)), null, state);
  }
});

Deno.test("isSuccess() needs no reason and a zero or unknown exit status", () => {
  assert.ok(isSuccess(success));
  assert.ok(isSuccess({ ...success, exitCode: null }));
  assert.ok(!isSuccess({ ...success, exitCode: 1 }));
  assert.ok(!isSuccess({ ...success, reason: "timeout" }));
  assert.ok(!isSuccess({ ...success, exitCode: 0, reason: "output-limit" }));
});

Deno.test("finishJob() records a success as done, keyed by its result", () => {
  const done = finishJob(job("leased", { attempt: 2, leaseUntilMs: 1_500 }), {
    ...success,
    detail: "ok",
  }, digest);
  const expected = job("done", { attempt: 2, exitCode: 0, stderr: "ZXJy", detail: "ok" });
  assert.deepEqual(done, {
    ...expected,
    outputDigest: digest,
    report: reportDigest(expected),
    resultKey: keyOf(digest, reportDigest(expected)),
  });
  assert.equal(jobResultProblem(done!), null);
});

Deno.test("finishJob() records a failure with its reason, exception by default", () => {
  const timedOut = finishJob(job("leased", { attempt: 1 }), {
    stderr: "",
    exitCode: null,
    reason: "timeout",
    detail: "wall time 60 s",
  }, digest);
  assert.equal(timedOut?.state, "failed");
  assert.equal(timedOut?.reason, "timeout");
  assert.equal(timedOut?.detail, "wall time 60 s");
  assert.equal(timedOut?.outputDigest, emptyDigest, "a failure's output holds no data");
  const crashed = finishJob(job("leased", { attempt: 1 }), { ...success, exitCode: 1 }, digest);
  assert.equal(crashed?.state, "failed");
  assert.equal(crashed?.reason, "exception");
  assert.equal(crashed?.exitCode, 1);
});

Deno.test("finishJob() counts a result for a job never leased as attempt 1", () => {
  assert.equal(finishJob(job("ready"), success, digest)?.attempt, 1);
});

Deno.test("finishJob() ignores a duplicate result for a finished job", () => {
  const done = finishJob(job("leased", { attempt: 1 }), success, digest)!;
  assert.equal(finishJob(done, { ...success, exitCode: 2 }, digest), null);
  assert.equal(finishJob(job("failed"), success, digest), null);
});

Deno.test("finishFromOutput() finishes a job to rank with the output already stored", () => {
  // The output an earlier report (attempt 1) stored: its key is its data's and its report's.
  const own = finishJob(job("leased", { attempt: 1 }), success, digest)!;
  const output: FileMeta = {
    kind: "file",
    id: "o",
    state: "complete",
    size: 1,
    job: 1,
    attempt: 1,
    resultKey: own.resultKey!,
    report: own.report!,
  };
  const done = finishFromOutput(
    job("leased", { attempt: 2, leaseUntilMs: 9, lost: 1 }),
    output,
    digest,
  )!;
  assert.equal(done.state, "done");
  assert.equal(done.resultKey, own.resultKey);
  assert.equal(done.leaseUntilMs, 0);
  assert.equal(jobResultProblem(done), null, "its key follows from the output's digests");
  // The same record whatever the copy it was made from.
  assert.deepEqual(finishFromOutput(job("ready", { attempt: 1 }), output, digest), done);
  // Below the report's own record (same key, the output's attempt).
  assert.ok(versionOf(own) > versionOf(done));
  // Job and output rank alike against any other result of the job.
  const other = finishJob(job("leased", { attempt: 2 }), { ...success, detail: "x" }, digest)!;
  const otherOutput: FileMeta = { ...output, attempt: 2, resultKey: other.resultKey! };
  assert.equal(
    versionOf(done) > versionOf(other),
    versionOf(output) > versionOf(otherOutput),
  );
  assert.equal(finishFromOutput(done, output, digest), null);
});

Deno.test("failJob() fails an unfinished job once", () => {
  const leased = job("leased", { attempt: 1, leaseUntilMs: 9 });
  const failed = failJob(leased, "input-failed", "input x");
  assert.deepEqual(
    failed,
    withResult(
      job("failed", { attempt: 1, reason: "input-failed", detail: "input x" }),
      emptyDigest,
    ),
  );
  assert.equal(jobResultProblem(failed!), null);
  assert.equal(failJob(failed!, "input-failed", "again"), null);
  assert.equal(failJob(job("done"), "input-failed", "late"), null);
});

Deno.test("markReady() readies a waiting job only", () => {
  assert.deepEqual(markReady(job("waiting")), job("ready"));
  for (const state of ["ready", "leased", "released", "done", "failed"] as const) {
    assert.equal(markReady(job(state)), null, state);
  }
});

type Operation =
  | { readonly kind: "tick"; readonly ms: number }
  | { readonly kind: "lease"; readonly leaseMs: number }
  | { readonly kind: "release" }
  | { readonly kind: "finish"; readonly result: JobResult }
  | { readonly kind: "fail" }
  | { readonly kind: "ready" };

const operationArb: fc.Arbitrary<Operation> = fc.oneof(
  fc.record({ kind: fc.constant("tick" as const), ms: fc.nat(2_000) }),
  fc.record({ kind: fc.constant("lease" as const), leaseMs: fc.integer({ min: 1, max: 1_000 }) }),
  fc.constant({ kind: "release" as const }),
  fc.record({
    kind: fc.constant("finish" as const),
    result: fc.record({
      stderr: fc.string({ maxLength: 4 }),
      exitCode: fc.option(fc.integer({ min: -9, max: 3 }), { nil: null }),
      reason: fc.option(fc.constantFrom("timeout", "memory", "killed"), { nil: null }),
      detail: fc.string({ maxLength: 4 }),
    }),
  }),
  fc.constant({ kind: "fail" as const }),
  fc.constant({ kind: "ready" as const }),
);

/** Applies an operation the way the server does: leases only what is leasable. */
function apply(
  meta: JobMeta,
  operation: Operation,
  nowMs: number,
  lostMax: number,
): JobMeta | null {
  switch (operation.kind) {
    case "tick":
      return null;
    case "lease":
      return isLeasable(meta, nowMs)
        ? leaseJob(meta, { nowMs, leaseMs: operation.leaseMs, lostMax, token })
        : null;
    case "release":
      return releaseJob(meta);
    case "finish":
      return finishJob(meta, operation.result, digest);
    case "fail":
      return failJob(meta, "input-failed", "an input failed");
    case "ready":
      return markReady(meta);
  }
}

Deno.test("job operations never move versionOf() backwards", () => {
  fc.assert(
    fc.property(
      fc.constantFrom<JobState>("waiting", "ready"),
      fc.integer({ min: 1, max: 5 }),
      fc.array(operationArb, { maxLength: 60 }),
      (start, lostMax, operations) => {
        let meta = job(start);
        let nowMs = 0;
        for (const operation of operations) {
          if (operation.kind === "tick") nowMs += operation.ms;
          const next = apply(meta, operation, nowMs, lostMax);
          if (next === null) continue;
          assert.ok(
            versionOf(next) > versionOf(meta),
            `${operation.kind}: ${meta.state}/${meta.attempt} -> ${next.state}/${next.attempt}`,
          );
          assert.ok(next.lost <= lostMax && next.attempt >= meta.attempt);
          if (isTerminal(meta)) assert.fail(`${operation.kind} changed a finished job`);
          meta = next;
        }
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("failJob() ranks two failures of one job that differ only in creation time", () => {
  // A JADD retried through a second server while the first still stored it:
  // two records of the same job, created a few milliseconds apart.
  const [a, b] = [job("ready", { createdMs: 1000 }), job("ready", { createdMs: 1003 })];
  const [failedA, failedB] = [a, b].map((meta) => failJob(meta, "input-failed", "input x")!);
  assert.notEqual(versionOf(failedA!), versionOf(failedB!), "one of them wins everywhere");
  assert.ok(failedA!.resultKey! < 2 ** 20 && failedB!.resultKey! < 2 ** 20);
});

Deno.test("leaseJob() hands out every lease under its new token", () => {
  const first = leaseJob(job("ready"), lease);
  assert.equal(first.lease, token);
  const other = "f".repeat(32);
  const again = leaseJob(releaseJob(first)!, { ...lease, token: other });
  assert.equal(again.lease, other);
  assert.equal(again.attempt, 2);
});

Deno.test("leaseProblem() takes only the current lease's token", () => {
  const leased = leaseJob(job("ready"), lease);
  assert.equal(leaseProblem(leased, token), null);
  assert.match(leaseProblem(leased, undefined)!, /no lease token/);
  assert.match(leaseProblem(leased, "f".repeat(32))!, /not the job's current lease/);
  assert.match(leaseProblem(job("ready"), token)!, /never handed out/);
  assert.match(leaseProblem(releaseJob(leased)!, token)!, /given back/);
});

Deno.test("releaseUnder() gives back under the current lease only; a retry changes nothing", () => {
  const leased = leaseJob(job("ready"), lease);
  const released = releaseUnder(leased, token);
  assert.equal(released.kind, "released");
  const record = (released as { job: JobMeta }).job;
  assert.equal(record.state, "released");
  assert.deepEqual(releaseUnder(record, token), { kind: "unchanged" }, "a retried RLSE");
  assert.equal(releaseUnder(leased, "f".repeat(32)).kind, "refused");
  assert.equal(releaseUnder(leased, undefined).kind, "refused");
  assert.equal(releaseUnder(job("waiting"), token).kind, "refused", "never leased");
  assert.deepEqual(releaseUnder(job("done"), undefined), { kind: "unchanged" });
});

Deno.test("leaseJob() keys a job failed as lost, as every finished record", () => {
  let meta = job("ready");
  for (let i = 0; i < jobLostMax; i++) meta = leaseJob(meta, { ...lease, nowMs: 10_000 * i });
  const failed = leaseJob(meta, { ...lease, nowMs: 99_000 });
  assert.equal(failed.state, "failed");
  assert.equal(jobResultProblem(failed), null);
});
