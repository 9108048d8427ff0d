import assert from "node:assert/strict";
import { formatHash } from "../protocol/hash.ts";
import { isJob } from "./objects.ts";
import { addFile, addJob, eventually, fieldsOf, takeJob, TestRing } from "./_test_ring.ts";

const encoder = new TextEncoder();

Deno.test("GETJ hands out every job of the ring through any server, then says none", async () => {
  await using ring = await TestRing.start(3);
  const jobs = [];
  for (let i = 0; i < 6; i++) jobs.push(await addJob(ring, ring.servers[i % 3]!, `job${i}`));
  const taken = new Set<string>();
  for (let i = 0; i < 6; i++) {
    const [source, hash] = fieldsOf(await ring.call(ring.servers[0]!, { command: "GETJ" }));
    assert.ok(source);
    taken.add(hash!);
  }
  assert.deepEqual([...taken].sort(), jobs.map((j) => formatHash(j.job)).sort());
  const reply = await ring.call(ring.servers[0]!, { command: "GETJ" });
  assert.equal(!reply.ok && reply.reason, "wait", "all leased: they may come back");
});

Deno.test("GETJ on one server hands out its oldest job first, with its namespace", async () => {
  await using ring = await TestRing.start(1);
  const server = ring.servers[0]!;
  const input = await addFile(ring, server, "data", "x");
  const first = await addJob(ring, server, "first", { inputs: [input] });
  await new Promise((resolve) => setTimeout(resolve, 2));
  await addJob(ring, server, "second");
  const [source, hash, ...rest] = fieldsOf(await ring.call(server, { command: "GETJ" }));
  assert.equal(hash, formatHash(first.job));
  assert.equal(new TextDecoder().decode(Uint8Array.fromBase64(source!)), 'print("first")');
  assert.deepEqual(rest.slice(0, -1), [formatHash(input), "data"]);
  assert.match(rest[rest.length - 1]!, /^lease=[0-9a-f]{32}$/, "the lease token comes last");
});

Deno.test("GETJ leases on every owner before it hands a job out", async () => {
  await using ring = await TestRing.start(3);
  const { job } = await addJob(ring, ring.servers[0]!, "job");
  fieldsOf(await ring.call(ring.servers[1]!, { command: "GETJ" }));
  for (const id of ring.servers[0]!.node.ring.owners(job, 2)) {
    const copy = ring.server(id).store.get(job)!;
    assert.ok(isJob(copy));
    assert.equal(copy.meta.state, "leased", id);
    assert.equal(copy.meta.attempt, 1);
  }
});

Deno.test("GETJ and HAVJ wait for a job whose input is not done, and none is left at the end", async () => {
  await using ring = await TestRing.start(2);
  const server = ring.servers[0]!;
  assert.equal((await ring.call(server, { command: "HAVJ" })).ok, false);
  const none = await ring.call(server, { command: "GETJ" });
  assert.equal(!none.ok && none.reason, "none");
  const producer = await addJob(ring, server, "producer");
  const consumer = await addJob(ring, server, "consumer", { inputs: [producer.output] });
  assert.ok((await ring.call(server, { command: "HAVJ" })).ok);
  const taken = await takeJob(ring, server);
  const waiting = await ring.call(server, { command: "HAVJ" });
  assert.equal(!waiting.ok && waiting.reason, "wait");
  fieldsOf(
    await ring.call(server, {
      command: "UPD",
      hash: producer.job,
      stdout: encoder.encode("1"),
      lease: taken.lease,
    }),
  );
  // The consumer becomes ready once its input is complete (the readiness sweep).
  const fields = fieldsOf(await ring.call(server, { command: "GETJ", waitMs: 5_000 }));
  assert.equal(fields[1], formatHash(consumer.job));
  fieldsOf(
    await ring.call(server, {
      command: "UPD",
      hash: consumer.job,
      stdout: new Uint8Array(),
      lease: fields[fields.length - 1]!.slice("lease=".length),
    }),
  );
  const end = await ring.call(server, { command: "GETJ" });
  assert.equal(!end.ok && end.reason, "none");
});

Deno.test("GETJ with a wait returns as soon as a job is submitted", async () => {
  await using ring = await TestRing.start(2);
  const server = ring.servers[1]!;
  const started = performance.now();
  const taking = ring.call(server, { command: "GETJ", waitMs: 20_000 });
  await new Promise((resolve) => setTimeout(resolve, 20));
  const { job } = await addJob(ring, ring.servers[0]!, "late");
  const [, hash] = fieldsOf(await taking);
  assert.equal(hash, formatHash(job));
  assert.ok(performance.now() - started < 10_000);
});

Deno.test("RLSE gives a leased job back: it is handed out again, its lease not counted as lost", async () => {
  await using ring = await TestRing.start(2);
  const server = ring.servers[0]!;
  const { job } = await addJob(ring, server, "job");
  const taken = await takeJob(ring, server);
  fieldsOf(await ring.call(ring.servers[1]!, { command: "RLSE", hash: job, lease: taken.lease }));
  const [, again] = fieldsOf(await ring.call(server, { command: "GETJ" }));
  assert.equal(again, formatHash(job));
  const copy = ring.server(server.node.ring.primary(job)!).store.get(job)!;
  assert.ok(isJob(copy));
  assert.deepEqual([copy.meta.attempt, copy.meta.lost], [2, 0]);
  const file = await addFile(ring, server, "f", "x");
  const notJob = await ring.call(server, { command: "RLSE", hash: file });
  assert.equal(!notJob.ok && notJob.reason, "not-a-job");
});

Deno.test("GETJ hands a job out again once its lease expired, and fails it as lost in the end", async () => {
  await using ring = await TestRing.start(1, { leaseMs: 300 });
  const server = ring.servers[0]!;
  const { job } = await addJob(ring, server, "hangs");
  // Three leases expire (jobLostMax); asked a fourth time, the server fails the job.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const reply = await ring.call(server, { command: "GETJ", waitMs: 3_000 });
    assert.equal(fieldsOf(reply)[1], formatHash(job), `attempt ${attempt}`);
  }
  const last = await ring.call(server, { command: "GETJ", waitMs: 1_000 });
  assert.equal(last.ok, false);
  await eventually(() => server.store.get(job)?.meta.state === "failed", 5_000);
  const copy = server.store.get(job)!;
  assert.ok(isJob(copy));
  assert.equal(copy.meta.reason, "lost");
});

Deno.test("RLSE answers unavailable, not not-found, while every server that kept the job is declared dead", async () => {
  await using ring = await TestRing.start(4);
  const entry = ring.servers[0]!;
  let found: { job: number; lease: string } | null = null;
  for (let i = 0; !found; i++) {
    const { job } = await addJob(ring, entry, `job${i}`);
    const taken = await takeJob(ring, entry);
    if (!entry.node.ring.owners(job, 2).includes(entry.id) && taken.hash === job) {
      found = { job, lease: taken.lease };
    }
  }
  for (const id of entry.node.ring.owners(found.job, 2)) ring.kill(ring.server(id));
  for (let i = 0; i < 3; i++) {
    const reply = await ring.call(entry, { command: "RLSE", hash: found.job, lease: found.lease });
    assert.equal(!reply.ok && reply.reason, "unavailable", `give-back ${i}`);
  }
});
