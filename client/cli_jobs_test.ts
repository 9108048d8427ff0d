import assert from "node:assert/strict";
import { elapsedText, formatJobs, formatStatus, humanMs } from "./cli_jobs.ts";

Deno.test("humanMs() writes durations for people", () => {
  assert.equal(humanMs(400), "0.4 s");
  assert.equal(humanMs(12_300), "12 s");
  assert.equal(humanMs(184_000), "3 min 4 s");
  assert.equal(humanMs(7_500_000), "2 h 5 min");
  assert.equal(humanMs(-5), "0.0 s");
});

Deno.test("formatStatus() shows times as durations, running jobs with their runner", () => {
  const text = formatStatus(
    {
      hash: "0000000a",
      kind: "job",
      state: "leased",
      name: "j",
      createdMs: 1_000,
      leaseUntilMs: 100_000,
    },
    { nowMs: 4_000, runningMs: 12_000, runner: "r1" },
  );
  assert.match(text, /^created 3\.0 s ago$/m);
  assert.match(text, /^running for 12 s on runner r1, lease expires in 1 min 36 s$/m);
  assert.match(text, /^state: leased$/m);
  assert.doesNotMatch(text, /createdMs/);
});

Deno.test("formatJobs() writes the counts, then a line per job", () => {
  const job = {
    hash: "0000000a",
    name: "count",
    state: "failed",
    createdMs: 0,
    ageMs: 5_000,
    attempt: 1,
    lost: 0,
    runningMs: null,
    ranMs: 1_200,
    leaseRemainingMs: null,
    exitCode: 1,
    reason: "exception",
    detail: "ValueError: boom",
    output: "0000000b",
    outputName: "out",
    inputs: [],
    inputCount: 0,
    runner: null,
  };
  const text = formatJobs({ jobs: [job], counts: { failed: 1, done: 2 } }, ["h:1"]);
  assert.equal(
    text,
    "3 jobs: 2 done, 1 failed\nnot answering (their jobs are missing): h:1\n0000000a  failed    count  ran 1.2 s  exception: ValueError: boom\n",
  );
  assert.equal(
    elapsedText({ state: "waiting", runningMs: null, ranMs: null, ageMs: 3_000 }),
    "waiting 3.0 s",
  );
});
