import assert from "node:assert/strict";
import { sourceBytesMax } from "../limits.ts";
import { addFile, addJob, fieldsOf, holders, takeJob, TestRing } from "./_test_ring.ts";

const encoder = new TextEncoder();

Deno.test("JADD stores the job and its incomplete output on their owners", async () => {
  await using ring = await TestRing.start(3);
  const entry = ring.servers[0]!;
  const { job, output } = await addJob(ring, entry, "job");
  assert.deepEqual(holders(ring, job), entry.node.ring.owners(job, 2).sort());
  assert.deepEqual(holders(ring, output), entry.node.ring.owners(output, 2).sort());
  const copy = ring.server(holders(ring, output)[0]!).store.get(output)!;
  assert.equal(copy.meta.state, "incomplete");
});

Deno.test("JADD of the identical job answers the job stored before", async () => {
  await using ring = await TestRing.start(2);
  const first = await addJob(ring, ring.servers[0]!, "job");
  assert.deepEqual(await addJob(ring, ring.servers[1]!, "job"), first);
  const other = await addJob(ring, ring.servers[0]!, "job", { source: "print(2)" });
  assert.notEqual(other.job, first.job);
});

Deno.test("JADD refuses unknown inputs, jobs as inputs and sources too large", async () => {
  await using ring = await TestRing.start(2);
  const server = ring.servers[0]!;
  const request = {
    command: "JADD" as const,
    name: "j",
    source: encoder.encode("1"),
    outputName: "o",
    inputs: [0x1234],
  };
  const unknown = await ring.call(server, request);
  assert.equal(!unknown.ok && unknown.reason, "unknown-input");
  const { job } = await addJob(ring, server, "first");
  const jobInput = await ring.call(server, { ...request, inputs: [job] });
  assert.equal(!jobInput.ok && jobInput.reason, "not-a-file");
  const large = await ring.call(server, {
    ...request,
    inputs: [],
    source: new Uint8Array(sourceBytesMax + 1),
  });
  assert.equal(!large.ok && large.reason, "too-large");
});

Deno.test("JADD fails a job at once when an input already failed, and its output with it", async () => {
  await using ring = await TestRing.start(2);
  const server = ring.servers[0]!;
  const failing = await addJob(ring, server, "failing");
  const { lease } = await takeJob(ring, server);
  fieldsOf(
    await ring.call(server, {
      command: "UPD",
      hash: failing.job,
      lease,
      stdout: new Uint8Array(),
      exitCode: 1,
      reason: "exception",
      detail: "boom",
    }),
  );
  const next = await addJob(ring, server, "next", { inputs: [failing.output] });
  const [, state] = fieldsOf(await ring.call(server, { command: "STAT", hash: next.job }));
  assert.equal(state, "failed");
  const get = await ring.call(server, { command: "GET", hash: next.output });
  assert.equal(!get.ok && get.reason, "failed");
  assert.match(!get.ok ? get.detail : "", /input failing\.out .* failed/);
});

Deno.test("JADD takes a file as input whatever server holds it", async () => {
  await using ring = await TestRing.start(3);
  const input = await addFile(ring, ring.servers[2]!, "data", "1,2,3");
  const { job } = await addJob(ring, ring.servers[0]!, "sum", { inputs: [input] });
  const [, state] = fieldsOf(await ring.call(ring.servers[1]!, { command: "STAT", hash: job }));
  assert.equal(state, "ready");
});
