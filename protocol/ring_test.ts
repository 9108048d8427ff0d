import assert from "node:assert/strict";
import fc from "fast-check";
import { objectHash } from "./hash.ts";
import {
  defaultSalts,
  memberId,
  ownersGained,
  type Position,
  positionsOf,
  Ring,
  type RingMember,
} from "./ring.ts";

// Property failures print `{ seed, path }`; pass them to fc.assert to replay.

const membersArb = (min = 1, max = 8): fc.Arbitrary<RingMember[]> =>
  fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { minLength: min, maxLength: max })
    .chain((ports) =>
      fc.tuple(
        ...ports.map((port) =>
          fc.oneof(
            fc.uniqueArray(fc.nat(0xffffffff), { minLength: 1, maxLength: 16 }),
            fc.integer({ min: 1, max: 16 }).map(defaultSalts),
          ).map((salts): RingMember => ({ id: memberId("10.0.0.1", port), salts }))
        ),
      )
    );

const replicasArb = fc.integer({ min: 1, max: 4 });

/** Hashes to probe: random ones and ones on, just before and just after positions. */
const probesArb = fc.array(
  fc.tuple(fc.boolean(), fc.nat(), fc.integer({ min: -1, max: 1 }), fc.nat(0xffffffff)),
  { minLength: 1, maxLength: 24 },
);

function probeHashes(ring: Ring, probes: readonly [boolean, number, number, number][]): number[] {
  return probes.map(([onPosition, index, offset, random]) => {
    const positions = ring.positions;
    if (!onPosition || positions.length === 0) return random;
    return (positions[index % positions.length]!.hash + offset) >>> 0;
  });
}

/**
 * Owners by brute force: every position sorted by its clockwise distance from
 * the hash (ties by member id), then the first `count` distinct members.
 */
function bruteOwners(members: readonly RingMember[], hash: number, count: number): string[] {
  const distance = (p: Position) => (p.hash - hash + 2 ** 32) % 2 ** 32;
  const positions = members.flatMap((m) =>
    m.salts.map((salt) => ({ hash: objectHash(m.id, salt), member: m.id }))
  );
  positions.sort((a, b) =>
    distance(a) - distance(b) || (a.member < b.member ? -1 : a.member > b.member ? 1 : 0)
  );
  return [...new Set(positions.map((p) => p.member))].slice(0, count);
}

Deno.test("memberId() joins host and port", () => {
  assert.equal(memberId("127.0.0.1", 11111), "127.0.0.1:11111");
});

Deno.test("defaultSalts() counts from zero", () => {
  assert.deepEqual(defaultSalts(0), []);
  assert.deepEqual(defaultSalts(4), [0, 1, 2, 3]);
});

Deno.test("positionsOf() hashes the member id with each salt", () => {
  const member = { id: "h:1", salts: [0, 7] };
  assert.deepEqual(positionsOf(member), [
    { hash: objectHash("h:1", 0), member: "h:1" },
    { hash: objectHash("h:1", 7), member: "h:1" },
  ]);
});

Deno.test("Ring has no owners when it has no members", () => {
  const ring = new Ring([]);
  assert.deepEqual(ring.owners(123, 2), []);
  assert.equal(ring.primary(123), undefined);
  assert.deepEqual(ring.neighbours("x:1", 1), []);
  assert.deepEqual(ring.members, []);
});

Deno.test("Ring sorts positions and lists distinct members", () => {
  fc.assert(
    fc.property(membersArb(), (members) => {
      const ring = new Ring(members);
      assert.deepEqual(ring.members, members.map((m) => m.id).sort());
      assert.equal(ring.positions.length, members.reduce((n, m) => n + m.salts.length, 0));
      for (let i = 1; i < ring.positions.length; i++) {
        assert.ok(ring.positions[i - 1]!.hash <= ring.positions[i]!.hash);
      }
    }),
    { numRuns: 100 },
  );
});

