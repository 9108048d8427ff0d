import assert from "node:assert/strict";
import { addFile, addJob, eventually, fieldsOf, takeJob, TestRing } from "./_test_ring.ts";

Deno.test("Inspection.info() counts the copies held as owner, replica or stray", async () => {
  await using ring = await TestRing.start(3);
  for (let i = 0; i < 12; i++) await addFile(ring, ring.servers[0]!, `f${i}`, `${i}`);
  const counts = ring.servers.map((s) => s.node.info().objects as Record<string, number>);
  // Every object once as owner, once as replica; nothing stray on a settled ring.
  assert.equal(counts.reduce((sum, c) => sum + c.owner!, 0), 12);
  assert.equal(counts.reduce((sum, c) => sum + c.replica!, 0), 12);
  assert.equal(counts.reduce((sum, c) => sum + c.stray!, 0), 0);
  // A copy on a server that does not own it counts as stray there.
  const stray = ring.servers[1]!;
  const object = ring.servers.flatMap((s) => s.store.scan(-1, 100)).find((entry) =>
    !stray.node.ring.owners(entry.hash, 2).includes(stray.id)
  )!;
  const owner = ring.servers.find((s) => s.store.get(object.hash))!;
  stray.store.put(owner.store.get(object.hash)!);
  assert.equal((stray.node.info().objects as Record<string, number>).stray, 1);
});

Deno.test("Inspection.info() with a maximum age counts again only after a change", async () => {
  await using ring = await TestRing.start(1, { replicas: 1 });
  const server = ring.servers[0]!;
  await addFile(ring, server, "a", "1");
  const counted = (maxAgeMs?: number) =>
    (server.node.info(maxAgeMs).objects as Record<string, number>).objects;
  const later = () => new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(counted(60_000), 1);
  // Stored behind the index's back: a cached count does not see it, a fresh one does.
  const copy = server.store.get(server.store.scan(-1, 1)[0]!.hash)!;
  server.store.put({ ...copy, hash: (copy.hash + 1) >>> 0 });
  assert.equal(counted(60_000), 1);
  assert.equal(counted(), 2);
  // Older than asked, but nothing changed since: not counted again.
  await later();
  server.store.put({ ...copy, hash: (copy.hash + 2) >>> 0 });
  assert.equal(counted(1), 2);
  // A copy stored through the index: counted again once the count is older than asked.
  await addFile(ring, server, "b", "2");
  assert.equal(counted(60_000), 2);
  await later();
  assert.equal(counted(1), 4);
});

Deno.test("Inspection logs a failed job once, on its primary, and counts finished jobs", async () => {
  const lines: string[] = [];
  await using ring = await TestRing.start(3, { node: { log: (line) => lines.push(line) } });
  const { job } = await addJob(ring, ring.servers[0]!, "bad");
  const { lease } = await takeJob(ring, ring.servers[1]!);
  fieldsOf(
    await ring.call(ring.servers[2]!, {
      command: "UPD",
      lease,
      hash: job,
      stdout: new Uint8Array(0),
      exitCode: 1,
      reason: "exception",
      detail: "ValueError: boom",
    }),
  );
  assert.deepEqual(lines.filter((line) => line.includes("failed (exception)")), [
    `job bad (${
      job.toString(16).padStart(8, "0")
    }) failed (exception) after 1 attempt: ValueError: boom`,
  ]);
  const failed = ring.servers.map((s) =>
    s.node.inspection.jobsFinished.value({ outcome: "failed" })
  );
  assert.equal(failed.reduce((a, b) => a + b, 0), 1);
  assert.ok(lines.some((line) => /^member s[12]:700[12] joined$/.test(line)));
});

Deno.test("Inspection counts repair copies after a server dies, and logs the pass", async () => {
  const lines: string[] = [];
  await using ring = await TestRing.start(3, { node: { log: (line) => lines.push(line) } });
  for (let i = 0; i < 30; i++) await addFile(ring, ring.servers[0]!, `f${i}`, `${i}`);
  ring.kill(ring.servers[2]!);
  // The first request that finds it gone declares it dead; repair follows.
  for (let i = 30; i < 34; i++) await addFile(ring, ring.servers[0]!, `f${i}`, `${i}`);
  await eventually(() =>
    ring.servers.slice(0, 2).reduce(
      (sum, s) => sum + s.node.inspection.repairStats().sentTotal,
      0,
    ) > 0
  );
  await eventually(() =>
    ring.servers.slice(0, 2).every((s) => !s.node.inspection.repairStats().running)
  );
  assert.ok(lines.some((line) => line === "member s2:7002 left the ring (dead)"));
  assert.ok(lines.some((line) => /^repair pass done in \d+ ms: [1-9]\d* copies sent/.test(line)));
  for (const server of ring.servers.slice(0, 2)) {
    assert.equal(server.node.inspection.repairStats().underReplicated, 0);
    assert.equal(server.node.inspection.repairStats().inFlight, 0);
  }
});
