import assert from "node:assert/strict";
import fc from "fast-check";
import { replicationRoundsMax } from "../limits.ts";
import {
  afterWrites,
  nextReplicationStep,
  type ReplicationStep,
  startReplication,
  type WriteOutcome,
} from "./replication_plan.ts";

// Property failures print `{ seed, path }`; pass them to fc.assert to replay.

interface Run {
  readonly end: Exclude<ReplicationStep, { kind: "write" }>;
  /** Every write step, in order: its targets and whether it went to the primary alone. */
  readonly writes: { targets: readonly string[]; primary: boolean; outcomes: WriteOutcome[] }[];
  readonly written: readonly string[];
  /** The owners the ring named at the last step. */
  readonly lastOwners: readonly string[];
}

/** Drives a plan to its end as the shell does; `owners(step)` is the ring at each step. */
function drive(
  owners: (step: number) => readonly string[],
  outcome: (id: string, attempt: number) => WriteOutcome,
  options = { self: "self", selfHolds: false },
): Run {
  let state = startReplication(options);
  const writes: Run["writes"] = [];
  const attempts = new Map<string, number>();
  for (let step = 0; step < 100; step++) {
    const ring = owners(step);
    const next = nextReplicationStep(state, ring);
    if (next.kind !== "write") {
      return { end: next, writes, written: state.written, lastOwners: ring };
    }
    const outcomes = next.targets.map((id) => {
      const attempt = attempts.get(id) ?? 0;
      attempts.set(id, attempt + 1);
      return outcome(id, attempt);
    });
    writes.push({ targets: next.targets, primary: next.primary, outcomes });
    state = afterWrites(state, next, outcomes);
  }
  throw new Error("The plan did not end within 100 steps");
}

Deno.test("nextReplicationStep() writes the primary alone, then the replicas together", () => {
  const run = drive(() => ["a", "b", "c"], () => "ok");
  assert.deepEqual(run.end, { kind: "stored" });
  assert.deepEqual(run.writes.map((w) => [w.targets, w.primary]), [
    [["a"], true],
    [["b", "c"], false],
  ]);
});

Deno.test("nextReplicationStep() skips this server when it holds the copy already", () => {
  const run = drive(() => ["self", "b"], () => "ok", { self: "self", selfHolds: true });
  assert.deepEqual(run.writes.map((w) => w.targets), [["b"]]);
  assert.deepEqual(run.end, { kind: "stored" });
});

Deno.test("nextReplicationStep() stops at a collision on the primary, writing no replica", () => {
  const run = drive(() => ["a", "b"], (id) => id === "a" ? "collision" : "ok");
  assert.deepEqual(run.end, { kind: "collision" });
  assert.deepEqual(run.writes.map((w) => w.targets), [["a"]]);
});

Deno.test("nextReplicationStep() does not count a replica that answered collision as written", () => {
  // The replica holds another object at that hash: the copy is not there.
  const run = drive(() => ["a", "b"], (id) => id === "b" ? "collision" : "ok");
  assert.deepEqual(run.end, { kind: "unavailable", written: 1, owners: 2 });
  const late = drive(
    () => ["a", "b"],
    (id, attempt) => id === "b" && attempt === 0 ? "collision" : "ok",
  );
  assert.deepEqual(late.end, { kind: "stored" }, "written once the replica takes it");
});

Deno.test("nextReplicationStep() asks the ring again after an owner did not answer", () => {
  // "a" dies; the next round's ring names "c" in its place.
  const run = drive(
    (step) => step === 0 ? ["a", "b"] : ["b", "c"],
    (id) => id === "a" ? "unreachable" : "ok",
  );
  assert.deepEqual(run.end, { kind: "stored" });
  assert.deepEqual(run.writes.map((w) => w.targets), [["a"], ["b"], ["c"]]);
});

