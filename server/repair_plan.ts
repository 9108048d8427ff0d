/**
 * The repair plan (anti-entropy): for a batch of the objects a server
 * stores, which peers to compare versions with (HAVE), what to send them
 * (BADD) or fetch from them (PULL), and which of its own copies to drop.
 * Pure: the shell (repair.ts) carries the plan out and feeds back what
 * each peer confirmed.
 *
 * The rule that keeps data: a server drops its copy only when it is no
 * longer an owner and every owner has proved it holds a copy equal to its
 * own, so a repair never drops the last copy. A version in a HAVE reply, or
 * an ACK to a BADD, is only a claim (a peer with a bug may answer ACK and
 * store nothing): it makes a copy a candidate to drop; the drop waits for
 * each owner's proof (HOLD: a digest of its copy mixed with a fresh nonce,
 * which this server recomputes from its own copy).
 *
 * @module
 */

import { formatHash } from "../protocol/hash.ts";
import type { VersionedHash } from "../protocol/message.ts";
import { holdEntriesMax } from "../limits.ts";

/** Whom to compare which entries with, and who owns each entry. */
export interface RepairPlan {
  /** Each peer that owns some of the batch, with those entries, in order of first appearance. */
  readonly peers: readonly { readonly id: string; readonly entries: readonly VersionedHash[] }[];
  /** The owners of every entry of the batch, by hash. */
  readonly owners: ReadonlyMap<number, readonly string[]>;
}

/**
 * Groups a batch by the peers that own its entries: each entry goes to
 * every owner other than `self`.
 */
export function planRepair(
  batch: readonly VersionedHash[],
  ownersOf: (hash: number) => readonly string[],
  self: string,
): RepairPlan {
  const byPeer = new Map<string, VersionedHash[]>();
  const owners = new Map<number, readonly string[]>();
  for (const entry of batch) {
    const those = ownersOf(entry.hash);
    owners.set(entry.hash, those);
    for (const id of those) {
      if (id === self) continue;
      const list = byPeer.get(id) ?? [];
      list.push(entry);
      byPeer.set(id, list);
    }
  }
  return { peers: [...byPeer].map(([id, entries]) => ({ id, entries })), owners };
}

/**
 * What to do with one entry once a peer said which versions it holds:
 * `held` when it holds the same version (HAVE lists only differences),
 * `fetch` when it holds a newer one (it holds a copy, and this server
 * takes it), `send` when it lacks the entry or holds an older version.
 */
export type SyncAction = "held" | "fetch" | "send";

/** The action for an entry at version `mine` that the peer holds at `theirs` (undefined: the same). */
export function syncAction(mine: number, theirs: number | undefined): SyncAction {
  if (theirs === undefined) return "held";
  return theirs > mine ? "fetch" : "send";
}

/**
 * A HAVE reply's fields (hash, version pairs: the entries a peer holds at
 * another version, -1 when it has none) as a map.
 */
export function parseHaveReply(fields: readonly string[]): Map<number, number> {
  const theirs = new Map<number, number>();
  for (let i = 0; i + 1 < fields.length; i += 2) {
    theirs.set(Number.parseInt(fields[i]!, 16), Number(fields[i + 1]));
  }
  return theirs;
}

/** How many peers confirmed each hash, from the lists of hashes each one confirmed. */
export function countConfirmations(
  confirmedByPeer: readonly (readonly number[])[],
): Map<number, number> {
  const counts = new Map<number, number>();
  for (const hashes of confirmedByPeer) {
    for (const hash of hashes) counts.set(hash, (counts.get(hash) ?? 0) + 1);
  }
  return counts;
}

/** Options of {@linkcode repairDrops}. */
export interface DropOptions {
  readonly self: string;
  /** True for a hash that must not be dropped now (a job's report is being stored). */
  readonly busy: (hash: number) => boolean;
}

/**
 * The copies to drop after the sync: those `self` does not own (on a ring
 * that names owners) that every owner confirmed, and that are not busy.
 */
export function repairDrops(
  plan: RepairPlan,
  confirmations: ReadonlyMap<number, number>,
  options: DropOptions,
): number[] {
  const drops: number[] = [];
  for (const [hash, owners] of plan.owners) {
    if (owners.length === 0 || owners.includes(options.self)) continue;
    if ((confirmations.get(hash) ?? 0) === owners.length && !options.busy(hash)) drops.push(hash);
  }
  return drops;
}

/** The HAVE reply listing, for each entry, the version held here when it differs. */
export function haveDifferences(
  entries: readonly VersionedHash[],
  versionOf: (hash: number) => number,
): string[] {
  const differing: string[] = [];
  for (const entry of entries) {
    const version = versionOf(entry.hash);
    if (version !== entry.version) differing.push(formatHash(entry.hash), String(version));
  }
  return differing;
}

/**
 * Whom to ask for proofs (HOLD) of the candidate drops: each owner of a
 * candidate, its hashes in requests of at most `holdEntriesMax`.
 */
export function proofRequests(
  plan: RepairPlan,
  candidates: readonly number[],
): { readonly id: string; readonly hashes: readonly number[] }[] {
  const byPeer = new Map<string, number[]>();
  for (const hash of candidates) {
    for (const id of plan.owners.get(hash) ?? []) {
      const list = byPeer.get(id) ?? [];
      list.push(hash);
      byPeer.set(id, list);
    }
  }
  const requests: { id: string; hashes: number[] }[] = [];
  for (const [id, hashes] of byPeer) {
    for (let i = 0; i < hashes.length; i += holdEntriesMax) {
      requests.push({ id, hashes: hashes.slice(i, i + holdEntriesMax) });
    }
  }
  return requests;
}

/**
 * The hashes a HOLD reply (hash, proof pairs) proves: those asked for
 * whose proof is the one `expected` computes from this server's own copy
 * (undefined: no copy here, nothing to prove).
 */
export function provenHashes(
  fields: readonly string[],
  asked: readonly number[],
  expected: (hash: number) => string | undefined,
): number[] {
  const wanted = new Set(asked);
  const proven: number[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const hash = Number.parseInt(fields[i]!, 16);
    if (!wanted.has(hash)) continue;
    wanted.delete(hash);
    const proof = expected(hash);
    if (proof !== undefined && fields[i + 1] === proof) proven.push(hash);
  }
  return proven;
}
