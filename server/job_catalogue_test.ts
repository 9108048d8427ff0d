import assert from "node:assert/strict";
import { JobCatalogue } from "./job_catalogue.ts";
import { parseJobQuery } from "./job_listing_pages.ts";
import type { JobMeta } from "./objects.ts";

function meta(fields: Partial<JobMeta> = {}): JobMeta {
  return {
    kind: "job",
    id: "id",
    output: 99,
    outputName: "out",
    outputSalt: 0,
    inputs: [{ hash: 7, name: "in" }],
    state: "ready",
    attempt: 0,
    lost: 0,
    leaseUntilMs: 0,
    createdMs: 1_000,
    exitCode: null,
    reason: null,
    detail: "",
    stderr: "",
    ...fields,
  };
}

function catalogue(options: { primary?: boolean; entriesMax?: number } = {}) {
  const clock = { now: 10_000 };
  const finished: string[] = [];
  const jobs = new JobCatalogue({
    now: () => clock.now,
    isPrimary: () => options.primary ?? true,
    leaseMs: 60_000,
    onFinished: (entry) => finished.push(`${entry.hash}:${entry.state}`),
    ...(options.entriesMax ? { entriesMax: options.entriesMax } : {}),
  });
  return { jobs, clock, finished };
}

Deno.test("JobCatalogue.apply() sees a lease begin and the job finish, and tells the primary", () => {
  const { jobs, clock, finished } = catalogue();
  jobs.apply({ hash: 1, name: "a", meta: meta() });
  clock.now = 11_000;
  jobs.apply({
    hash: 1,
    name: "a",
    meta: meta({ state: "leased", attempt: 1, leaseUntilMs: 71_000 }),
  });
  assert.equal(jobs.get(1)?.leasedMs, 11_000);
  clock.now = 13_500;
  jobs.apply({
    hash: 1,
    name: "a",
    meta: meta({ state: "failed", attempt: 1, reason: "exception" }),
  });
  assert.deepEqual([jobs.get(1)?.leasedMs, jobs.get(1)?.finishedMs], [11_000, 13_500]);
  assert.deepEqual(finished, ["1:failed"]);
  // A copy of a finished job (repair) is no new finish.
  jobs.apply({
    hash: 1,
    name: "a",
    meta: meta({ state: "failed", attempt: 1, reason: "exception" }),
  });
  assert.deepEqual(finished, ["1:failed"]);
});

Deno.test("JobCatalogue.apply() does not tell a replica's finishes", () => {
  const { jobs, finished } = catalogue({ primary: false });
  jobs.apply({ hash: 1, name: "a", meta: meta() });
  jobs.apply({ hash: 1, name: "a", meta: meta({ state: "done", attempt: 1 }) });
  assert.deepEqual(finished, []);
  assert.deepEqual(jobs.counts(), {});
});

Deno.test("JobCatalogue.load() estimates when a stored lease began", () => {
  const { jobs } = catalogue();
  jobs.load([{
    hash: 3,
    name: "c",
    meta: meta({ state: "leased", attempt: 1, leaseUntilMs: 70_000 }),
  }]);
  assert.equal(jobs.get(3)?.leasedMs, 10_000);
});

Deno.test("JobCatalogue.page() lists the newest matching jobs and counts by state", () => {
  const { jobs } = catalogue();
  for (let i = 0; i < 10; i++) {
    jobs.apply({
      hash: i,
      name: i % 2 ? "odd" : "even",
      meta: meta({ createdMs: i, state: i < 3 ? "failed" : "ready" }),
    });
  }
  const page = jobs.page(parseJobQuery(JSON.stringify({ name: "even", limit: 2 })));
  assert.deepEqual(page.jobs.map((j) => j.hash), ["00000008", "00000006"]);
  assert.equal(page.more, true);
  assert.deepEqual(page.counts, { failed: 2, ready: 3 });
  const failed = jobs.page(
    parseJobQuery(JSON.stringify({ states: ["failed"], input: "00000007" })),
  );
  assert.equal(failed.jobs.length, 3);
});

Deno.test("JobCatalogue keeps every open job and forgets the oldest finished ones beyond its bound", () => {
  const { jobs } = catalogue({ entriesMax: 10 });
  for (let i = 0; i < 5; i++) jobs.apply({ hash: i, name: "open", meta: meta({ createdMs: i }) });
  for (let i = 5; i < 20; i++) {
    jobs.apply({ hash: i, name: "done", meta: meta({ createdMs: i, state: "done", attempt: 1 }) });
  }
  assert.ok(jobs.size <= 10);
  for (let i = 0; i < 5; i++) assert.ok(jobs.get(i), `open job ${i} kept`);
  assert.ok(jobs.get(19), "the newest finished job kept");
  assert.equal(jobs.get(5), undefined);
  jobs.drop(19);
  assert.equal(jobs.get(19), undefined);
});
