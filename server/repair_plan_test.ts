import assert from "node:assert/strict";
import fc from "fast-check";
import type { VersionedHash } from "../protocol/message.ts";
import { formatHash } from "../protocol/hash.ts";
import { holdEntriesMax } from "../limits.ts";
import {
  countConfirmations,
  haveDifferences,
  parseHaveReply,
  planRepair,
  proofRequests,
  provenHashes,
  repairDrops,
  syncAction,
} from "./repair_plan.ts";

// Property failures print `{ seed, path }`; pass them to fc.assert to replay.

Deno.test("planRepair() sends each entry to every owner but this server", () => {
  const owners: Record<number, string[]> = { 1: ["me", "a"], 2: ["a", "b"], 3: ["me"] };
  const batch = [1, 2, 3].map((hash) => ({ hash, version: 7 }));
  const plan = planRepair(batch, (hash) => owners[hash]!, "me");
  assert.deepEqual(plan.peers, [
    { id: "a", entries: [batch[0], batch[1]] },
    { id: "b", entries: [batch[1]] },
  ]);
  assert.deepEqual([...plan.owners.keys()], [1, 2, 3]);
});

Deno.test("syncAction() keeps, fetches or sends by the peer's version", () => {
  assert.equal(syncAction(5, undefined), "held");
  assert.equal(syncAction(5, 9), "fetch");
  assert.equal(syncAction(5, 3), "send");
  assert.equal(syncAction(5, -1), "send");
});

Deno.test("haveDifferences() and parseHaveReply() list only the versions that differ", () => {
  const held = new Map([[0x1a, 4], [0x2b, 9]]);
  const fields = haveDifferences(
    [{ hash: 0x1a, version: 4 }, { hash: 0x2b, version: 5 }, { hash: 0x3c, version: 1 }],
    (hash) => held.get(hash) ?? -1,
  );
  assert.deepEqual(fields, ["0000002b", "9", "0000003c", "-1"]);
  assert.deepEqual(parseHaveReply(fields), new Map([[0x2b, 9], [0x3c, -1]]));
});

Deno.test("repairDrops() drops a copy this server does not own once every owner confirmed", () => {
  const plan = planRepair(
    [{ hash: 1, version: 1 }, { hash: 2, version: 1 }, { hash: 3, version: 1 }],
    (hash) => hash === 3 ? ["me", "a"] : ["a", "b"],
    "me",
  );
  const confirmed = countConfirmations([[1, 2, 3], [1]]);
  assert.deepEqual(repairDrops(plan, confirmed, { self: "me", busy: () => false }), [1]);
  assert.deepEqual(repairDrops(plan, confirmed, { self: "me", busy: (h) => h === 1 }), []);
});

Deno.test("repairDrops() never drops on a ring that names no owner", () => {
  const plan = planRepair([{ hash: 1, version: 1 }], () => [], "me");
  assert.deepEqual(repairDrops(plan, new Map(), { self: "me", busy: () => false }), []);
});

const self = "me";
const peers = ["a", "b", "c", "d"];

/** One value per peer, in the order of `peers`. */
function perPeer<T>(value: fc.Arbitrary<T>): fc.Arbitrary<T[]> {
  return fc.array(value, { minLength: peers.length, maxLength: peers.length });
}

/** One object of the batch: who owns it, and what each peer holds of it. */
const entryArb = fc.record({
  owners: fc.uniqueArray(fc.constantFrom(self, ...peers), { maxLength: 3 }),
  mine: fc.nat({ max: 20 }),
  /** Each peer's version (-1: none). */
  theirs: perPeer(fc.integer({ min: -1, max: 20 })),
  /** Whether a copy sent to each peer is taken. */
  sendOk: perPeer(fc.boolean()),
  busy: fc.boolean(),
});
const worldArb = fc.record({
  entries: fc.array(entryArb, { minLength: 1, maxLength: 8 }),
  reachable: perPeer(fc.boolean()),
  /**
   * A dishonest peer (a bug, or a liar) answers HAVE with "all the same",
   * acknowledges every copy sent and stores none, and makes its proofs up.
   */
  honest: perPeer(fc.boolean()),
});

