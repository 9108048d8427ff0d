/**
 * The SQLite store of one server (`node:sqlite`, WAL mode): objects,
 * membership and settings. No networking; merge decisions come from
 * objects.ts.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import {
  isTerminal,
  type MergeOutcome,
  mergeOutcome,
  type ObjectMeta,
  type StoredObject,
  versionOf,
} from "./objects.ts";
import type { Member } from "./membership.ts";

const schema = `
CREATE TABLE IF NOT EXISTS objects (
  hash INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  salt INTEGER NOT NULL,
  kind TEXT NOT NULL,
  version INTEGER NOT NULL,
  open_job INTEGER NOT NULL,
  meta TEXT NOT NULL,
  data BLOB NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS objects_open_jobs ON objects(open_job) WHERE open_job = 1;
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

/** One server's durable state. */
export class Store {
  readonly #db: DatabaseSync;
  readonly #get: StatementSync;
  readonly #upsert: StatementSync;
  readonly #delete: StatementSync;
  readonly #scan: StatementSync;
  readonly #openJobs: StatementSync;
  readonly #versions: StatementSync;

  /** Opens (creating if needed) the store at `path`, or in memory for ":memory:". */
  constructor(path: string) {
    this.#db = new DatabaseSync(path);
    this.#db.exec(
      "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;",
    );
    this.#db.exec(schema);
    this.#get = this.#db.prepare("SELECT hash, name, salt, meta, data FROM objects WHERE hash = ?");
    this.#upsert = this.#db.prepare(
      `INSERT INTO objects (hash, name, salt, kind, version, open_job, meta, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(hash) DO UPDATE SET name = excluded.name, salt = excluded.salt, kind = excluded.kind,
       version = excluded.version, open_job = excluded.open_job, meta = excluded.meta, data = excluded.data`,
    );
    this.#delete = this.#db.prepare("DELETE FROM objects WHERE hash = ?");
    this.#scan = this.#db.prepare(
      "SELECT hash, version FROM objects WHERE hash > ? ORDER BY hash LIMIT ?",
    );
    this.#openJobs = this.#db.prepare(
      "SELECT hash, name, salt, meta, data FROM objects WHERE open_job = 1 ORDER BY hash",
    );
    this.#versions = this.#db.prepare("SELECT version FROM objects WHERE hash = ?");
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

  /** Stores `object`, replacing whatever is at its hash. */
  put(object: StoredObject): void {
    const meta = object.meta;
    this.#upsert.run(
      object.hash,
      object.name,
      object.salt,
      meta.kind,
      versionOf(meta),
      meta.kind === "job" && !isTerminal(meta) ? 1 : 0,
      JSON.stringify(meta),
      object.data,
    );
  }

  /**
   * Merges an incoming copy: stores it when new or further along, keeps the
   * stored one otherwise, refuses a different object at the same hash.
   */
  merge(incoming: StoredObject): MergeOutcome {
    const outcome = mergeOutcome(this.get(incoming.hash), incoming);
    if (outcome === "created" || outcome === "advanced") this.put(incoming);
    return outcome;
  }

  /** Removes the object at `hash`. */
  delete(hash: number): void {
    this.#delete.run(hash);
  }

  /** Hashes and versions after `afterHash` in hash order, at most `limit` of them. */
  scan(afterHash: number, limit: number): { hash: number; version: number }[] {
    return this.#scan.all(afterHash, limit) as { hash: number; version: number }[];
  }

  /** Every job not yet done or failed. */
  openJobs(): StoredObject[] {
    return (this.#openJobs.all() as unknown as Row[]).map(fromRow);
  }

  /** Runs `work` in one transaction. */
  transaction<T>(work: () => T): T {
    this.#db.exec("BEGIN");
    try {
      const result = work();
      this.#db.exec("COMMIT");
      return result;
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  /** Counts what is stored. */
  counts(): StoreCounts {
    const row = this.#db.prepare(
      `SELECT count(*) AS objects, coalesce(sum(kind = 'file'), 0) AS files, coalesce(sum(kind = 'job'), 0) AS jobs,
       coalesce(sum(open_job), 0) AS openJobs, coalesce(sum(length(data)), 0) AS bytes FROM objects`,
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

  /** Reads a setting. */
  setting(key: string): string | undefined {
    const row = this.#db.prepare("SELECT value FROM settings WHERE key = ?").get(key) as
      | { value: string }
      | undefined;
    return row?.value;
  }

  /** Writes a setting. */
  setSetting(key: string, value: string): void {
    this.#db.prepare(
      "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    ).run(key, value);
  }

  /** Closes the database. */
  close(): void {
    this.#db.close();
  }
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
