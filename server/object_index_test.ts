import assert from "node:assert/strict";
import { chunkName } from "../protocol/manifest.ts";
import type { Clock } from "./clock.ts";
import { ObjectIndex } from "./object_index.ts";
import type { FileMeta, JobMeta, StoredObject } from "./objects.ts";
import { Store } from "./store.ts";

/** A clock whose timers fire only when `fire` is called. */
function manualClock() {
  const timers = new Map<number, () => void>();
  let next = 1;
  const clock: Clock = {
    now: () => 0,
    setTimeout: (callback) => {
      timers.set(next, callback);
      return next++;
    },
    setInterval: () => next++,
    clearTimer: (id) => void timers.delete(id),
  };
  return {
    clock,
    timers,
    fire: () => {
      for (const [id, callback] of [...timers]) {
        timers.delete(id);
        callback();
      }
    },
  };
}

function job(hash: number, state: JobMeta["state"], createdMs: number): StoredObject {
  const meta: JobMeta = {
    kind: "job",
    id: `job-${hash}`,
    output: hash + 1,
    outputName: "out",
    outputSalt: 0,
    inputs: [],
    state,
    attempt: state === "leased" ? 1 : 0,
    lost: 0,
    leaseUntilMs: 0,
    createdMs,
    exitCode: null,
    reason: null,
    detail: "",
    stderr: "",
  };
  return { hash, name: `job${hash}`, salt: 0, data: new Uint8Array(), meta };
}

function file(
  hash: number,
  state: FileMeta["state"],
  name = `f${hash}`,
  extra: Partial<FileMeta> = {},
): StoredObject {
  return {
    hash,
    name,
    salt: 0,
    data: new Uint8Array(),
    meta: { kind: "file", id: `file-${hash}`, state, size: 0, ...extra },
  };
}

function indexed() {
  const store = new Store(":memory:");
  const time = manualClock();
  return {
    store,
    time,
    index: new ObjectIndex(store, time.clock),
    [Symbol.dispose]: () => store.close(),
  };
}

Deno.test("ObjectIndex.load() lists the store's open jobs oldest first", () => {
  using t = indexed();
  t.store.put(job(3, "ready", 200));
  t.store.put(job(1, "waiting", 300));
  t.store.put(job(2, "leased", 100));
  t.store.put(job(4, "done", 50));
  t.index.load();
  assert.deepEqual([...t.index.openJobs()].map(([hash]) => hash), [2, 3, 1]);
  assert.equal(t.index.openJobCount, 3);
});

Deno.test("ObjectIndex.apply() keeps open jobs and finished files in step", () => {
  using t = indexed();
  assert.equal(t.index.apply(job(1, "ready", 0)), "created");
  assert.equal(t.index.openJobCount, 1);
  assert.equal(t.index.apply(job(1, "ready", 0)), "kept");
  assert.equal(t.index.apply({ ...job(1, "done", 0) }), "advanced");
  assert.equal(t.index.openJobCount, 0);
  t.index.apply(file(5, "incomplete"));
  assert.equal(t.index.finished(5), undefined);
  t.index.apply(file(5, "failed", "f5", { error: "why" }));
  assert.deepEqual(t.index.finished(5), { state: "failed", error: "why" });
});

Deno.test("ObjectIndex.apply() does not index the chunks of large files", () => {
  using t = indexed();
  t.index.apply(file(9, "complete", chunkName));
  assert.equal(t.index.finished(9), undefined);
  assert.ok(t.store.get(9), "stored all the same");
});

Deno.test("ObjectIndex.waitFor() wakes when the object finishes, or when its time is up", async () => {
  using t = indexed();
  t.index.apply(file(7, "incomplete"));
  let woken = false;
  const waiting = t.index.waitFor(7, 1_000).then(() => woken = true);
  t.index.apply(file(7, "incomplete"));
  await Promise.resolve();
  assert.equal(woken, false);
  t.index.apply(file(7, "complete"));
  await waiting;
  assert.equal(t.time.timers.size, 0, "its timer was cleared");
  const timedOut = t.index.waitFor(8, 1_000);
  t.time.fire();
  await timedOut;
});

Deno.test("ObjectIndex.jobsChanged() wakes for a job that may be leasable, not for a lease or when told not to", async () => {
  using t = indexed();
  let wakes = 0;
  const wait = () => t.index.jobsChanged(1_000).then(() => wakes++);
  const first = wait();
  t.index.apply(job(1, "leased", 0));
  t.index.apply(job(2, "ready", 0), { wake: false });
  await Promise.resolve();
  assert.equal(wakes, 0);
  t.index.apply(job(3, "ready", 0));
  await first;
  assert.equal(wakes, 1);
  const second = wait();
  t.index.learnFinished(40, { state: "complete" });
  await second;
  assert.equal(wakes, 2);
  assert.deepEqual(t.index.finished(40), { state: "complete" });
});

Deno.test("ObjectIndex.jobsChanged() wakes when the client hangs up", async () => {
  using t = indexed();
  const hangUp = new AbortController();
  const waiting = t.index.jobsChanged(60_000, hangUp.signal);
  hangUp.abort();
  await waiting;
  assert.equal(t.time.timers.size, 0);
});

Deno.test("ObjectIndex.fresher() prefers the copy further along; drop() forgets one", () => {
  using t = indexed();
  t.index.apply(job(1, "done", 0));
  assert.equal(t.index.fresher(job(1, "ready", 0)).meta.state, "done");
  assert.equal(t.index.fresher(job(2, "ready", 0)).meta.state, "ready");
  t.index.apply(job(2, "ready", 0));
  t.index.drop(2);
  assert.equal(t.store.get(2), undefined);
  assert.equal(t.index.openJobCount, 0);
});

Deno.test("ObjectIndex.wakeAll() wakes every waiter", async () => {
  using t = indexed();
  const waits = [
    t.index.waitFor(1, 60_000),
    t.index.waitFor(1, 60_000),
    t.index.jobsChanged(60_000),
  ];
  t.index.wakeAll();
  await Promise.all(waits);
});
