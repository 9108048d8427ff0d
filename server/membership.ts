/**
 * Membership: which servers exist and which are alive, merged the SWIM way.
 * A record with a higher incarnation wins; at equal incarnations "dead" wins.
 * A server that hears it is dead refutes it with a higher incarnation. Pure.
 *
 * @module
 */

import type { MemberRecord } from "../protocol/message.ts";
import { memberId, Ring } from "../protocol/ring.ts";

/** A member as each server keeps it. */
export interface Member extends MemberRecord {
  readonly id: string;
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

/** Merges gossiped records into a table; `self` is never taken as dead. */
export function mergeMembers(
  table: ReadonlyMap<string, Member>,
  incoming: readonly Member[],
  self: string,
): MergeResult {
  const next = new Map(table);
  const changed: Member[] = [];
  let refuteIncarnation: number | undefined;
  for (const member of incoming) {
    if (member.id === self) {
      const mine = next.get(self);
      if (mine && !member.alive && member.incarnation >= mine.incarnation) {
        refuteIncarnation = Math.max(refuteIncarnation ?? 0, member.incarnation + 1);
      }
      continue;
    }
    if (supersedes(next.get(member.id), member)) {
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

/** The ring of the live members of a table. */
export function ringOf(table: ReadonlyMap<string, Member>): Ring {
  return new Ring([...table.values()].filter((m) => m.alive));
}