type World = typeof worldArb extends fc.Arbitrary<infer T> ? T : never;

/**
 * Carries a plan out against the model of the peers: sync (HAVE, BADD,
 * PULL), then proofs (HOLD) of the candidate drops; returns the drops, what
 * each peer really holds after, and the version held here after.
 */
function carryOut(world: World) {
  const batch: VersionedHash[] = world.entries.map((entry, hash) => ({
    hash,
    version: entry.mine,
  }));
  const mine = new Map(world.entries.map((entry, hash) => [hash, entry.mine]));
  const held = peers.map((_, p) => new Map(world.entries.map((e, hash) => [hash, e.theirs[p]!])));
  const plan = planRepair(batch, (hash) => world.entries[hash]!.owners, self);
  const confirmedByPeer = plan.peers.map(({ id, entries }) => {
    const p = peers.indexOf(id);
    if (!world.reachable[p]) return [];
    const honest = world.honest[p];
    const theirs = honest
      ? parseHaveReply(haveDifferences(entries, (hash) => held[p]!.get(hash)!))
      : new Map<number, number>();
    const confirmed: number[] = [];
    for (const entry of entries) {
      const action = syncAction(entry.version, theirs.get(entry.hash));
      if (action === "send") {
        if (!world.entries[entry.hash]!.sendOk[p]) continue;
        if (honest) held[p]!.set(entry.hash, Math.max(held[p]!.get(entry.hash)!, entry.version));
      }
      // Fetched: the copy here becomes the peer's (a newer version).
      // (Merged: the further copy stays.)
      if (action === "fetch") {
        mine.set(entry.hash, Math.max(mine.get(entry.hash)!, held[p]!.get(entry.hash)!));
      }
      confirmed.push(entry.hash);
    }
    return confirmed;
  });
  const busy = (hash: number) => world.entries[hash]!.busy;
  const candidates = repairDrops(plan, countConfirmations(confirmedByPeer), { self, busy });
  // A proof names the copy: here, its version stands for its content.
  const proof = (hash: number, version: number) => `${hash}@${version}`;
  const proven = proofRequests(plan, candidates).map(({ id, hashes }) => {
    const p = peers.indexOf(id);
    if (!world.reachable[p]) return [];
    const fields = hashes.flatMap((hash) => {
      if (!world.honest[p]) return [formatHash(hash), "made-up"];
      const version = held[p]!.get(hash)!;
      return version < 0 ? [] : [formatHash(hash), proof(hash, version)];
    });
    return provenHashes(fields, hashes, (hash) => proof(hash, mine.get(hash)!));
  });
  const drops = repairDrops(plan, countConfirmations(proven), { self, busy });
  return { plan, drops, held, mine, candidates };
}

Deno.test("repairDrops() never drops the last copy: every owner holds one as far along (property)", () => {
  fc.assert(fc.property(worldArb, (world) => {
    const { drops, held } = carryOut(world);
    for (const hash of drops) {
      const entry = world.entries[hash]!;
      assert.ok(entry.owners.length > 0, "dropped with no owner");
      for (const owner of entry.owners) {
        assert.notEqual(owner, self, "dropped a copy this server owns");
        const version = held[peers.indexOf(owner)]!.get(hash)!;
        assert.ok(version >= entry.mine, `${owner} holds ${version} < ${entry.mine}`);
        assert.ok(world.honest[peers.indexOf(owner)], `dropped on the word of ${owner}, a liar`);
      }
    }
  }));
});

