/**
 * Repair (anti-entropy): a pass over everything stored here, batch by
 * batch, compares versions with each object's other owners (HAVE), sends
 * what they lack (BADD), fetches what they hold newer (PULL), and drops a
 * copy this server no longer owns once every owner confirmed one, as the
 * pure repair_plan.ts decides. Also the peer side of it: answering HAVE
 * and PULL.
 *
 * @module
 */

import { formatHash } from "../protocol/hash.ts";
import { ack, nack, type Reply, type VersionedHash } from "../protocol/message.ts";
import { haveEntriesMax, repairConcurrency } from "../limits.ts";
import { copyProof, toBadd, toPullFields } from "./codec.ts";
import type { ServerContext } from "./context.ts";
import type { JobReports } from "./job_reports.ts";
import { mapLimit } from "./map_limit.ts";
import type { ObjectIndex } from "./object_index.ts";
import {
  countConfirmations,
  haveDifferences,
  parseHaveReply,
  planRepair,
  proofRequests,
  provenHashes,
  repairDrops,
  type RepairPlan,
  syncAction,
} from "./repair_plan.ts";
import type { Replication } from "./replication.ts";

const hex = formatHash;

/** Keeps every object on its owners as the ring changes. */
export class Repair {
  readonly #ctx: ServerContext;
  readonly #replication: Replication;
  readonly #index: ObjectIndex;
  readonly #reports: JobReports;
  #repairing = false;
  #repairAgain = false;

  /** The repair of one server. */
  constructor(
    ctx: ServerContext,
    rooms: { replication: Replication; index: ObjectIndex; reports: JobReports },
  ) {
    this.#ctx = ctx;
    this.#replication = rooms.replication;
    this.#index = rooms.index;
    this.#reports = rooms.reports;
  }

