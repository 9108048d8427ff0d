import assert from "node:assert/strict";
import { encodeManifest } from "../protocol/manifest.ts";
import { inlineBytesMax } from "../limits.ts";
import { addFile, addJob, fieldsOf, takeJob, TestRing } from "./_test_ring.ts";
import { toBadd } from "./codec.ts";
import { upload } from "./_test_objects.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

Deno.test("ADD stores identical content under one name once, and elsewhere with a forced salt", async () => {
  await using ring = await TestRing.start(2);
  const [a, b] = [ring.servers[0]!, ring.servers[1]!];
  const first = await addFile(ring, a, "same", "bytes");
  assert.equal(await addFile(ring, b, "same", "bytes"), first, "a retried ADD is idempotent");
  const forced = fieldsOf(
    await ring.call(a, { command: "ADD", name: "same", data: encoder.encode("bytes"), salt: 77 }),
  );
  assert.notEqual(Number.parseInt(forced[0]!, 16), first);
});

Deno.test("ADD refuses a file too large for one object", async () => {
  await using ring = await TestRing.start(1);
  const reply = await ring.call(ring.servers[0]!, {
    command: "ADD",
    name: "big",
    data: new Uint8Array(inlineBytesMax + 1),
  });
  assert.equal(!reply.ok && reply.reason, "too-large");
});

Deno.test("GET and GETM tell a file in one object from a chunked one", async () => {
  await using ring = await TestRing.start(2);
  const server = ring.servers[0]!;
  const small = await addFile(ring, server, "small", "x");
  const getm = await ring.call(server, { command: "GETM", hash: small });
  assert.equal(!getm.ok && getm.reason, "not-chunked");
  const manifest = encodeManifest({
    depth: 1,
    chunkSize: 4,
    size: 8,
    sha256: "0".repeat(64),
    refs: [{ hash: 1, digest: "0".repeat(16), size: 4 }, {
      hash: 2,
      digest: "0".repeat(16),
      size: 4,
    }],
  });
  const [big] = fieldsOf(await ring.call(server, { command: "MADD", name: "big", manifest }));
  const hash = Number.parseInt(big!, 16);
  const get = await ring.call(server, { command: "GET", hash });
  assert.equal(!get.ok && get.reason, "chunked");
  assert.deepEqual(fieldsOf(await ring.call(server, { command: "GETM", hash })), [
    manifest.toBase64(),
  ]);
});

Deno.test("GET of a job's output waits for it; of the job, its stderr once finished", async () => {
  await using ring = await TestRing.start(2);
  const server = ring.servers[0]!;
  const { job, output } = await addJob(ring, server, "job");
  const early = await ring.call(server, { command: "GET", hash: output });
  assert.equal(!early.ok && early.reason, "incomplete");
  const jobEarly = await ring.call(server, { command: "GET", hash: job });
  assert.equal(!jobEarly.ok && jobEarly.reason, "incomplete");
  const { lease } = await takeJob(ring, server);
  fieldsOf(
    await ring.call(server, {
      command: "UPD",
      hash: job,
      lease,
      stdout: encoder.encode("out\n"),
      stderr: encoder.encode("err\n"),
    }),
  );
  const [stdout] = fieldsOf(await ring.call(ring.servers[1]!, { command: "GET", hash: output }));
  assert.equal(decoder.decode(Uint8Array.fromBase64(stdout!)), "out\n");
  const [stderr] = fieldsOf(await ring.call(server, { command: "GET", hash: job }));
  assert.equal(decoder.decode(Uint8Array.fromBase64(stderr!)), "err\n");
});

Deno.test("STAT summarises a file and a job", async () => {
  await using ring = await TestRing.start(2);
  const server = ring.servers[0]!;
  const input = await addFile(ring, server, "in", "1");
  const { job, output } = await addJob(ring, server, "job", { inputs: [input] });
  const [kind, state, summary] = fieldsOf(await ring.call(server, { command: "STAT", hash: job }));
  assert.deepEqual([kind, state], ["job", "ready"]);
  const details = JSON.parse(decoder.decode(Uint8Array.fromBase64(summary!)));
  assert.equal(details.outputName, "job.out");
  assert.deepEqual(details.inputs, [{ hash: input.toString(16).padStart(8, "0"), name: "in" }]);
  const [fileKind, fileState, fileSummary] = fieldsOf(
    await ring.call(server, { command: "STAT", hash: output }),
  );
  assert.deepEqual([fileKind, fileState], ["file", "incomplete"]);
  assert.equal(
    JSON.parse(decoder.decode(Uint8Array.fromBase64(fileSummary!))).job,
    job.toString(16).padStart(8, "0"),
  );
});

Deno.test("WAIT returns as the object finishes, or with its state when the time is up", async () => {
  await using ring = await TestRing.start(2);
  const server = ring.servers[1]!;
  const { job, output } = await addJob(ring, server, "job");
  assert.deepEqual(
    fieldsOf(await ring.call(server, { command: "WAIT", hash: output, timeoutMs: 50 })),
    ["incomplete"],
  );
  const waiting = ring.call(server, { command: "WAIT", hash: output, timeoutMs: 30_000 });
  const { lease } = await takeJob(ring, server);
  fieldsOf(
    await ring.call(server, { command: "UPD", hash: job, stdout: encoder.encode("1"), lease }),
  );
  assert.deepEqual(fieldsOf(await waiting), ["complete"]);
  const missing = await ring.call(server, { command: "WAIT", hash: 0x42, timeoutMs: 10 });
  assert.equal(!missing.ok && missing.reason, "not-found");
});

Deno.test("BADD refuses a different object at a hash already taken", async () => {
  await using ring = await TestRing.start(1);
  const server = ring.servers[0]!;
  const hash = await addFile(ring, server, "name", "one");
  const stored = server.store.get(hash)!;
  const other = upload("name", "two", stored.salt);
  assert.equal(other.hash, hash);
  const reply = await server.node.handle(toBadd(other), { peer: "x:1" });
  assert.equal(!reply.ok && reply.reason, "collision");
});
