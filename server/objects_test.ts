import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type FileMeta,
  type FileState,
  isTerminal,
  type JobMeta,
  type JobState,
  mergeOutcome,
  type ObjectMeta,
  resultKeySpan,
  sameIdentity,
  type StoredObject,
  versionOf,
} from "./objects.ts";

// Property failures print `{ seed, path }`; pass them to fc.assert to replay.

function job(state: JobState, attempt: number, extra: Partial<JobMeta> = {}): JobMeta {
  return {
    kind: "job",
    id: "job-id",
    output: 2,
    outputName: "out",
    outputSalt: 3,
    inputs: [],
    state,
    attempt,
    lost: 0,
    leaseUntilMs: 0,
    createdMs: 0,
    exitCode: null,
    reason: null,
    detail: "",
    stderr: "",
    ...extra,
  };
}

function file(state: FileState, extra: Partial<FileMeta> = {}): FileMeta {
  return { kind: "file", id: "file-id", state, size: 0, ...extra };
}

function stored(meta: ObjectMeta, extra: Partial<StoredObject> = {}): StoredObject {
  return { hash: 1, name: "name", salt: 0, meta, data: new Uint8Array(), ...extra };
}

function assertIncreasing(path: readonly ObjectMeta[]): void {
  for (let i = 1; i < path.length; i++) {
    const [before, after] = [versionOf(path[i - 1]!), versionOf(path[i]!)];
    assert.ok(
      after > before,
      `${JSON.stringify(path[i - 1])} (${before}) -> ${JSON.stringify(path[i])} (${after})`,
    );
  }
}

Deno.test("versionOf() increases along a job's life", () => {
  const life = [
    job("waiting", 0),
    job("ready", 0),
    job("leased", 1),
    job("released", 1),
    job("leased", 2),
    job("leased", 3), // the lease of attempt 2 expired
  ];
  assertIncreasing([...life, job("done", 3)]);
  assertIncreasing([...life, job("failed", 3)]);
  assertIncreasing([job("waiting", 0), job("failed", 0)]); // an input failed
  assertIncreasing([job("ready", 0), job("failed", 0)]);
  assertIncreasing([job("released", 1), job("failed", 1)]);
});

Deno.test("versionOf() increases along a file's life", () => {
  assertIncreasing([file("incomplete"), file("complete")]);
  assertIncreasing([file("incomplete"), file("failed")]);
  assertIncreasing([file("incomplete", { attempt: 0 }), file("complete", { attempt: 5 })]);
  assertIncreasing([file("failed"), file("complete")]);
});

const legalNext: Record<JobState, readonly JobState[]> = {
  waiting: ["ready", "failed"],
  ready: ["leased", "failed"],
  leased: ["leased", "released", "done", "failed"],
  released: ["leased", "failed"],
  done: [],
  failed: [],
};

Deno.test("versionOf() matches the PROTOCOL.md version vectors", () => {
  assert.equal(versionOf(file("incomplete")), 0);
  assert.equal(versionOf(file("complete")), 2199024304127);
  assert.equal(versionOf(file("complete", { attempt: 1 })), 2199024304126);
  assert.equal(versionOf(file("failed", { attempt: 1 })), 1099512676350);
  const open = ["waiting", "ready", "leased", "released"] as const;
  assert.deepEqual(open.map((state) => versionOf(job(state, 0))), [0, 1, 2, 3]);
  assert.deepEqual(open.map((state) => versionOf(job(state, 1))), [4, 5, 6, 7]);
  assert.deepEqual(
    [0, 1, 2].map((attempt) => versionOf(job("failed", attempt))),
    [1099512676351, 1099512676350, 1099512676349],
  );
  assert.deepEqual(
    [0, 1, 2].map((attempt) => versionOf(job("done", attempt))),
    [2199024304127, 2199024304126, 2199024304125],
  );
});

Deno.test("versionOf() increases along every legal job path", () => {
  fc.assert(
    fc.property(fc.boolean(), fc.array(fc.nat(), { maxLength: 40 }), (waiting, choices) => {
      let meta = job(waiting ? "waiting" : "ready", 0);
      const path: JobMeta[] = [meta];
      for (const choice of choices) {
        const options = legalNext[meta.state];
        if (options.length === 0) break;
        const state = options[choice % options.length]!;
        meta = job(state, state === "leased" ? meta.attempt + 1 : meta.attempt);
        path.push(meta);
      }
      assertIncreasing(path);
    }),
  );
});

