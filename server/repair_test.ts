import assert from "node:assert/strict";
import { formatHash } from "../protocol/hash.ts";
import { fromPullFields } from "./codec.ts";
import { versionOf } from "./objects.ts";
import { addFile, eventually, fieldsOf, holders, TestRing } from "./_test_ring.ts";

/** True when every hash is held exactly by its owners on the ring of `ring.servers[0]`. */
function inPlace(ring: TestRing, hashes: readonly number[]): boolean {
  const view = ring.servers.find((s) => s.alive)!.node.ring;
  return hashes.every((hash) => holders(ring, hash).join() === view.owners(hash, 2).sort().join());
}

Deno.test("Repair gives a joining server the copies it now owns and drops the ones nobody needs", async () => {
  await using ring = await TestRing.start(2);
  const hashes: number[] = [];
  for (let i = 0; i < 30; i++) {
    hashes.push(await addFile(ring, ring.servers[i % 2]!, `f${i}`, `${i}`));
  }
  await ring.add();
  await eventually(() => inPlace(ring, hashes));
  assert.ok(
    hashes.some((hash) => holders(ring, hash).includes("s2:7002")),
    "the new server holds some",
  );
});

Deno.test("Repair brings every object back to two copies after a server died", async () => {
  await using ring = await TestRing.start(3);
  const hashes: number[] = [];
  for (let i = 0; i < 30; i++) hashes.push(await addFile(ring, ring.servers[0]!, `f${i}`, `${i}`));
  const victim = ring.servers[2]!;
  ring.kill(victim);
  // Told of the death (as a peer that found it dead would tell them), the others repair.
  for (const server of ring.servers.slice(0, 2)) {
    fieldsOf(
      await ring.call(server, { command: "SUCC", dead: { host: "s2", port: 7002 } }),
    );
  }
  await eventually(() => inPlace(ring, hashes));
  for (const hash of hashes) assert.equal(holders(ring, hash).length, 2);
});

Deno.test("HAVE lists the entries held here at another version; PULL hands over the copy here", async () => {
  await using ring = await TestRing.start(1);
  const server = ring.servers[0]!;
  const hash = await addFile(ring, server, "f", "x");
  const version = versionOf(server.store.get(hash)!.meta);
  const reply = fieldsOf(
    await ring.call(server, {
      command: "HAVE",
      entries: [{ hash, version }, { hash: hash ^ 1, version: 3 }, { hash, version: version + 1 }],
    }),
  );
  assert.deepEqual(reply, [formatHash(hash ^ 1), "-1", formatHash(hash), String(version)]);
  const copy = fromPullFields(
    fieldsOf(await ring.call(server, { command: "PULL", hash, metaOnly: false })),
  );
  assert.deepEqual(copy, server.store.get(hash));
  const metaOnly = fromPullFields(
    fieldsOf(await ring.call(server, { command: "PULL", hash, metaOnly: true })),
    { metaOnly: true },
  );
  assert.equal(metaOnly.data.length, 0);
  const missing = await ring.call(server, { command: "PULL", hash: hash ^ 1, metaOnly: true });
  assert.equal(!missing.ok && missing.reason, "not-found");
});
