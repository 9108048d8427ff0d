import assert from "node:assert/strict";
import fc from "fast-check";
import { sha256Hex } from "../protocol/digest.ts";
import { finishedOutputOf, outputOf } from "./job_records.ts";
import { finishFromOutput } from "./jobs.ts";
import { type ObjectMeta, type StoredJob, type StoredObject, versionOf } from "./objects.ts";
import { acceptReport, type JobReport } from "./report_acceptance.ts";
import { jobResultProblem, outputResultProblem } from "./result_keys.ts";

// Property failures print `{ seed, path }`; pass them to fc.assert to replay.

const encoder = new TextEncoder();

const leasedJob: StoredJob = {
  hash: 0x10,
  name: "job",
  salt: 0,
  data: encoder.encode("print(1)"),
  meta: {
    kind: "job",
    id: "job-id",
    output: 0x20,
    outputName: "out",
    outputSalt: 1,
    inputs: [],
    state: "leased",
    attempt: 1,
    lost: 0,
    leaseUntilMs: 5_000,
    lease: "0123456789abcdef0123456789abcdef",
    createdMs: 100,
    exitCode: null,
    reason: null,
    detail: "",
    stderr: "",
  },
};

const incompleteOutput = outputOf(leasedJob, { state: "incomplete" });

const token = leasedJob.meta.lease!;

function report(stdout: string, extra: Partial<JobReport> = {}): JobReport {
  return { stdout: encoder.encode(stdout), lease: token, ...extra };
}

Deno.test("acceptReport() finishes a leased job with the report's result and key", () => {
  const accepted = acceptReport(leasedJob.meta, report("1\n"), incompleteOutput.meta);
  assert.equal(accepted.kind, "result");
  assert.ok(accepted.kind === "result");
  assert.equal(accepted.job.state, "done");
  assert.equal(accepted.job.outputDigest, sha256Hex("1\n"));
  assert.equal(jobResultProblem(accepted.job), null, "its key follows from its record");
  const output = finishedOutputOf({ ...leasedJob, meta: accepted.job }, encoder.encode("1\n"));
  assert.equal(output.meta.resultKey, accepted.job.resultKey);
  assert.ok(output.meta.kind === "file");
  assert.equal(outputResultProblem(output.meta, output.data), null);
});

Deno.test("acceptReport() refuses a report not under the job's current lease", () => {
  const other = acceptReport(leasedJob.meta, report("x", { lease: "f".repeat(32) }), undefined);
  assert.equal(other.kind, "refused");
  const none = acceptReport(leasedJob.meta, report("x", { lease: undefined }), undefined);
  assert.equal(none.kind, "refused");
  // A job never handed out: nobody can report it (its dependents would fail with it).
  const ready = acceptReport(
    { ...leasedJob.meta, state: "ready", attempt: 0 },
    report("x"),
    undefined,
  );
  assert.equal(ready.kind, "refused");
  assert.match((ready as { detail: string }).detail, /never handed out/);
});

Deno.test("acceptReport() fails the job on a failure report", () => {
  const failure = report("", { exitCode: 1, reason: "exception", detail: "ZeroDivisionError" });
  const accepted = acceptReport(leasedJob.meta, failure, undefined);
  assert.ok(accepted.kind === "result");
  assert.equal(accepted.job.state, "failed");
  assert.equal(accepted.job.reason, "exception");
  assert.equal(accepted.job.detail, "ZeroDivisionError");
});

Deno.test("acceptReport() caps the detail in bytes and the stderr", () => {
  const long = report("", { reason: "exception", detail: "é".repeat(2_000) });
  const accepted = acceptReport(leasedJob.meta, long, undefined);
  assert.ok(accepted.kind === "result");
  assert.ok(encoder.encode(accepted.job.detail).length <= 1024);
});