Deno.test("Ring.owners() gives min(count, members) distinct owners", () => {
  fc.assert(
    fc.property(membersArb(), replicasArb, probesArb, (members, replicas, probes) => {
      const ring = new Ring(members);
      for (const hash of probeHashes(ring, probes)) {
        const owners = ring.owners(hash, replicas);
        assert.equal(owners.length, Math.min(replicas, members.length));
        assert.equal(new Set(owners).size, owners.length);
        for (const owner of owners) assert.ok(ring.members.includes(owner));
        assert.equal(ring.primary(hash), owners[0]);
      }
    }),
    { numRuns: 200 },
  );
});

Deno.test("Ring.owners() agrees with a brute-force walk of the ring", () => {
  fc.assert(
    fc.property(membersArb(), replicasArb, probesArb, (members, replicas, probes) => {
      const ring = new Ring(members);
      for (const hash of probeHashes(ring, probes)) {
        assert.deepEqual(ring.owners(hash, replicas), bruteOwners(members, hash, replicas));
      }
    }),
    { numRuns: 200 },
  );
});

Deno.test("Ring.primary() owns a hash equal to its position and the one just below", () => {
  const a = { id: "a:1", salts: [0] };
  const b = { id: "b:1", salts: [0] };
  const ring = new Ring([a, b]);
  const [first, second] = ring.positions as [Position, Position];
  assert.ok(first.hash < second.hash, "distinct positions");
  assert.equal(ring.primary(first.hash), first.member);
  assert.equal(ring.primary(first.hash - 1), first.member);
  assert.equal(ring.primary(first.hash + 1), second.member);
  assert.equal(ring.primary(second.hash), second.member);
  // Past the last position the ring wraps to the first.
  assert.equal(ring.primary(second.hash + 1), first.member);
  assert.equal(ring.primary(0xffffffff), second.hash === 0xffffffff ? second.member : first.member);
  assert.deepEqual(ring.owners(second.hash + 1, 5), [first.member, second.member]);
  // Hashes are taken as unsigned 32-bit values.
  assert.equal(ring.primary(-1), ring.primary(0xffffffff));
});

Deno.test("Ring.owners() orders a shared position by member id", () => {
  // Found by inverting FNV-1a: two members with one position in common.
  const hash = 0x68cd82d9;
  assert.equal(objectHash("a:1", 2042132977), hash);
  assert.equal(objectHash("b:2", 5), hash);
  for (const order of [["b:2", "a:1"], ["a:1", "b:2"]]) {
    const salts: Record<string, number> = { "a:1": 2042132977, "b:2": 5 };
    const ring = new Ring(order.map((id) => ({ id, salts: [salts[id]!] })));
    assert.deepEqual(ring.owners(hash, 2), ["a:1", "b:2"]);
    assert.deepEqual(ring.owners(hash - 1, 2), ["a:1", "b:2"]);
    assert.deepEqual(ring.owners(hash + 1, 2), ["a:1", "b:2"], "wraps to the same pair");
  }
});

Deno.test("Ring.owners() after a join differs only by the new member", () => {
  fc.assert(
    fc.property(membersArb(2, 8), replicasArb, probesArb, (members, replicas, probes) => {
      const joining = members[members.length - 1]!;
      const before = new Ring(members.slice(0, -1));
      const after = new Ring(members);
      for (const hash of [...probeHashes(before, probes), ...probeHashes(after, probes)]) {
        const old = before.owners(hash, replicas);
        const now = after.owners(hash, replicas);
        if (now.join() !== old.join()) assert.ok(now.includes(joining.id), `hash ${hash}`);
        // The others keep their order; the last one may have been pushed out.
        const kept = now.filter((m) => m !== joining.id);
        assert.deepEqual(kept, old.slice(0, kept.length));
        assert.deepEqual(
          ownersGained(old, now),
          now.includes(joining.id) && !old.includes(joining.id) ? [joining.id] : [],
        );
      }
    }),
    { numRuns: 200 },
  );
});

