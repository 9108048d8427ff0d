import assert from "node:assert/strict";
import fc from "fast-check";
import {
  forgottenMembers,
  gossipRecords,
  type Member,
  mergeMembers as merge,
  ringOf,
  supersedes,
  toMember,
} from "./membership.ts";
import { incarnationStepMax } from "../limits.ts";
import { memberFields } from "../protocol/message.ts";

// Property failures print `{ seed, path }`; pass them to fc.assert to replay.

function member(port: number, incarnation: number, alive: boolean, salts = [port]): Member {
  return toMember({ host: "h", port, incarnation, alive, salts });
}

const self = "h:1";
const table = (...members: Member[]) => new Map(members.map((m) => [m.id, m]));
/** A record as the table keeps it once learned dead (at time 0 in these tests). */
const kept = (m: Member): Member => (m.alive ? m : { ...m, deadSinceMs: 0 });
const mergeMembers = (t: ReadonlyMap<string, Member>, records: readonly Member[], id: string) =>
  merge(t, records, id, { nowMs: 0 });

Deno.test("toMember() adds the host:port id", () => {
  assert.deepEqual(
    toMember({ host: "10.0.0.2", port: 7, incarnation: 1, alive: true, salts: [3] }),
    {
      host: "10.0.0.2",
      port: 7,
      incarnation: 1,
      alive: true,
      salts: [3],
      id: "10.0.0.2:7",
    },
  );
});

Deno.test("supersedes() takes any record for an unknown member", () => {
  assert.ok(supersedes(undefined, member(2, 0, true)));
  assert.ok(supersedes(undefined, member(2, 0, false)));
});

Deno.test("supersedes() prefers the higher incarnation whatever the liveness", () => {
  assert.ok(supersedes(member(2, 1, false), member(2, 2, true)));
  assert.ok(supersedes(member(2, 1, true), member(2, 2, false)));
  assert.ok(!supersedes(member(2, 2, true), member(2, 1, false)));
  assert.ok(!supersedes(member(2, 2, false), member(2, 1, true)));
});

Deno.test("supersedes() lets dead win a tie, and nothing else", () => {
  assert.ok(supersedes(member(2, 3, true), member(2, 3, false)));
  assert.ok(!supersedes(member(2, 3, false), member(2, 3, true)));
  assert.ok(!supersedes(member(2, 3, true), member(2, 3, true)));
  assert.ok(!supersedes(member(2, 3, false), member(2, 3, false)));
});

Deno.test("mergeMembers() adds and replaces records and lists what changed", () => {
  const start = table(member(1, 0, true), member(2, 1, true));
  const result = mergeMembers(
    start,
    [member(2, 1, false), member(3, 0, true), member(2, 0, true)],
    self,
  );
  assert.deepEqual(
    result.table,
    table(member(1, 0, true), kept(member(2, 1, false)), member(3, 0, true)),
  );
  assert.deepEqual(result.changed, [kept(member(2, 1, false)), member(3, 0, true)]);
  assert.equal(result.refuteIncarnation, undefined);
  assert.ok(!("refuteIncarnation" in result));
  assert.deepEqual(start, table(member(1, 0, true), member(2, 1, true)), "input table untouched");
});

Deno.test("mergeMembers() refutes a report that self is dead", () => {
  const start = table(member(1, 4, true), member(2, 0, true));
  const result = mergeMembers(start, [member(1, 4, false)], self);
  assert.equal(result.refuteIncarnation, 5);
  assert.deepEqual(result.table.get(self), member(1, 5, true));
  assert.deepEqual(result.changed, [member(1, 5, true)]);
});

Deno.test("mergeMembers() refutes above the highest death report of self", () => {
  const start = table(member(1, 4, true));
  const result = mergeMembers(start, [member(1, 9, false), member(1, 6, false)], self);
  assert.equal(result.refuteIncarnation, 10);
  assert.deepEqual(result.table.get(self), member(1, 10, true));
});