Deno.test("acceptReport() calls a report on a finished job a duplicate", () => {
  const first = acceptReport(leasedJob.meta, report("1\n"), undefined);
  assert.ok(first.kind === "result");
  assert.deepEqual(acceptReport(first.job, report("2\n"), undefined), { kind: "duplicate" });
  assert.deepEqual(acceptReport(first.job, report("1\n"), undefined), { kind: "duplicate" });
});

Deno.test("acceptReport() takes the result of an output completed by an earlier report", () => {
  const earlier = acceptReport(leasedJob.meta, report("first\n"), undefined);
  assert.ok(earlier.kind === "result");
  const output = finishedOutputOf({ ...leasedJob, meta: earlier.job }, encoder.encode("first\n"));
  const accepted = acceptReport(leasedJob.meta, report("second\n"), output.meta);
  assert.ok(accepted.kind === "from-output");
  const finished = finishFromOutput(leasedJob.meta, accepted.output, sha256Hex(output.data))!;
  assert.equal(finished.state, "done");
  assert.equal(finished.resultKey, earlier.job.resultKey);
  assert.equal(jobResultProblem(finished), null);
  // The same report again, its output already stored: its own result, not a copy of it.
  assert.equal(acceptReport(leasedJob.meta, report("first\n"), output.meta).kind, "result");
});

// ---------------------------------------------------------------- properties

const reportArb: fc.Arbitrary<JobReport> = fc.record({
  lease: fc.constant(token),
  stdout: fc.uint8Array({ maxLength: 8 }),
  stderr: fc.option(fc.uint8Array({ maxLength: 8 }), { nil: undefined }),
  exitCode: fc.option(fc.integer({ min: -2, max: 2 }), { nil: undefined }),
  reason: fc.option(fc.constantFrom("exception", "timeout", "memory"), { nil: undefined }),
  detail: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
}, { requiredKeys: ["stdout", "lease"] });

Deno.test("acceptReport() is idempotent: once accepted, every report is a duplicate (property)", () => {
  fc.assert(fc.property(reportArb, reportArb, (first, second) => {
    const accepted = acceptReport(leasedJob.meta, first, incompleteOutput.meta);
    if (accepted.kind !== "result") return assert.fail(`not accepted: ${accepted.kind}`);
    const again = acceptReport(leasedJob.meta, first, incompleteOutput.meta);
    assert.deepEqual(again, accepted, "the same report on the same copy decides the same");
    assert.deepEqual(acceptReport(accepted.job, first, undefined), { kind: "duplicate" });
    assert.deepEqual(acceptReport(accepted.job, second, undefined), { kind: "duplicate" });
  }));
});

Deno.test("acceptReport() ranks two different reports apart: copies cannot tie (property)", () => {
  fc.assert(fc.property(reportArb, reportArb, (a, b) => {
    const [x, y] = [a, b].map((r) => acceptReport(leasedJob.meta, r, undefined));
    if (x?.kind !== "result" || y?.kind !== "result") return assert.fail("not accepted");
    if (JSON.stringify(x.job) === JSON.stringify(y.job)) return;
    // Equal versions of different records would never converge (kept on both sides).
    if (x.job.resultKey !== y.job.resultKey) assert.notEqual(versionOf(x.job), versionOf(y.job));
  }));
});

/** One replica's copies of the job and its output. */
interface Replica {
  job: StoredObject;
  output: StoredObject;
}

/** What merging a copy does (store.ts through objects.ts): the further one stays. */
function merge(held: StoredObject, incoming: StoredObject): StoredObject {
  return versionOf(incoming.meta) > versionOf(held.meta) ? incoming : held;
}

function freshest(copies: readonly StoredObject[]): StoredObject {
  return copies.reduce(merge);
}

/**
 * A report reaches a server of the ring: it reads the freshest copies of
 * the job and its output from the replicas (a quiet ring: every replica
 * answers), decides, and writes the output then the job to the replicas
 * listed (the server may die before reaching them all: then it writes no
 * job, as replicate() throws before).
 */