Deno.test("versionOf() ranks a terminal job above any unfinished one", () => {
  fc.assert(
    fc.property(
      fc.constantFrom<JobState>("waiting", "ready", "leased", "released"),
      fc.nat(2 ** 20 - 1),
      fc.constantFrom<JobState>("done", "failed"),
      fc.nat(2 ** 20 - 1),
      (open, openAttempt, end, endAttempt) => {
        assert.ok(versionOf(job(end, endAttempt)) > versionOf(job(open, openAttempt)));
      },
    ),
  );
});

Deno.test("versionOf() ranks done above failed whatever the attempts", () => {
  fc.assert(
    fc.property(fc.nat(2 ** 20 + 10), fc.nat(2 ** 20 + 10), (a, b) => {
      assert.ok(versionOf(job("done", a)) > versionOf(job("failed", b)));
      assert.ok(
        versionOf(file("complete", { attempt: a })) > versionOf(file("failed", { attempt: b })),
      );
    }),
  );
  assert.ok(versionOf(file("complete")) > versionOf(file("failed")));
});

Deno.test("versionOf() prefers the lower attempt between two terminal results", () => {
  for (const state of ["done", "failed"] as const) {
    assert.ok(versionOf(job(state, 1)) > versionOf(job(state, 2)));
    assert.ok(versionOf(job(state, 0)) > versionOf(job(state, 1)));
  }
  for (const state of ["complete", "failed"] as const) {
    assert.ok(versionOf(file(state, { attempt: 1 })) > versionOf(file(state, { attempt: 2 })));
    assert.equal(versionOf(file(state)), versionOf(file(state, { attempt: 0 })));
  }
});

Deno.test("versionOf() ranks two results of one attempt by their key, job and output alike", () => {
  fc.assert(
    fc.property(
      fc.nat(resultKeySpan - 1),
      fc.nat(resultKeySpan - 1),
      fc.nat(2 ** 20 - 1),
      (a, b, attempt) => {
        fc.pre(a !== b);
        const [low, high] = a < b ? [a, b] : [b, a];
        for (const [jobState, fileState] of [["done", "complete"], ["failed", "failed"]] as const) {
          const jobLow = versionOf(job(jobState, attempt, { resultKey: low }));
          const jobHigh = versionOf(job(jobState, attempt, { resultKey: high }));
          const fileLow = versionOf(file(fileState, { attempt, resultKey: low }));
          const fileHigh = versionOf(file(fileState, { attempt, resultKey: high }));
          assert.ok(jobHigh > jobLow && fileHigh > fileLow);
          assert.ok(Number.isSafeInteger(jobHigh) && Number.isSafeInteger(fileHigh));
        }
        // A key never lifts a failure to a success.
        assert.ok(
          versionOf(job("failed", 0, { resultKey: high })) < versionOf(job("done", attempt)),
        );
      },
    ),
  );
  // Without a key (records written before keys existed), versions are unchanged.
  assert.equal(versionOf(job("done", 1, { resultKey: 0 })), versionOf(job("done", 1)));
});

Deno.test("versionOf() returns safe non-negative integers", () => {
  const states: JobState[] = ["waiting", "ready", "leased", "released", "done", "failed"];
  fc.assert(
    fc.property(fc.constantFrom(...states), fc.nat(), (state, attempt) => {
      const version = versionOf(job(state, attempt));
      assert.ok(Number.isSafeInteger(version) && version >= 0, `${version}`);
    }),
  );
  assert.equal(versionOf(file("incomplete")), 0);
});

Deno.test("isTerminal() is true for finished jobs and files", () => {
  assert.deepEqual(
    (["waiting", "ready", "leased", "released", "done", "failed"] as const).map((s) =>
      isTerminal(job(s, 1))
    ),
    [false, false, false, false, true, true],
  );
  assert.deepEqual(
    (["incomplete", "complete", "failed"] as const).map((s) => isTerminal(file(s))),
    [false, true, true],
  );
});

Deno.test("sameIdentity() compares name, kind, id and salt", () => {
  const base = stored(file("complete"));
  assert.ok(sameIdentity(base, stored(file("incomplete"), { data: Uint8Array.of(1) })));
  assert.ok(!sameIdentity(base, stored(file("complete"), { name: "other" })));
  assert.ok(!sameIdentity(base, stored(file("complete"), { salt: 1 })));
  assert.ok(!sameIdentity(base, stored(file("complete", { id: "other-id" }))));
  assert.ok(!sameIdentity(base, stored({ ...job("done", 1), id: "file-id" })));
});

Deno.test("mergeOutcome() stores a copy where nothing is stored", () => {
  assert.equal(mergeOutcome(undefined, stored(file("incomplete"))), "created");
});

