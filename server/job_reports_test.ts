import assert from "node:assert/strict";
import { inlineBytesMax } from "../limits.ts";
import { isFile, isJob } from "./objects.ts";
import { addFile, addJob, fieldsOf, holders, takeJob, TestRing } from "./_test_ring.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function leased(ring: TestRing) {
  const server = ring.servers[0]!;
  const ids = await addJob(ring, server, "job");
  const { lease } = await takeJob(ring, server);
  return { ...ids, lease };
}

Deno.test("UPD stores the output then the job on their owners before it acknowledges", async () => {
  await using ring = await TestRing.start(3);
  const { job, output, lease } = await leased(ring);
  fieldsOf(
    await ring.call(ring.servers[2]!, {
      command: "UPD",
      hash: job,
      stdout: encoder.encode("42\n"),
      exitCode: 0,
      lease,
    }),
  );
  for (const id of holders(ring, output)) {
    const copy = ring.server(id).store.get(output)!;
    assert.ok(isFile(copy));
    assert.equal(copy.meta.state, "complete");
    assert.equal(decoder.decode(copy.data), "42\n");
  }
  for (const id of holders(ring, job)) {
    assert.equal(ring.server(id).store.get(job)!.meta.state, "done");
  }
  assert.equal(holders(ring, job).length, 2);
});

Deno.test("UPD accepts one result: a later report is acknowledged and ignored", async () => {
  await using ring = await TestRing.start(2);
  const { job, output, lease } = await leased(ring);
  const server = ring.servers[1]!;
  fieldsOf(
    await ring.call(server, { command: "UPD", hash: job, stdout: encoder.encode("first"), lease }),
  );
  fieldsOf(
    await ring.call(server, { command: "UPD", hash: job, stdout: encoder.encode("second"), lease }),
  );
  const [data] = fieldsOf(await ring.call(server, { command: "GET", hash: output }));
  assert.equal(decoder.decode(Uint8Array.fromBase64(data!)), "first");
});

Deno.test("UPD of a failure fails the job and its output with the reason", async () => {
  await using ring = await TestRing.start(2);
  const { job, output, lease } = await leased(ring);
  fieldsOf(
    await ring.call(ring.servers[0]!, {
      command: "UPD",
      hash: job,
      lease,
      stdout: new Uint8Array(),
      exitCode: 1,
      reason: "timeout",
      detail: "Wall-clock limit reached",
    }),
  );
  const copy = ring.servers[0]!.store.get(job) ?? ring.servers[1]!.store.get(job)!;
  assert.ok(isJob(copy));
  assert.deepEqual([copy.meta.state, copy.meta.reason], ["failed", "timeout"]);
  const get = await ring.call(ring.servers[0]!, { command: "GET", hash: output });
  assert.equal(!get.ok && get.reason, "failed");
  assert.match(!get.ok ? get.detail : "", /failed \(timeout\): Wall-clock limit reached/);
});

Deno.test("UPD refuses a file, an unknown job and an inline output too large", async () => {
  await using ring = await TestRing.start(2);
  const server = ring.servers[0]!;
  const file = await addFile(ring, server, "f", "x");
  const notJob = await ring.call(server, { command: "UPD", hash: file, stdout: new Uint8Array() });
  assert.equal(!notJob.ok && notJob.reason, "not-a-job");
  const unknown = await ring.call(server, { command: "UPD", hash: 0x99, stdout: new Uint8Array() });
  assert.equal(!unknown.ok && unknown.reason, "not-found");
  const { job } = await leased(ring);
  const large = await server.node.handle({
    command: "UPD",
    hash: job,
    stdout: new Uint8Array(inlineBytesMax + 1),
  }, { peer: null });
  assert.equal(!large.ok && large.reason, "too-large");
});