const replicaSetArb: fc.Arbitrary<readonly number[]> = fc.oneof(
  fc.constant([0, 1, 2]),
  fc.constant([]),
  fc.subarray([0, 1, 2]),
);
const deliveryArb = fc.record({
  report: fc.nat({ max: 3 }),
  outputTo: replicaSetArb,
  jobTo: replicaSetArb,
});

function play(
  reports: readonly JobReport[],
  deliveries: readonly {
    readonly report: number;
    readonly outputTo: readonly number[];
    readonly jobTo: readonly number[];
  }[],
): Replica[] {
  const replicas: Replica[] = [0, 1, 2].map(() => ({ job: leasedJob, output: incompleteOutput }));
  for (const delivery of deliveries) {
    const report = reports[delivery.report % reports.length]!;
    const job = freshest(replicas.map((r) => r.job)) as StoredJob;
    const output = freshest(replicas.map((r) => r.output));
    const accepted = acceptReport(job.meta, report, output.meta);
    if (accepted.kind === "duplicate" || accepted.kind === "refused") continue;
    const meta = accepted.kind === "result"
      ? accepted.job
      : finishFromOutput(job.meta, accepted.output, sha256Hex(output.data));
    if (!meta) continue;
    const next: StoredJob = { ...job, meta };
    if (accepted.kind === "result") {
      const written = finishedOutputOf(next, report.stdout);
      for (const i of delivery.outputTo) replicas[i]!.output = merge(replicas[i]!.output, written);
      if (delivery.outputTo.length < replicas.length) continue;
    }
    for (const i of delivery.jobTo) replicas[i]!.job = merge(replicas[i]!.job, next);
  }
  return replicas;
}

/** Anti-entropy: every replica merges every other's copies. */
function repairAll(replicas: Replica[]): void {
  const job = freshest(replicas.map((r) => r.job));
  const output = freshest(replicas.map((r) => r.output));
  for (const replica of replicas) {
    replica.job = merge(replica.job, job);
    replica.output = merge(replica.output, output);
  }
}

function resultOf(meta: ObjectMeta): number | undefined {
  return meta.resultKey;
}

Deno.test("acceptReport() converges: whatever reaches whom, the replicas end with one result that job and output agree on (property)", () => {
  fc.assert(
    fc.property(
      fc.array(reportArb, { minLength: 1, maxLength: 4 }),
      fc.array(deliveryArb, { minLength: 1, maxLength: 6 }),
      (reports, deliveries) => {
        const replicas = play(reports, deliveries);
        repairAll(replicas);
        for (const replica of replicas.slice(1)) {
          assert.deepEqual(replica.job, replicas[0]!.job);
          assert.deepEqual(replica.output, replicas[0]!.output);
        }
        const { job, output } = replicas[0]!;
        if (job.meta.state === "done" && output.meta.state === "complete") {
          assert.equal(resultOf(job.meta), resultOf(output.meta), "job and output disagree");
        }
        if (output.meta.state === "complete" && job.meta.state !== "leased") {
          assert.equal(job.meta.state, "done", "a complete output of a job that failed");
        }
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("acceptReport() converges whatever order the copies merge in (property)", () => {
  fc.assert(fc.property(
    fc.array(reportArb, { minLength: 1, maxLength: 4 }),
    fc.array(deliveryArb, { minLength: 1, maxLength: 6 }),
    fc.array(fc.nat({ max: 2 }), { minLength: 3, maxLength: 3 }),
    (reports, deliveries, order) => {
      const replicas = play(reports, deliveries);
      const jobs = replicas.map((r) => r.job);
      const forward = freshest(jobs);
      const picked = order.map((i) => jobs[i]!);
      const reordered = freshest([...picked, ...[...jobs].reverse()]);
      assert.deepEqual(reordered, forward);
    },
  ));
});