Deno.test("nextReplicationStep() is unavailable when an owner never answers", () => {
  const run = drive(() => ["a", "b"], (id) => id === "b" ? "unreachable" : "ok");
  assert.deepEqual(run.end, { kind: "unavailable", written: 1, owners: 2 });
  assert.equal(run.writes.filter((w) => w.targets.includes("b")).length, replicationRoundsMax);
});

Deno.test("nextReplicationStep() with no owner at all is stored at once (nothing to write)", () => {
  assert.deepEqual(drive(() => [], () => "ok").end, { kind: "stored" });
});

const ids = ["self", "a", "b", "c", "d", "e"];
const ownersArb = fc.uniqueArray(fc.constantFrom(...ids), { minLength: 1, maxLength: 4 });
const scenarioArb = fc.record({
  rings: fc.array(ownersArb, { minLength: 1, maxLength: 12 }),
  outcomes: fc.dictionary(
    fc.constantFrom(...ids),
    fc.array(fc.constantFrom<WriteOutcome>("ok", "unreachable", "collision"), {
      minLength: 1,
      maxLength: 6,
    }),
  ),
  selfHolds: fc.boolean(),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

function driveScenario(scenario: Scenario): Run {
  return drive(
    (step) => scenario.rings[Math.min(step, scenario.rings.length - 1)]!,
    (id, attempt) => {
      const list = scenario.outcomes[id] ?? ["ok"];
      return list[Math.min(attempt, list.length - 1)]!;
    },
    { self: "self", selfHolds: scenario.selfHolds },
  );
}

Deno.test("nextReplicationStep() is stored only when every owner holds a copy (property)", () => {
  fc.assert(fc.property(scenarioArb, (scenario) => {
    const run = driveScenario(scenario);
    if (run.end.kind === "stored") {
      for (const id of run.lastOwners) assert.ok(run.written.includes(id), id);
    }
    if (run.end.kind === "unavailable") {
      assert.ok(run.lastOwners.some((id) => !run.written.includes(id)));
    }
  }));
});

Deno.test("nextReplicationStep() never writes again to a server that holds the copy (property)", () => {
  fc.assert(fc.property(scenarioArb, (scenario) => {
    const run = driveScenario(scenario);
    const holding = new Set(scenario.selfHolds ? ["self"] : []);
    for (const write of run.writes) {
      for (const [i, id] of write.targets.entries()) {
        assert.ok(!holding.has(id), `${id} written twice`);
        if (write.outcomes[i] === "ok") holding.add(id);
      }
    }
  }));
});

Deno.test("nextReplicationStep() writes one server alone before any other (property)", () => {
  fc.assert(fc.property(scenarioArb, (scenario) => {
    const run = driveScenario(scenario);
    // Every write before the first server took the copy goes to one server, alone.
    for (const write of run.writes) {
      assert.ok(write.primary ? write.targets.length === 1 : true);
      if (write.outcomes.some((outcome) => outcome !== "unreachable")) break;
      assert.ok(write.primary, "a replica was written before any copy was stored");
    }
  }));
});

Deno.test("nextReplicationStep() ends a collision right after the primary answered one (property)", () => {
  fc.assert(fc.property(scenarioArb, (scenario) => {
    const run = driveScenario(scenario);
    const last = run.writes.at(-1);
    if (run.end.kind === "collision") {
      assert.ok(last?.primary && last.outcomes[0] === "collision");
    }
    for (const write of run.writes.slice(0, -1)) {
      assert.ok(!(write.primary && write.outcomes[0] === "collision"));
    }
  }));
});

Deno.test("nextReplicationStep() ends within its rounds (property)", () => {
  fc.assert(fc.property(scenarioArb, (scenario) => {
    const run = driveScenario(scenario);
    // Each round is one primary write and one write of the others at most, never an empty one.
    assert.ok(run.writes.length <= 2 * replicationRoundsMax, `${run.writes.length} writes`);
    for (const write of run.writes) assert.ok(write.targets.length > 0, "an empty write");
  }));
});
