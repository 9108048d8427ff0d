import assert from "node:assert/strict";
import { addFile, TestRing } from "./_test_ring.ts";

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