Deno.test("mergeMembers() ignores stale death reports and any alive report of self", () => {
  const start = table(member(1, 4, true, [1, 2]));
  for (const report of [member(1, 3, false), member(1, 9, true, [7])]) {
    const result = mergeMembers(start, [report], self);
    assert.deepEqual(result.table, start);
    assert.deepEqual(result.changed, []);
    assert.equal(result.refuteIncarnation, undefined);
  }
});

Deno.test("mergeMembers() keeps self's own salts when refuting", () => {
  const start = table(member(1, 0, true, [10, 11]));
  const result = mergeMembers(start, [member(1, 0, false, [99])], self);
  assert.deepEqual(result.table.get(self)?.salts, [10, 11]);
});

/**
 * Records as gossip carries them. A member's salts follow from its
 * incarnation (a member that restarts with other salts takes a new
 * incarnation); two records of one member and incarnation otherwise differ
 * only in liveness.
 */
const recordArb = fc.record({
  port: fc.integer({ min: 1, max: 5 }),
  incarnation: fc.nat(4),
  alive: fc.boolean(),
}).map(({ port, incarnation, alive }) =>
  member(port, incarnation, alive, [port * 100 + incarnation])
);

/**
 * Tables that know every member the records name (a record of an unknown
 * member that says dead is ignored, so which of two records comes first
 * decides; that case has its own test).
 */
const startArb = fc.array(recordArb, { maxLength: 6 }).map((records) => {
  const start = new Map<string, Member>();
  start.set(self, member(1, 2, true, [102]));
  for (let port = 2; port <= 5; port++) start.set(`h:${port}`, member(port, 0, true, [port * 100]));
  for (const record of records) if (record.id !== self) start.set(record.id, kept(record));
  return start;
});

/** A table as a sorted array, to compare tables built in different orders. */
const entries = (t: ReadonlyMap<string, Member>) => [...t].sort(([a], [b]) => (a < b ? -1 : 1));

function mergeOneByOne(start: ReadonlyMap<string, Member>, records: readonly Member[]) {
  let current = start;
  for (const record of records) current = mergeMembers(current, [record], self).table;
  return current;
}

