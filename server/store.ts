/**
 * The SQLite store of one server (`node:sqlite`, WAL mode): objects,
 * membership and settings. No networking; merge decisions come from
 * objects.ts.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { setImmediate } from "node:timers";
import {
  isTerminal,
  type MergeOutcome,
  mergeOutcome,
  type ObjectMeta,
  type StoredObject,
  versionOf,
} from "./objects.ts";
import type { Member } from "./membership.ts";

const schemaVersion = "2";

/**
 * Object rows are small and keyed by hash (random inserts touch few
 * pages); their data lives in `blobs`, appended in id order. Splitting
 * them makes an insert about twice as cheap as one table with the data
 * inline.
 */
const schema = `
CREATE TABLE IF NOT EXISTS objects (
  hash INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  salt INTEGER NOT NULL,
  kind TEXT NOT NULL,
  version INTEGER NOT NULL,
  open_job INTEGER NOT NULL,
  meta TEXT NOT NULL,
  size INTEGER NOT NULL,
  blob INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS objects_open_jobs ON objects(open_job) WHERE open_job = 1;
CREATE TABLE IF NOT EXISTS blobs (
  id INTEGER PRIMARY KEY,
  data BLOB NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS members (
  id TEXT PRIMARY KEY,
  record TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;
`;

interface Row {
  hash: number;
  name: string;
  salt: number;
  meta: string;
  data: Uint8Array;
}

/** Counts of what a store holds. */
export interface StoreCounts {
  readonly objects: number;
  readonly files: number;
  readonly jobs: number;
  readonly openJobs: number;
  readonly bytes: number;
}

/** The store of a data directory written by an incompatible version. */
export class StoreVersionError extends Error {
  override name = "StoreVersionError";
}

const selectObject =
  "SELECT o.hash, o.name, o.salt, o.meta, b.data FROM objects o JOIN blobs b ON b.id = o.blob";

/**
 * One server's durable state.
 *
 * Writes are grouped: the first write opens a transaction that commits
 * once the event loop has handled the I/O that is ready (setImmediate), so
 * requests arriving together share one commit. A server must {@linkcode durable} before it acknowledges a write.
 */
export class Store {
  readonly #db: DatabaseSync;
  readonly #get: StatementSync;
  readonly #insertObject: StatementSync;
  readonly #updateObject: StatementSync;
  readonly #insertBlob: StatementSync;
  readonly #deleteObject: StatementSync;
  readonly #deleteBlob: StatementSync;
  readonly #blobOf: StatementSync;
  readonly #scan: StatementSync;
  readonly #openJobs: StatementSync;
  readonly #versions: StatementSync;
  #batch: Promise<void> | null = null;
  #closed = false;

