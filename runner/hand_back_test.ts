import assert from "node:assert/strict";
import type { LeasedJob } from "../client/cloud.ts";
import { CloudError } from "../client/errors.ts";
import type { JobReport } from "../client/job_exchange.ts";
import { ConnectionError } from "../protocol/connection.ts";
import { deliverReport, giveBack, type JobDesk } from "./hand_back.ts";

const job: LeasedJob = {
  hash: "0000abcd",
  hashValue: 0xabcd,
  source: "print(1)",
  inputs: [],
  lease: "0123456789abcdef0123456789abcdef",
};

const report: JobReport = {
  stdoutBytes: 0,
  stdout: new Uint8Array(),
  stderr: new Uint8Array(),
  exitCode: 0,
  reason: null,
  detail: "",
};

/** A desk whose requests fail as scripted (one error per call, then success), recording each call. */
function desk(script: { report?: unknown[]; release?: unknown[] }) {
  const calls: string[] = [];
  const fake: JobDesk & { calls: string[] } = {
    calls,
    reportJob(taken) {
      calls.push(`UPD ${taken.hash} ${taken.lease}`);
      const error = script.report?.shift();
      return error ? Promise.reject(error) : Promise.resolve();
    },
    releaseJob(taken) {
      calls.push(`RLSE ${taken.hash} ${taken.lease}`);
      const error = script.release?.shift();
      return error ? Promise.reject(error) : Promise.resolve();
    },
  };
  return fake;
}

const options = { log: () => {}, retryBaseMs: 1 };
const upd = `UPD 0000abcd ${job.lease}`;
const rlse = `RLSE 0000abcd ${job.lease}`;

Deno.test("deliverReport() gives the job back under its lease when its report cannot be delivered", async () => {
  const fake = desk({ report: [new ConnectionError("timeout", "Request timed out")] });
  assert.equal(await deliverReport(fake, job, report, options), "given-back");
  assert.deepEqual(fake.calls, [upd, rlse]);
});

Deno.test("deliverReport() sends no RLSE after a report delivered, and says when the output was not stored", async () => {
  const delivered = desk({});
  assert.equal(await deliverReport(delivered, job, report, options), "reported");
  assert.deepEqual(delivered.calls, [upd]);
  const notStored = desk({ report: [new CloudError("output-not-stored", "chunk refused")] });
  assert.equal(await deliverReport(notStored, job, report, options), "not-stored");
  assert.deepEqual(notStored.calls, [upd]);
});

Deno.test("giveBack() tries again while the ring answers unavailable, and not after a refusal", async () => {
  const unavailable = () => new CloudError("unavailable", "kept only by servers declared dead");
  const split = desk({ release: [unavailable(), unavailable()] });
  assert.equal(await giveBack(split, job, options), true);
  assert.deepEqual(split.calls, [rlse, rlse, rlse]);
  const refused = desk({ release: [new CloudError("lease", "not the current lease")] });
  assert.equal(await giveBack(refused, job, options), false);
  assert.deepEqual(refused.calls, [rlse]);
  const gone = desk({ release: Array.from({ length: 10 }, unavailable) });
  assert.equal(await giveBack(gone, job, { ...options, retries: 3 }), false);
  assert.equal(gone.calls.length, 4, "the first try and three more");
});