Deno.test("mergeMembers() reaches the same table in any order, batched or not", () => {
  fc.assert(
    fc.property(
      startArb,
      fc.array(recordArb, { maxLength: 20 }).chain((records) =>
        fc.tuple(fc.constant(records), fc.shuffledSubarray(records, { minLength: records.length }))
      ),
      (start, [records, shuffled]) => {
        const once = mergeMembers(start, records, self).table;
        assert.deepEqual(entries(mergeMembers(start, shuffled, self).table), entries(once));
        assert.deepEqual(entries(mergeOneByOne(start, shuffled)), entries(once));
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("mergeMembers() is idempotent", () => {
  fc.assert(
    fc.property(startArb, fc.array(recordArb, { maxLength: 20 }), (start, records) => {
      const once = mergeMembers(start, records, self);
      const twice = mergeMembers(once.table, records, self);
      assert.deepEqual(entries(twice.table), entries(once.table));
      assert.deepEqual(twice.changed, []);
      assert.equal(twice.refuteIncarnation, undefined);
    }),
    { numRuns: 500 },
  );
});

Deno.test("mergeMembers() keeps self alive and every record at or past what it was", () => {
  fc.assert(
    fc.property(startArb, fc.array(recordArb, { maxLength: 20 }), (start, records) => {
      const { table: next, changed } = mergeMembers(start, records, self);
      assert.equal(next.get(self)?.alive, true);
      for (const [id, before] of start) {
        const after = next.get(id)!;
        assert.ok(after === before || supersedes(before, after) || id === self, id);
      }
      // The last change to each member is what the table holds.
      const last = new Map(changed.map((record) => [record.id, record]));
      for (const [id, record] of last) assert.equal(next.get(id), record);
      for (const [id, record] of next) if (!last.has(id)) assert.equal(start.get(id), record);
      // Every record that is not about self ends at or below what the table holds.
      for (const record of records) {
        if (record.id !== self) assert.ok(!supersedes(next.get(record.id), kept(record)));
      }
    }),
    { numRuns: 500 },
  );
});

Deno.test("ringOf() builds the ring of live members only", () => {
  const members = table(
    member(1, 0, true, [1, 2]),
    member(2, 0, false, [3]),
    member(3, 5, true, [4]),
  );
  const ring = ringOf(members);
  assert.deepEqual(ring.members, ["h:1", "h:3"]);
  assert.equal(ring.positions.length, 3);
  assert.ok(ring.positions.every((p) => p.member !== "h:2"));
});

Deno.test("mergeMembers() cuts an incarnation to incarnationStepMax above the one known", () => {
  const start = table(member(1, 3, true), member(2, 10, true));
  const result = mergeMembers(start, [member(2, Number.MAX_SAFE_INTEGER, false)], self);
  assert.deepEqual(result.table.get("h:2"), kept(member(2, 10 + incarnationStepMax, false)));
  // A member not known yet starts from 0.
  const fresh = mergeMembers(start, [member(3, 10_000, true)], self);
  assert.equal(fresh.table.get("h:3")?.incarnation, incarnationStepMax);
});

Deno.test("mergeMembers() refutes a death declared at 2^53 − 1 with an incarnation it can send", () => {
  const start = table(member(1, 7, true, [1]));
  const result = mergeMembers(start, [member(1, Number.MAX_SAFE_INTEGER, false)], self);
  assert.equal(result.refuteIncarnation, 7 + incarnationStepMax + 1);
  // The refutation is a record every server parses, and takes over the capped death.
  const refuted = result.table.get(self)!;
  assert.ok(Number.isSafeInteger(refuted.incarnation) && refuted.alive);
  const elsewhere = mergeMembers(
    table(member(2, 0, true), kept(member(1, 7 + incarnationStepMax, false))),
    [refuted],
    "h:2",
  );
  assert.equal(elsewhere.table.get(self)?.alive, true);
});

Deno.test("mergeMembers() ignores a record of an unknown member that says dead", () => {
  const start = table(member(1, 0, true));
  const result = mergeMembers(start, [member(9, 4, false)], self);
  assert.deepEqual(result.changed, []);
  assert.ok(!result.table.has("h:9"));
});

Deno.test("mergeMembers() keeps when a member was first learned dead", () => {
  const first = merge(table(member(2, 1, true)), [member(2, 1, false)], self, { nowMs: 100 });
  assert.equal(first.table.get("h:2")?.deadSinceMs, 100);
  const again = merge(first.table, [member(2, 2, false)], self, { nowMs: 900 });
  assert.equal(again.table.get("h:2")?.deadSinceMs, 100, "dead since the first news");
  const back = merge(again.table, [member(2, 3, true)], self, { nowMs: 950 });
  assert.equal(back.table.get("h:2")?.deadSinceMs, undefined);
});

Deno.test("forgottenMembers() names the members dead for keepMs or longer", () => {
  const t = table(
    member(1, 0, true),
    { ...member(2, 0, false), deadSinceMs: 1_000 },
    { ...member(3, 0, false), deadSinceMs: 5_000 },
  );
  assert.deepEqual(forgottenMembers(t, { nowMs: 10_000, keepMs: 9_000 }), ["h:2"]);
  assert.deepEqual(forgottenMembers(t, { nowMs: 10_000, keepMs: 9_001 }), []);
});

Deno.test("gossipRecords() keeps a table of any size within bytesMax, self first, in turns", () => {
  const salts = Array.from({ length: 256 }, (_, i) => i);
  const dead = Array.from({ length: 24 }, (_, i) => kept(member(100 + i, 0, false, salts)));
  const t = table(member(1, 0, true, salts), member(2, 0, true, salts), ...dead);
  const seen = new Set<string>();
  for (let cursor = 0; cursor < 24; cursor++) {
    const records = gossipRecords(t, { self, cursor, bytesMax: 60_000 });
    const bytes = records.map((m) => memberFields(m).join(":").length + 1)
      .reduce((a, b) => a + b, 0);
    assert.ok(bytes <= 60_000, `${bytes} bytes`);
    assert.equal(records[0]?.id, self);
    assert.equal(records[1]?.id, "h:2", "the live members before the dead");
    for (const record of records) seen.add(record.id);
  }
  assert.equal(seen.size, t.size, "every record goes out in turn");
});