  /**
   * Opens (creating if needed) the store at `path`, or in memory for ":memory:".
   *
   * @throws {StoreVersionError} when the file was written by an incompatible version.
   */
  constructor(path: string) {
    this.#db = new DatabaseSync(path);
    this.#db.exec(
      "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;",
    );
    this.#checkVersion(path);
    this.#db.exec(schema);
    this.#db.prepare("INSERT OR IGNORE INTO settings (key, value) VALUES ('schema', ?)").run(
      schemaVersion,
    );
    this.#get = this.#db.prepare(`${selectObject} WHERE o.hash = ?`);
    this.#insertObject = this.#db.prepare(
      `INSERT INTO objects (hash, name, salt, kind, version, open_job, meta, size, blob)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#updateObject = this.#db.prepare(
      `UPDATE objects SET name = ?, salt = ?, kind = ?, version = ?, open_job = ?, meta = ?, size = ?, blob = ?
       WHERE hash = ?`,
    );
    this.#insertBlob = this.#db.prepare("INSERT INTO blobs (data) VALUES (?)");
    this.#deleteObject = this.#db.prepare("DELETE FROM objects WHERE hash = ?");
    this.#deleteBlob = this.#db.prepare("DELETE FROM blobs WHERE id = ?");
    this.#blobOf = this.#db.prepare("SELECT blob, size FROM objects WHERE hash = ?");
    this.#scan = this.#db.prepare(
      "SELECT hash, version FROM objects WHERE hash > ? ORDER BY hash LIMIT ?",
    );
    this.#openJobs = this.#db.prepare(`${selectObject} WHERE o.open_job = 1 ORDER BY o.hash`);
    this.#versions = this.#db.prepare("SELECT version FROM objects WHERE hash = ?");
  }

  #checkVersion(path: string): void {
    const hasSettings = this.#db.prepare(
      "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'settings'",
    ).get() as { n: number };
    if (hasSettings.n === 0) return;
    const row = this.#db.prepare("SELECT value FROM settings WHERE key = 'schema'").get() as
      | { value: string }
      | undefined;
    if (row?.value !== schemaVersion) {
      this.#db.close();
      throw new StoreVersionError(
        `Cannot open store ${path}: written by another version of cloud (schema ${
          row?.value ?? 1
        }, expected ${schemaVersion})`,
      );
    }
  }

  /** Returns the object at `hash`, if stored here. */
  get(hash: number): StoredObject | undefined {
    const row = this.#get.get(hash) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  /** Returns the version of the object at `hash`, or -1 when not stored here. */
  version(hash: number): number {
    const row = this.#versions.get(hash) as { version: number } | undefined;
    return row ? row.version : -1;
  }

  /** Stores `object`, replacing whatever is at its hash (its data too, when it differs). */
  put(object: StoredObject, previous = this.get(object.hash)): void {
    this.#write(() => {
      const meta = object.meta;
      const fields = [
        object.name,
        object.salt,
        meta.kind,
        versionOf(meta),
        meta.kind === "job" && !isTerminal(meta) ? 1 : 0,
        JSON.stringify(meta),
        object.data.length,
      ] as const;
      if (!previous) {
        const blob = this.#insertBlob.run(object.data).lastInsertRowid;
        this.#insertObject.run(object.hash, ...fields, blob);
        return;
      }
      const old = this.#blobOf.get(object.hash) as { blob: number; size: number };
      if (sameBytes(previous.data, object.data)) {
        this.#updateObject.run(...fields, old.blob, object.hash);
        return;
      }
      const blob = this.#insertBlob.run(object.data).lastInsertRowid;
      this.#updateObject.run(...fields, blob, object.hash);
      this.#deleteBlob.run(old.blob);
    });
  }

  /**
   * Merges an incoming copy: stores it when new or further along, keeps the
   * stored one otherwise, refuses a different object at the same hash.
   */
  merge(incoming: StoredObject): MergeOutcome {
    const stored = this.get(incoming.hash);
    const outcome = mergeOutcome(stored, incoming);
    if (outcome === "created" || outcome === "advanced") this.put(incoming, stored);
    return outcome;
  }

  /** Removes the object at `hash`. */
  delete(hash: number): void {
    this.#write(() => {
      const old = this.#blobOf.get(hash) as { blob: number } | undefined;
      if (!old) return;
      this.#deleteObject.run(hash);
      this.#deleteBlob.run(old.blob);
    });
  }

  /** Hashes and versions after `afterHash` in hash order, at most `limit` of them. */
  scan(afterHash: number, limit: number): { hash: number; version: number }[] {
    return this.#scan.all(afterHash, limit) as { hash: number; version: number }[];
  }

  /** Every job stored, without its source (for the inspection's catalogue, at start). */
  jobMetas(): { hash: number; name: string; meta: ObjectMeta }[] {
    const rows = this.#db.prepare("SELECT hash, name, meta FROM objects WHERE kind = 'job'")
      .all() as { hash: number; name: string; meta: string }[];
    return rows.map((row) => ({ hash: row.hash, name: row.name, meta: JSON.parse(row.meta) }));
  }

  /** Every job not yet done or failed. */
  openJobs(): StoredObject[] {
    return (this.#openJobs.all() as unknown as Row[]).map(fromRow);
  }

  /**
   * Runs `work` atomically (a savepoint inside the current group of
   * writes): all of it is stored, or none.
   */
  transaction<T>(work: () => T): T {
    return this.#write(() => {
      this.#db.exec("SAVEPOINT work");
      try {
        const result = work();
        this.#db.exec("RELEASE work");
        return result;
      } catch (error) {
        this.#db.exec("ROLLBACK TO work");
        this.#db.exec("RELEASE work");
        throw error;
      }
    });
  }

  /** Runs a write inside the open group of writes, opening one if needed. */
  #write<T>(work: () => T): T {
    if (this.#closed) throw new Error("Cannot write: the store is closed");
    if (this.#batch === null) {
      this.#db.exec("BEGIN");
      this.#batch = new Promise((resolve, reject) => {
        setImmediate(() => {
          this.#batch = null;
          try {
            this.#db.exec("COMMIT");
            resolve();
          } catch (error) {
            reject(error);
          }
        });
      });
      // Observed by whoever awaits durable(); never an unhandled rejection.
      this.#batch.catch(() => {});
    }
    return work();
  }

  /**
   * Resolves once every write made so far is committed (WAL, synchronous
   * NORMAL: it survives the process being killed).
   */
  durable(): Promise<void> {
    return this.#batch ?? Promise.resolve();
  }

  /** Counts what is stored. */
  counts(): StoreCounts {
    const row = this.#db.prepare(
      `SELECT count(*) AS objects, coalesce(sum(kind = 'file'), 0) AS files, coalesce(sum(kind = 'job'), 0) AS jobs,
       coalesce(sum(open_job), 0) AS openJobs, coalesce(sum(size), 0) AS bytes FROM objects`,
    ).get() as unknown as StoreCounts;
    return { ...row };
  }

  /** Every member this server has heard of. */
  members(): Member[] {
    const rows = this.#db.prepare("SELECT record FROM members").all() as { record: string }[];
    return rows.map((row) => JSON.parse(row.record) as Member);
  }

  /** Saves member records. */
  saveMembers(members: readonly Member[]): void {
    const statement = this.#db.prepare(
      "INSERT INTO members (id, record) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET record = excluded.record",
    );
    this.transaction(() => {
      for (const member of members) statement.run(member.id, JSON.stringify(member));
    });
  }

  /** Removes member records (members dead for long, forgotten). */
  forgetMembers(ids: readonly string[]): void {
    const statement = this.#db.prepare("DELETE FROM members WHERE id = ?");
    this.transaction(() => {
      for (const id of ids) statement.run(id);
    });
  }

  /** Reads a setting. */
  setting(key: string): string | undefined {
    const row = this.#db.prepare("SELECT value FROM settings WHERE key = ?").get(key) as
      | { value: string }
      | undefined;
    return row?.value;
  }

  /** Writes a setting. */
  setSetting(key: string, value: string): void {
    this.#write(() =>
      this.#db.prepare(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      ).run(key, value)
    );
  }

  /** Commits what is pending and closes the database. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#batch !== null) this.#db.exec("COMMIT");
    this.#batch = null;
    this.#db.close();
  }
}

/**
 * True when `error` is SQLite's `SQLITE_FULL` ("database or disk is full"):
 * the data directory's filesystem has no room left. A write refused for it
 * is answered `unavailable` with a detail saying so (PROTOCOL.md 6).
 */
export function isDiskFull(error: unknown): boolean {
  return error instanceof Error && /database or disk is full|SQLITE_FULL/i.test(error.message);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function fromRow(row: Row): StoredObject {
  return {
    hash: row.hash,
    name: row.name,
    salt: row.salt,
    meta: JSON.parse(row.meta) as ObjectMeta,
    data: row.data,
  };
}
