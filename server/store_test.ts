import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { isDiskFull, Store, StoreVersionError } from "./store.ts";
import { type FileMeta, isJob, type JobMeta, type StoredObject } from "./objects.ts";

const encoder = new TextEncoder();

function file(hash: number, text: string, state: FileMeta["state"] = "complete"): StoredObject {
  return {
    hash,
    name: `f${hash}`,
    salt: 0,
    data: encoder.encode(text),
    meta: { kind: "file", id: `id-${hash}`, state, size: text.length },
  };
}

function job(hash: number, state: JobMeta["state"], attempt = 0): StoredObject {
  return {
    hash,
    name: `j${hash}`,
    salt: 0,
    data: encoder.encode("print(1)"),
    meta: {
      kind: "job",
      id: `job-${hash}`,
      output: hash + 1,
      outputName: "o",
      outputSalt: 0,
      inputs: [],
      state,
      attempt,
      lost: 0,
      leaseUntilMs: 0,
      createdMs: hash,
      exitCode: null,
      reason: null,
      detail: "",
      stderr: "",
    },
  };
}

/** The cases every kind of store must pass (on disk and in memory). */
function storeSuite(kind: string, open: () => Promise<{ store: Store; path: string }>): void {
  Deno.test(`Store (${kind}) merge() creates, advances, keeps and refuses collisions`, async () => {
    const { store } = await open();
    try {
      assert.equal(store.merge(file(1, "", "incomplete")), "created");
      assert.equal(store.merge(file(1, "done")), "advanced");
      assert.equal(store.merge(file(1, "", "incomplete")), "kept");
      assert.deepEqual(store.get(1)?.data, encoder.encode("done"));
      assert.equal(
        store.merge({ ...file(1, "other"), meta: { ...file(1, "other").meta, id: "another" } }),
        "collision",
      );
      assert.deepEqual(store.get(1)?.data, encoder.encode("done"), "a collision changes nothing");
      assert.equal(store.get(2), undefined);
      assert.equal(store.version(2), -1);
    } finally {
      store.close();
    }
  });

  Deno.test(`Store (${kind}) keeps one blob per object when data and state change`, async () => {
    const { store, path } = await open();
    try {
      store.put(file(5, "one"));
      store.put(file(5, "two, longer"));
      store.put(job(6, "waiting"));
      store.put(job(6, "leased", 1));
      await store.durable();
      if (path !== ":memory:") {
        const db = new DatabaseSync(path, { readOnly: true });
        try {
          assert.equal((db.prepare("SELECT count(*) AS n FROM blobs").get() as { n: number }).n, 2);
        } finally {
          db.close();
        }
      }
      assert.deepEqual(store.get(5)?.data, encoder.encode("two, longer"));
      const leased = store.get(6);
      assert.ok(leased && isJob(leased));
      assert.equal(leased.meta.state, "leased");
      store.delete(5);
      assert.equal(store.get(5), undefined);
      assert.equal(store.counts().objects, 1);
    } finally {
      store.close();
    }
  });

  Deno.test(`Store (${kind}) scans in hash order and lists open jobs`, async () => {
    const { store } = await open();
    try {
      for (const hash of [30, 10, 20]) store.put(file(hash, "x"));
      store.put(job(40, "ready"));
      store.put(job(50, "done", 1));
      assert.deepEqual(store.scan(-1, 2).map((e) => e.hash), [10, 20]);
      assert.deepEqual(store.scan(20, 10).map((e) => e.hash), [30, 40, 50]);
      assert.deepEqual(store.openJobs().map((o) => o.hash), [40]);
      const counts = store.counts();
      assert.equal(counts.files, 3);
      assert.equal(counts.jobs, 2);
      assert.equal(counts.openJobs, 1);
    } finally {
      store.close();
    }
  });

  Deno.test(`Store (${kind}) transaction() stores all of its work or none`, async () => {
    const { store } = await open();
    try {
      assert.throws(() =>
        store.transaction(() => {
          store.put(file(7, "half"));
          throw new Error("boom");
        }), /boom/);
      assert.equal(store.get(7), undefined, "rolled back");
      store.transaction(() => store.put(file(8, "whole")));
      assert.ok(store.get(8));
    } finally {
      store.close();
    }
  });

  Deno.test(`Store (${kind}) saves members and settings`, async () => {
    const { store } = await open();
    try {
      const member = { id: "h:1", host: "h", port: 1, incarnation: 3, alive: true, salts: [0, 1] };
      store.saveMembers([member]);
      assert.deepEqual(store.members(), [member]);
      store.setSetting("k", "v");
      assert.equal(store.setting("k"), "v");
    } finally {
      store.close();
    }
  });
}

storeSuite("memory", () => Promise.resolve({ store: new Store(":memory:"), path: ":memory:" }));
storeSuite("disk", async () => {
  const path = `${await Deno.makeTempDir({ prefix: "cloud-store-" })}/store.sqlite`;
  return { store: new Store(path), path };
});

Deno.test("Store makes a write durable before durable() resolves, and keeps it across reopening", async () => {
  const path = `${await Deno.makeTempDir({ prefix: "cloud-store-" })}/store.sqlite`;
  const store = new Store(path);
  store.put(file(9, "kept"));
  await store.durable();
  const reader = new DatabaseSync(path, { readOnly: true });
  try {
    assert.deepEqual(reader.prepare("SELECT hash FROM objects").all().map((row) => row.hash), [9]);
  } finally {
    reader.close();
  }
  store.put(file(10, "pending at close"));
  store.close();
  const again = new Store(path);
  try {
    assert.deepEqual(again.get(9)?.data, encoder.encode("kept"));
    assert.deepEqual(again.get(10)?.data, encoder.encode("pending at close"), "close() commits");
  } finally {
    again.close();
  }
});

Deno.test("Store refuses a data directory written by another schema version", async () => {
  const path = `${await Deno.makeTempDir({ prefix: "cloud-store-" })}/store.sqlite`;
  const old = new DatabaseSync(path);
  old.exec(
    "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO settings VALUES ('schema', '1')",
  );
  old.close();
  assert.throws(
    () => new Store(path),
    (error: Error) => error instanceof StoreVersionError && /schema 1/.test(error.message),
  );
});

Deno.test("isDiskFull() tells SQLite's full disk from other errors", () => {
  const db = new DatabaseSync(":memory:");
  try {
    db.exec("PRAGMA max_page_count = 8; CREATE TABLE t (data BLOB)");
    let full: unknown;
    try {
      for (let i = 0; i < 100; i++) {
        db.prepare("INSERT INTO t VALUES (?)").run(new Uint8Array(4096));
      }
    } catch (error) {
      full = error;
    }
    assert.ok(isDiskFull(full), `${full}`);
    assert.equal(isDiskFull(new Error("no such table: t")), false);
  } finally {
    db.close();
  }
});
