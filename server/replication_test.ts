import assert from "node:assert/strict";
import { objectHash } from "../protocol/hash.ts";
import { addFile, fieldsOf, holders, TestRing } from "./_test_ring.ts";

const encoder = new TextEncoder();

Deno.test("Replication.replicate() stores a copy on each owner and nowhere else", async () => {
  await using ring = await TestRing.start(4);
  const entry = ring.servers[0]!;
  for (let i = 0; i < 20; i++) {
    const hash = await addFile(ring, entry, `file${i}`, `content ${i}`);
    assert.deepEqual(holders(ring, hash), entry.node.ring.owners(hash, 2).sort(), `file${i}`);
  }
});

Deno.test("Replication.replicate() replaces an owner that died by the next server of the ring", async () => {
  await using ring = await TestRing.start(3);
  const [entry, victim] = [ring.servers[0]!, ring.servers[1]!];
  // A name whose copies the victim would keep.
  let name = "";
  for (let i = 0; !name; i++) {
    const owners = entry.node.ring.owners(objectHash(`f${i}`, 0), 2);
    if (owners.includes(victim.id) && !owners.includes(entry.id)) name = `f${i}`;
  }
  ring.kill(victim);
  const reply = await ring.call(entry, {
    command: "ADD",
    name,
    data: encoder.encode("kept twice"),
    salt: 0,
  });
  const hash = Number.parseInt(fieldsOf(reply)[0]!, 16);
  assert.deepEqual(holders(ring, hash), ["s0:7000", "s2:7002"]);
  assert.ok(!entry.node.ring.members.includes(victim.id), "declared dead on the refusal");
});

Deno.test("Replication.find() reads from an owner and stores a copy an owner lacked (read repair)", async () => {
  await using ring = await TestRing.start(3);
  const hash = await addFile(ring, ring.servers[0]!, "doc", "text");
  const owner = ring.server(ring.servers[0]!.node.ring.owners(hash, 2)[1]!);
  owner.store.delete(hash);
  const [data] = fieldsOf(await ring.call(owner, { command: "GET", hash }));
  assert.equal(data, encoder.encode("text").toBase64());
  assert.ok(owner.store.get(hash), "the copy is back");
  const stranger = ring.servers.find((s) => !s.node.ring.owners(hash, 2).includes(s.id))!;
  fieldsOf(await ring.call(stranger, { command: "GET", hash }));
  assert.equal(stranger.store.get(hash), undefined, "a server that does not own it keeps no copy");
});

Deno.test("Replication.find() answers unavailable, not not-found, when an owner could not be asked", async () => {
  await using ring = await TestRing.start(3);
  const entry = ring.servers[0]!;
  let hash = 0;
  for (let i = 0; !hash; i++) {
    const owners = entry.node.ring.owners(i, 2);
    if (!owners.includes(entry.id)) hash = i;
  }
  ring.kill(ring.server(entry.node.ring.owners(hash, 2)[0]!));
  const reply = await ring.call(entry, { command: "GET", hash });
  assert.equal(reply.ok, false);
  assert.equal(!reply.ok && reply.reason, "unavailable");
  // Once the ring has settled, a missing object is missing.
  const again = await ring.call(entry, { command: "GET", hash });
  assert.equal(!again.ok && again.reason, "not-found");
});

Deno.test("GET answers unavailable, not not-found, while every server that kept the object is declared dead", async () => {
  await using ring = await TestRing.start(4);
  const entry = ring.servers[0]!;
  let hash = 0;
  for (let i = 0; !hash; i++) {
    const candidate = await addFile(ring, entry, `f${i}`, `content ${i}`);
    if (!entry.node.ring.owners(candidate, 2).includes(entry.id)) hash = candidate;
  }
  const owners = entry.node.ring.owners(hash, 2);
  // A hash nobody wrote, kept by live servers.
  const absent = entry.node.ring.positions.find((p) => p.member === entry.id)!.hash;
  for (const id of owners) ring.kill(ring.server(id));
  // The first read finds the owners gone (and declares them dead); the next
  // ones ask only the live servers, which never held a copy.
  for (let i = 0; i < 3; i++) {
    const reply = await ring.call(entry, { command: "GET", hash });
    assert.equal(!reply.ok && reply.reason, "unavailable", `read ${i}`);
  }
  assert.ok(owners.every((id) => !entry.node.ring.members.includes(id)), "declared dead");
  const stat = await ring.call(entry, { command: "STAT", hash });
  assert.equal(!stat.ok && stat.reason, "unavailable");
  // A hash nobody wrote whose owners are alive is still not-found.
  const none = await ring.call(entry, { command: "GET", hash: absent });
  assert.equal(!none.ok && none.reason, "not-found");
});