Deno.test("repairDrops() drops only when every owner confirmed, never a busy copy (property)", () => {
  fc.assert(fc.property(worldArb, (world) => {
    const { drops } = carryOut(world);
    for (const hash of drops) {
      const entry = world.entries[hash]!;
      assert.ok(!entry.busy);
      for (const owner of entry.owners) assert.ok(world.reachable[peers.indexOf(owner)], owner);
    }
  }));
});

Deno.test("repairDrops() drops every stray copy within two passes once all goes well (property)", () => {
  fc.assert(fc.property(worldArb, (world) => {
    const healthy: World = {
      reachable: peers.map(() => true),
      honest: peers.map(() => true),
      entries: world.entries.map((entry) => ({
        ...entry,
        busy: false,
        sendOk: peers.map(() => true),
      })),
    };
    const first = carryOut(healthy);
    const strays = healthy.entries.flatMap((entry, hash) =>
      entry.owners.length > 0 && !entry.owners.includes(self) ? [hash] : []
    );
    // At once when every owner ends the sync with the copy held here; a copy
    // fetched from one owner (newer) reaches the others on the next pass.
    const level = strays.filter((hash) =>
      healthy.entries[hash]!.owners.every((owner) =>
        first.held[peers.indexOf(owner)]!.get(hash) === first.mine.get(hash)
      )
    );
    assert.deepEqual(first.drops, level);
    const second = carryOut({
      ...healthy,
      entries: healthy.entries.map((entry, hash) => ({
        ...entry,
        mine: first.mine.get(hash)!,
        theirs: peers.map((_, p) => first.held[p]!.get(hash)!),
      })),
    });
    assert.deepEqual(
      [...first.drops, ...second.drops.filter((hash) => !first.drops.includes(hash))].sort(),
      strays.sort(),
    );
  }));
});

Deno.test("planRepair() asks every owner but this server about each entry, once (property)", () => {
  fc.assert(fc.property(worldArb, (world) => {
    const { plan } = carryOut(world);
    world.entries.forEach((entry, hash) => {
      const askedBy = plan.peers.filter((peer) => peer.entries.some((e) => e.hash === hash));
      assert.deepEqual(
        askedBy.map((peer) => peer.id).sort(),
        entry.owners.filter((id) => id !== self).sort(),
      );
      for (const peer of askedBy) {
        assert.equal(peer.entries.filter((e) => e.hash === hash).length, 1);
      }
    });
  }));
});

Deno.test("repairDrops() never drops on claims alone: every owner proved the very copy held here (property)", () => {
  fc.assert(fc.property(worldArb, (world) => {
    const { drops, held, mine } = carryOut(world);
    for (const hash of drops) {
      for (const owner of world.entries[hash]!.owners) {
        assert.equal(held[peers.indexOf(owner)]!.get(hash), mine.get(hash), owner);
      }
    }
  }));
});

Deno.test("proofRequests() asks each owner of a candidate once, in requests of holdEntriesMax", () => {
  const batch = Array.from({ length: holdEntriesMax + 5 }, (_, hash) => ({ hash, version: 1 }));
  const plan = planRepair(batch, (hash) => (hash === 0 ? ["a"] : ["a", "b"]), "me");
  const requests = proofRequests(plan, batch.map((entry) => entry.hash));
  assert.deepEqual(requests.map((r) => [r.id, r.hashes.length]), [
    ["a", holdEntriesMax],
    ["a", 5],
    ["b", holdEntriesMax],
    ["b", 4],
  ]);
});

Deno.test("provenHashes() takes only proofs that match, of hashes asked, once each", () => {
  const expected = (hash: number) => (hash === 3 ? undefined : `p${hash}`);
  const fields = ["00000001", "p1", "00000002", "wrong", "00000003", "p3", "00000009", "p9"];
  assert.deepEqual(provenHashes(fields, [1, 2, 3], expected), [1]);
  assert.deepEqual(provenHashes(["00000001", "p1", "00000001", "p1"], [1], expected), [1]);
});