Deno.test("mergeOutcome() advances to a copy that is further along", () => {
  assert.equal(mergeOutcome(stored(file("incomplete")), stored(file("complete"))), "advanced");
  assert.equal(mergeOutcome(stored(job("ready", 0)), stored(job("leased", 1))), "advanced");
  assert.equal(mergeOutcome(stored(job("done", 2)), stored(job("done", 1))), "advanced");
});

Deno.test("mergeOutcome() keeps what is stored when the copy is as far or behind", () => {
  assert.equal(mergeOutcome(stored(file("complete")), stored(file("complete"))), "kept");
  assert.equal(mergeOutcome(stored(file("complete")), stored(file("incomplete"))), "kept");
  assert.equal(mergeOutcome(stored(job("done", 3)), stored(job("leased", 9))), "kept");
  assert.equal(mergeOutcome(stored(job("done", 1)), stored(job("failed", 1))), "kept");
});

Deno.test("mergeOutcome() reports a different object at the hash as a collision", () => {
  const here = stored(file("incomplete"));
  assert.equal(mergeOutcome(here, stored(file("complete"), { name: "other" })), "collision");
  assert.equal(mergeOutcome(here, stored(file("complete", { id: "x" }))), "collision");
  assert.equal(mergeOutcome(here, stored(file("complete"), { salt: 9 })), "collision");
  assert.equal(mergeOutcome(stored(job("ready", 0)), stored(file("complete"))), "collision");
});

/** Copies of a few objects at various points of their lives, as replicas hold them. */
const copyArb: fc.Arbitrary<StoredObject> = fc.oneof(
  fc.record({
    object: fc.nat(3),
    state: fc.constantFrom<JobState>("waiting", "ready", "leased", "released", "done", "failed"),
    attempt: fc.nat(4),
  }).map(({ object, state, attempt }) =>
    stored({ ...job(state, attempt), id: `job-${object}` }, { hash: object, name: `job-${object}` })
  ),
  fc.record({
    object: fc.nat(3),
    state: fc.constantFrom<FileState>("incomplete", "complete", "failed"),
    attempt: fc.option(fc.nat(4), { nil: undefined }),
  }).map(({ object, state, attempt }) =>
    stored(file(state, { id: `file-${object}`, ...(attempt === undefined ? {} : { attempt }) }), {
      hash: 10 + object,
      name: `file-${object}`,
      data: Uint8Array.of(object),
    })
  ),
);

/** Applies copies one by one to a store, as a server does. */
function fold(copies: readonly StoredObject[]): Map<number, StoredObject> {
  const store = new Map<number, StoredObject>();
  for (const copy of copies) {
    const outcome = mergeOutcome(store.get(copy.hash), copy);
    if (outcome === "created" || outcome === "advanced") store.set(copy.hash, copy);
  }
  return store;
}

const versions = (store: Map<number, StoredObject>) =>
  new Map([...store].map(([hash, object]) => [hash, versionOf(object.meta)]));

Deno.test("mergeOutcome() reaches the same versions in any order of copies", () => {
  fc.assert(
    fc.property(
      fc.array(copyArb, { minLength: 1, maxLength: 30 }).chain((copies) =>
        fc.tuple(fc.constant(copies), fc.shuffledSubarray(copies, { minLength: copies.length }))
      ),
      ([copies, shuffled]) => {
        // Hashes of different identities never coincide here, so no collision.
        const sorted = (s: Map<number, StoredObject>) =>
          [...versions(s)].sort((a, b) => a[0] - b[0]);
        const first = fold(copies);
        assert.deepEqual(sorted(fold(shuffled)), sorted(first));
        // Idempotent: merging everything again changes nothing.
        assert.deepEqual(sorted(fold([...copies, ...shuffled, ...copies])), sorted(first));
        // Monotone: each object ends at the highest version among its copies.
        for (const [hash, object] of first) {
          const best = Math.max(
            ...copies.filter((c) => c.hash === hash).map((c) => versionOf(c.meta)),
          );
          assert.equal(versionOf(object.meta), best);
        }
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("mergeOutcome() keeps the first of two copies with equal versions", () => {
  // Equal versions with different content (two results of one attempt) are
  // not reconciled: whichever a replica saw first stays.
  const a = stored(job("done", 1, { exitCode: 0 }), { data: Uint8Array.of(1) });
  const b = stored(job("done", 1, { exitCode: 0, stderr: "other" }), { data: Uint8Array.of(1) });
  assert.equal(mergeOutcome(a, b), "kept");
  assert.equal(mergeOutcome(b, a), "kept");
});
