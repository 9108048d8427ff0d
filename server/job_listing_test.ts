import assert from "node:assert/strict";
import { formatHash } from "../protocol/hash.ts";
import { addJob, fieldsOf, takeJob, TestRing } from "./_test_ring.ts";
import { parseJsonField } from "./fan_out.ts";
import type { JobRecordView } from "./job_listing.ts";
import type { JobPage } from "./job_listing_pages.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function jobs(ring: TestRing, at: number, query: unknown = {}): Promise<JobPage> {
  const reply = await ring.call(ring.servers[at]!, {
    command: "JOBS",
    query: JSON.stringify(query),
  });
  return parseJsonField(fieldsOf(reply)[0]) as JobPage;
}

async function record(ring: TestRing, at: number, hash: number): Promise<JobRecordView> {
  return parseJsonField(
    fieldsOf(await ring.call(ring.servers[at]!, { command: "JOBI", hash }))[0],
  ) as JobRecordView;
}

Deno.test("JOBS lists the ring's jobs once each, newest first, with counts, even with a server down", async () => {
  await using ring = await TestRing.start(3);
  const added: number[] = [];
  for (let i = 0; i < 6; i++) {
    added.push((await addJob(ring, ring.servers[i % 3]!, `job${i}`)).job);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  const page = await jobs(ring, 1);
  assert.deepEqual(page.jobs.map((j) => j.name), ["job5", "job4", "job3", "job2", "job1", "job0"]);
  assert.deepEqual(page.counts, { ready: 6 });
  assert.equal(page.next, null);
  const first = await jobs(ring, 0, { limit: 4 });
  assert.equal(first.jobs.length, 4);
  const rest = await jobs(ring, 2, { limit: 4, before: first.next });
  assert.deepEqual([...first.jobs, ...rest.jobs].map((j) => j.name), page.jobs.map((j) => j.name));
  assert.deepEqual((await jobs(ring, 0, { name: "job?", states: ["done"] })).jobs, []);
  ring.kill(ring.servers[2]!);
  const without = await jobs(ring, 0);
  // Every job has a copy on a server still up.
  assert.equal(without.jobs.length, 6);
  assert.deepEqual(without.servers.unreachable, ["s2:7002"]);
  const bad = await ring.call(ring.servers[0]!, { command: "JOBS", query: '{"limit":0}' });
  assert.equal(bad.ok ? "ack" : bad.reason, "json");
});

Deno.test("JOBI shows a running job's stderr as its runner sends it (PROG), then the final one", async () => {
  await using ring = await TestRing.start(3);
  const { job } = await addJob(ring, ring.servers[0]!, "slow", { source: "print(1)" });
  const { lease } = await takeJob(ring, ring.servers[1]!);
  const before = await record(ring, 2, job);
  assert.deepEqual([before.state, before.stderr, before.stderrLive], ["leased", "", false]);
  assert.equal(decoder.decode(Uint8Array.fromBase64(before.source)), "print(1)");
  fieldsOf(
    await ring.call(ring.servers[2]!, {
      command: "PROG",
      hash: job,
      stderr: encoder.encode("tick 1\n"),
    }),
  );
  const live = await record(ring, 1, job);
  assert.deepEqual([live.stderrLive, decoder.decode(Uint8Array.fromBase64(live.stderr))], [
    true,
    "tick 1\n",
  ]);
  assert.ok(live.runningMs !== null && live.runningMs >= 0);
  fieldsOf(
    await ring.call(ring.servers[0]!, {
      command: "UPD",
      hash: job,
      lease,
      stdout: new Uint8Array(0),
      stderr: encoder.encode("tick 1\ntick 2\n"),
      exitCode: 0,
    }),
  );
  const done = await record(ring, 0, job);
  assert.deepEqual([done.state, done.stderrLive], ["done", false]);
  assert.equal(decoder.decode(Uint8Array.fromBase64(done.stderr)), "tick 1\ntick 2\n");
  assert.ok(done.ranMs !== null);
  // A late report of progress changes nothing.
  fieldsOf(
    await ring.call(ring.servers[1]!, {
      command: "PROG",
      hash: job,
      stderr: encoder.encode("late"),
    }),
  );
  assert.equal(
    decoder.decode(Uint8Array.fromBase64((await record(ring, 2, job)).stderr)),
    "tick 1\ntick 2\n",
  );
  const missing = await ring.call(ring.servers[0]!, { command: "JOBI", hash: (job + 1) >>> 0 });
  assert.equal(missing.ok ? "ack" : missing.reason, "not-found");
  const unknown = await ring.call(ring.servers[0]!, {
    command: "PROG",
    hash: (job + 1) >>> 0,
    stderr: new Uint8Array(0),
  });
  assert.equal(unknown.ok ? "ack" : unknown.reason, "not-found");
  assert.equal(formatHash(job), done.hash);
});

Deno.test("JOBS finds the jobs that read a file (the DAG around a job)", async () => {
  await using ring = await TestRing.start(2);
  const first = await addJob(ring, ring.servers[0]!, "first");
  const second = await addJob(ring, ring.servers[1]!, "second", { inputs: [first.output] });
  const page = await jobs(ring, 0, { input: formatHash(first.output) });
  assert.deepEqual(page.jobs.map((j) => j.hash), [formatHash(second.job)]);
  assert.deepEqual(page.jobs[0]!.inputs, [formatHash(first.output)]);
});