  /** HAVE: the entries stored here at another version, with the version here (-1: none). */
  have(entries: readonly VersionedHash[]): Reply {
    return ack(...haveDifferences(entries, (hash) => this.#ctx.store.version(hash)));
  }

  /**
   * HOLD: for each hash held here, the proof that this server holds its
   * copy (a digest of the copy mixed with the asker's nonce).
   */
  hold(nonce: string, hashes: readonly number[]): Reply {
    const fields: string[] = [];
    for (const hash of hashes) {
      const object = this.#ctx.store.get(hash);
      if (object) fields.push(hex(hash), copyProof(nonce, object));
    }
    return ack(...fields);
  }

  /** PULL: this server's own copy (never asks other servers). */
  pull(hash: number, metaOnly: boolean): Reply {
    const object = this.#ctx.store.get(hash);
    if (!object) return nack("not-found", `No object ${hex(hash)} here`);
    return ack(...toPullFields(object, { metaOnly }));
  }

  /**
   * Anti-entropy over everything stored here: each owner compares versions
   * with the other owners and sends or fetches what differs; a copy this
   * server no longer owns is dropped once every owner holds it. A pass
   * asked for while one runs is run again after it.
   */
  async run(): Promise<void> {
    if (this.#repairing) {
      this.#repairAgain = true;
      return;
    }
    this.#repairing = true;
    this.#ctx.note?.({ kind: "repair-pass", phase: "start" });
    try {
      do {
        this.#repairAgain = false;
        let after = -1;
        for (;;) {
          const batch = this.#ctx.store.scan(after, haveEntriesMax);
          if (batch.length === 0) break;
          after = batch[batch.length - 1]!.hash;
          await this.#repairBatch(batch);
          if (this.#ctx.life.stopped) return;
        }
      } while (this.#repairAgain && !this.#ctx.life.stopped);
    } finally {
      this.#repairing = false;
      this.#ctx.note?.({ kind: "repair-pass", phase: "end" });
    }
  }

  async #repairBatch(batch: readonly VersionedHash[]): Promise<void> {
    const plan = planRepair(batch, (hash) => this.#replication.owners(hash), this.#ctx.id);
    const confirmed = countConfirmations(
      await Promise.all(plan.peers.map(({ id, entries }) => this.#syncWith(id, entries))),
    );
    const busy = (hash: number) => this.#reports.isStoring(hash);
    const candidates = repairDrops(plan, confirmed, { self: this.#ctx.id, busy });
    if (candidates.length === 0) return;
    const { proven, versions } = await this.#proofs(plan, candidates);
    let dropped = 0;
    for (const hash of repairDrops(plan, proven, { self: this.#ctx.id, busy })) {
      // Only the copy the owners proved to hold: not one that changed meanwhile.
      if (this.#ctx.store.version(hash) === versions.get(hash)) {
        this.#index.drop(hash);
        dropped++;
      }
    }
    if (dropped > 0) this.#ctx.note?.({ kind: "repair-dropped", count: dropped });
  }

  /**
   * Asks the owners of the candidate drops to prove they hold copies equal
   * to the ones here (HOLD, with a fresh nonce); returns how many owners
   * proved each hash, and the version of each copy here when its proof was
   * computed.
   */
  async #proofs(
    plan: RepairPlan,
    candidates: readonly number[],
  ): Promise<{ proven: Map<number, number>; versions: Map<number, number> }> {
    const nonce = this.#ctx.token();
    const expected = new Map<number, string | undefined>();
    const versions = new Map<number, number>();
    const proofOf = (hash: number) => {
      if (!expected.has(hash)) {
        const object = this.#ctx.store.get(hash);
        expected.set(hash, object ? copyProof(nonce, object) : undefined);
        if (object) versions.set(hash, this.#ctx.store.version(hash));
      }
      return expected.get(hash);
    };
    const proven = await Promise.all(
      proofRequests(plan, candidates).map(async ({ id, hashes }) => {
        let reply: Reply;
        try {
          reply = await this.#ctx.peers.request(id, { command: "HOLD", nonce, hashes });
        } catch (error) {
          await this.#ctx.membership.peerFailed(id, error).catch(() => {});
          return [];
        }
        if (!reply.ok) return [];
        const those = provenHashes(reply.fields, hashes, proofOf);
        if (those.length < hashes.length) {
          this.#ctx.log(
            `repair: ${id} proved ${those.length} of ${hashes.length} copies it claimed; keeping the others`,
          );
        }
        return those;
      }),
    );
    return { proven: countConfirmations(proven), versions };
  }

  /** Brings one peer and this server level on `entries`; returns the hashes the peer now holds. */
  async #syncWith(id: string, entries: readonly VersionedHash[]): Promise<number[]> {
    let reply: Reply;
    try {
      reply = await this.#ctx.peers.request(id, { command: "HAVE", entries });
    } catch (error) {
      await this.#ctx.membership.peerFailed(id, error).catch(() => {});
      return [];
    }
    if (!reply.ok) return [];
    const theirs = parseHaveReply(reply.fields);
    const held: number[] = [];
    await mapLimit([...entries], repairConcurrency, async (entry) => {
      const action = syncAction(entry.version, theirs.get(entry.hash));
      if (action === "held") return void held.push(entry.hash);
      if (action === "fetch") {
        const remote = await this.#replication.pullFrom(id, entry.hash, { metaOnly: false });
        if (typeof remote === "object") {
          this.#index.apply(remote);
          this.#ctx.note?.({ kind: "repair-fetched" });
        }
        return void held.push(entry.hash);
      }
      const object = this.#ctx.store.get(entry.hash);
      if (!object) return;
      // The owner has no copy at all (not merely an older one): one copy short.
      const short = theirs.get(entry.hash) === -1;
      this.#ctx.note?.({ kind: "repair-send", phase: "start", ok: false, short });
      let ok = false;
      try {
        const result = await this.#ctx.peers.request(id, toBadd(object));
        ok = result.ok;
        if (result.ok) held.push(entry.hash);
        else this.#ctx.log(`repair: ${id} refused ${hex(entry.hash)}: ${result.reason}`);
      } catch {
        // The peer went away; the next pass or its replacement gets the copy.
      } finally {
        this.#ctx.note?.({ kind: "repair-send", phase: "end", ok, short });
      }
    });
    return held;
  }
}