Deno.test("Ring.owners() after a leave differs only where the member was an owner", () => {
  fc.assert(
    fc.property(
      membersArb(2, 8),
      fc.nat(),
      replicasArb,
      probesArb,
      (members, pick, replicas, probes) => {
        const leaving = members[pick % members.length]!;
        const before = new Ring(members);
        const after = new Ring(members.filter((m) => m !== leaving));
        for (const hash of probeHashes(before, probes)) {
          const old = before.owners(hash, replicas);
          const now = after.owners(hash, replicas);
          if (!old.includes(leaving.id)) assert.deepEqual(now, old);
          else assert.deepEqual(now.slice(0, old.length - 1), old.filter((m) => m !== leaving.id));
        }
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("Ring gives back the same ownership when a member leaves and rejoins", () => {
  fc.assert(
    fc.property(
      membersArb(1, 8),
      fc.nat(),
      replicasArb,
      probesArb,
      (members, pick, replicas, probes) => {
        const member = members[pick % members.length]!;
        const original = new Ring(members);
        const without = new Ring(members.filter((m) => m !== member));
        const rejoined = new Ring([
          ...without.members.map((id) => members.find((m) => m.id === id)!),
          member,
        ]);
        assert.deepEqual(rejoined.positions, original.positions);
        for (const hash of probeHashes(original, probes)) {
          assert.deepEqual(rejoined.owners(hash, replicas), original.owners(hash, replicas));
        }
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("Ring.neighbours() lists the members right after or before a member's positions", () => {
  fc.assert(
    fc.property(membersArb(), (members) => {
      const ring = new Ring(members);
      const total = ring.positions.length;
      for (const { id } of members) {
        for (const direction of [1, -1] as const) {
          const expected = new Set<string>();
          ring.positions.forEach((position, i) => {
            if (position.member !== id) return;
            const other = ring.positions[(i + direction + total) % total]!.member;
            if (other !== id) expected.add(other);
          });
          const found = ring.neighbours(id, direction);
          assert.equal(new Set(found).size, found.length, "distinct");
          assert.deepEqual(new Set(found), expected);
          assert.equal(found.length === 0, members.length === 1, "empty only when alone");
        }
      }
    }),
    { numRuns: 200 },
  );
});

Deno.test("Ring.neighbours() is symmetric between directions", () => {
  fc.assert(
    fc.property(membersArb(), (members) => {
      const ring = new Ring(members);
      for (const a of ring.members) {
        for (const b of ring.members) {
          assert.equal(ring.neighbours(a, 1).includes(b), ring.neighbours(b, -1).includes(a));
        }
      }
    }),
    { numRuns: 100 },
  );
});

Deno.test("Ring.neighbours() covers every replica next to a member", () => {
  // Heartbeats go to neighbours: the replica after a primary, and the primary
  // before a replica, must be among them.
  fc.assert(
    fc.property(membersArb(2, 8), probesArb, (members, probes) => {
      const ring = new Ring(members);
      for (const hash of probeHashes(ring, probes)) {
        const [primary, replica] = ring.owners(hash, 2) as [string, string];
        assert.ok(ring.neighbours(primary, 1).includes(replica));
        assert.ok(ring.neighbours(replica, -1).includes(primary));
      }
    }),
    { numRuns: 200 },
  );
});

Deno.test("Ring.neighbours() of a member not in the ring is empty", () => {
  const ring = new Ring([{ id: "a:1", salts: [0, 1] }, { id: "b:1", salts: [0] }]);
  assert.deepEqual(ring.neighbours("c:1", 1), []);
  assert.deepEqual(ring.neighbours("a:1", 1), ["b:1"]);
  assert.deepEqual(ring.neighbours("b:1", -1), ["a:1"]);
});

Deno.test("ownersGained() lists the owners that are new", () => {
  assert.deepEqual(ownersGained(["a", "b"], ["c", "a"]), ["c"]);
  assert.deepEqual(ownersGained(["a", "b"], ["b", "a"]), []);
  assert.deepEqual(ownersGained([], ["a", "b"]), ["a", "b"]);
  assert.deepEqual(ownersGained(["a"], []), []);
});
