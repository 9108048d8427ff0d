/**
 * Membership: which servers exist and which are alive, merged the SWIM way.
 * A record with a higher incarnation wins; at equal incarnations "dead" wins.
 * A server that hears it is dead refutes it with a higher incarnation. Pure.
 *
 * Against records from a peer with a bug (or a liar): an incarnation rises
 * by at most `incarnationStepMax` per record over what this server knew (a
 * death declared at 2^53 − 1 is cut to that step, and so can always be
 * refuted); a record of a member not known here that says it is dead is
 * ignored (there is nothing to learn from it, and it would bring a member
 * forgotten after its death back as dead); gossip sends a bounded share
 * of the table (gossipRecords), never a frame too large to send.
 *
 * @module
 */

import { memberFields, type MemberRecord } from "../protocol/message.ts";
import { memberId, Ring } from "../protocol/ring.ts";
import { incarnationStepMax } from "../limits.ts";

/** A member as each server keeps it. */
export interface Member extends MemberRecord {
  readonly id: string;
  /**
   * When this server learned that the member is dead (its own clock): dead
   * members are forgotten `deadMemberKeepMs` later. Kept here, never sent.
   */
  readonly deadSinceMs?: number;
}

/** Makes a member from a wire record. */
export function toMember(record: MemberRecord): Member {
  return { ...record, id: memberId(record.host, record.port) };
}

/** True when `incoming` should replace `current`. */
export function supersedes(current: Member | undefined, incoming: Member): boolean {
  if (!current) return true;
  if (incoming.incarnation !== current.incarnation) {
    return incoming.incarnation > current.incarnation;
  }
  return current.alive && !incoming.alive;
}

/** The result of merging records into a table. */
export interface MergeResult {
  readonly table: ReadonlyMap<string, Member>;
  /** Records that changed the table. */
  readonly changed: readonly Member[];
  /** Set when someone declared `self` dead: our new, higher incarnation. */
  readonly refuteIncarnation?: number;
}

/** Options of {@linkcode mergeMembers}. */
export interface MergeOptions {
  /** This server's clock: when a member is learned dead. */
  readonly nowMs: number;
}

/**
 * `record` as this server takes it: its incarnation cut to
 * `incarnationStepMax` above the one known (0 for an unknown member), and
 * the time of its death (kept from the record known when it was dead
 * already).
 */
function bounded(record: Member, known: Member | undefined, nowMs: number): Member {
  const { deadSinceMs: _ignored, ...wire } = record;
  const incarnation = Math.min(record.incarnation, (known?.incarnation ?? 0) + incarnationStepMax);
  if (record.alive) return { ...wire, incarnation };
  const deadSinceMs = known && !known.alive && known.deadSinceMs !== undefined
    ? known.deadSinceMs
    : nowMs;
  return { ...wire, incarnation, deadSinceMs };
}

/** Merges gossiped records into a table; `self` is never taken as dead. */
export function mergeMembers(
  table: ReadonlyMap<string, Member>,
  incoming: readonly Member[],
  self: string,
  options: MergeOptions,
): MergeResult {
  const next = new Map(table);
  const changed: Member[] = [];
  let refuteIncarnation: number | undefined;
  for (const record of incoming) {
    const known = next.get(record.id);
    if (record.id === self) {
      const claimed = bounded(record, known, options.nowMs).incarnation;
      if (known && !record.alive && claimed >= known.incarnation) {
        refuteIncarnation = Math.max(refuteIncarnation ?? 0, claimed + 1);
      }
      continue;
    }
    if (!known && !record.alive) continue;
    const member = bounded(record, known, options.nowMs);
    if (supersedes(known, member)) {
      next.set(member.id, member);
      changed.push(member);
    }
  }
  if (refuteIncarnation !== undefined) {
    const mine = next.get(self)!;
    const refuted = { ...mine, incarnation: refuteIncarnation, alive: true };
    next.set(self, refuted);
    changed.push(refuted);
  }
  return {
    table: next,
    changed,
    ...(refuteIncarnation === undefined ? {} : { refuteIncarnation }),
  };
}

/** The ids of the dead members to forget: dead for `keepMs` or longer by `nowMs`. */
export function forgottenMembers(
  table: ReadonlyMap<string, Member>,
  options: { readonly nowMs: number; readonly keepMs: number },
): string[] {
  const ids: string[] = [];
  for (const member of table.values()) {
    if (member.alive || member.deadSinceMs === undefined) continue;
    if (options.nowMs - member.deadSinceMs >= options.keepMs) ids.push(member.id);
  }
  return ids;
}

/** Options of {@linkcode gossipRecords}. */
export interface GossipOptions {
  /** This server's id: its own record goes first. */
  readonly self: string;
  /** Where the rotation starts this time (any integer; the caller moves it on). */
  readonly cursor: number;
  /** Most bytes the records may take on the wire, `:` separators included. */
  readonly bytesMax: number;
}

/**
 * The records one MEMB request or reply carries: this server's own first,
 * then the live members, then the dead, each group in a rotation that
 * starts at `cursor`, as many as fit in `bytesMax`. A table too large for
 * one frame goes out in turns, never as a frame too large to send.
 */
export function gossipRecords(
  table: ReadonlyMap<string, Member>,
  options: GossipOptions,
): Member[] {
  const rotate = (members: Member[]) => {
    if (members.length === 0) return members;
    const start = ((options.cursor % members.length) + members.length) % members.length;
    return [...members.slice(start), ...members.slice(0, start)];
  };
  const others = [...table.values()].filter((m) => m.id !== options.self)
    .sort((a, b) => (a.id < b.id ? -1 : 1));
  const own = table.get(options.self);
  const ordered = [
    ...(own ? [own] : []),
    ...rotate(others.filter((m) => m.alive)),
    ...rotate(others.filter((m) => !m.alive)),
  ];
  const records: Member[] = [];
  let bytes = 0;
  for (const member of ordered) {
    const size = memberFields(member).join(":").length + 1;
    if (bytes + size > options.bytesMax) continue;
    records.push(member);
    bytes += size;
  }
  return records;
}

/** The ring of the live members of a table. */
export function ringOf(table: ReadonlyMap<string, Member>): Ring {
  return new Ring([...table.values()].filter((m) => m.alive));
}

/** The ring of every member of a table, the dead ones too: where copies were put before they died. */
export function fullRingOf(table: ReadonlyMap<string, Member>): Ring {
  return new Ring([...table.values()]);
}

/**
 * True when every owner of `hash` on the ring of all members (`fullRing`,
 * the dead too) is declared dead in `table`: the copies of an object
 * written before they died are then out of reach, and not finding it says
 * nothing about whether it exists.
 */
export function ownersAllDead(
  table: ReadonlyMap<string, Member>,
  fullRing: Ring,
  options: { readonly hash: number; readonly count: number },
): boolean {
  const owners = fullRing.owners(options.hash, options.count);
  return owners.length > 0 && owners.every((id) => table.get(id)?.alive !== true);
}
