import assert from "node:assert/strict";
import { allocateSalts, Allocation, moved, shares } from "./placement.ts";
import { defaultSalts, Ring, type RingMember } from "./ring.ts";

function grow(count: number, positions: number): RingMember[] {
  const allocation = new Allocation();
  return Array.from({ length: count }, (_, i) => {
    const id = `10.0.${i >> 8}.${i & 255}:7000`;
    return { id, salts: allocation.join(id, positions) };
  });
}

const spread = (values: Iterable<number>) => {
  const all = [...values];
  const mean = all.reduce((a, b) => a + b, 0) / all.length;
  return Math.max(...all) / mean;
};

Deno.test("shares() sum to 1 as primary and to R counting copies", () => {
  const ring = new Ring([{ id: "a:1", salts: [0, 1] }, { id: "b:1", salts: [2] }, {
    id: "c:1",
    salts: [3, 4],
  }]);
  const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum(shares(ring, 1)) - 1) < 1e-9);
  assert.ok(Math.abs(sum(shares(ring, 2)) - 2) < 1e-9);
});

Deno.test("Allocation keeps its loads equal to shares() of the ring it grew", () => {
  const members = grow(30, 4);
  const allocation = new Allocation(members);
  const exact = shares(new Ring(members), 2);
  for (const [id, share] of allocation.loads()) {
    assert.ok(Math.abs(share - exact.get(id)!) < 1e-9, id);
  }
});

Deno.test("allocateSalts() on an empty ring takes salts 0 … n-1, and distinct salts always", () => {
  assert.deepEqual(allocateSalts([], "a:1", 4), defaultSalts(4));
  const salts = allocateSalts(grow(10, 4), "new:1", 8);
  assert.equal(new Set(salts).size, 8);
});

Deno.test("allocated salts balance 200 servers far better than salts 0 … n-1", () => {
  const allocated = new Ring(grow(200, 8));
  const random = new Ring(grow(200, 8).map((m) => ({ id: m.id, salts: defaultSalts(8) })));
  assert.ok(spread(shares(allocated, 1).values()) < 1.25);
  assert.ok(spread(shares(allocated, 2).values()) < 1.25);
  assert.ok(spread(shares(random, 1).values()) > spread(shares(allocated, 1).values()));
});

Deno.test("moved() is the joiner's share on a join, the dead one's on a death", () => {
  const members = grow(50, 8);
  const before = new Ring(members);
  const joiner = { id: "new:1", salts: allocateSalts(members, "new:1", 8) };
  const after = new Ring([...members, joiner]);
  assert.ok(Math.abs(moved(before, after, 2) - shares(after, 2).get("new:1")!) < 1e-9);
  const dead = members[7]!;
  const without = new Ring(members.filter((m) => m !== dead));
  assert.ok(Math.abs(moved(before, without, 2) - shares(before, 2).get(dead.id)!) < 1e-9);
  assert.equal(moved(before, before, 2), 0);
});
