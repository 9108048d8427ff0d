/**
 * The consistent-hashing ring: the placement rule every party of the
 * protocol shares (docs/PROTOCOL.md). Servers decide ownership with it,
 * clients and runners send each chunk straight to its owner with it. Pure:
 * positions come from (host:port, salt) through the object hash; no
 * sockets, no clock.
 *
 * The owner of a hash is the first position at or after it (wrapping); its
 * replicas are the next positions that belong to distinct servers.
 *
 * @module
 */

import { objectHash } from "./hash.ts";

/** A server of the ring, by address, with the salts of its positions. */
export interface RingMember {
  readonly id: string;
  readonly salts: readonly number[];
}

/** One position on the ring. */
export interface Position {
  readonly hash: number;
  readonly member: string;
}

/** The id of a server: `host:port`. */
export function memberId(host: string, port: number): string {
  return `${host}:${port}`;
}

/** Ring positions of one server. */
export function positionsOf(member: RingMember): Position[] {
  return member.salts.map((salt) => ({ hash: objectHash(member.id, salt), member: member.id }));
}

/** The salts 0 … count-1: the positions a server takes by default. */
export function defaultSalts(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i);
}

/** An immutable view of the ring built from its live members. */
export class Ring {
  readonly positions: readonly Position[];
  readonly members: readonly string[];

  /** Builds the ring; duplicate positions are ordered by member id. */
  constructor(members: readonly RingMember[]) {
    const positions = members.flatMap(positionsOf);
    positions.sort((a, b) =>
      a.hash - b.hash || (a.member < b.member ? -1 : a.member > b.member ? 1 : 0)
    );
    this.positions = positions;
    this.members = [...new Set(members.map((m) => m.id))].sort();
  }

  /** Index of the first position at or after `hash`, wrapping to 0. */
  #firstAtOrAfter(hash: number): number {
    let low = 0;
    let high = this.positions.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.positions[middle]!.hash < hash) low = middle + 1;
      else high = middle;
    }
    return low === this.positions.length ? 0 : low;
  }

  /**
   * The servers that keep `hash`: the owner first, then the next distinct
   * servers, `count` in all (fewer when the ring has fewer servers).
   */
  owners(hash: number, count: number): string[] {
    const owners: string[] = [];
    const total = this.positions.length;
    if (total === 0) return owners;
    const start = this.#firstAtOrAfter(hash >>> 0);
    for (let step = 0; step < total && owners.length < count; step++) {
      const member = this.positions[(start + step) % total]!.member;
      if (!owners.includes(member)) owners.push(member);
    }
    return owners;
  }

  /** The owner of `hash` (first position at or after it), or undefined on an empty ring. */
  primary(hash: number): string | undefined {
    return this.owners(hash, 1)[0];
  }

  /** Distinct servers that follow (direction 1) or precede (-1) `member`'s positions. */
  neighbours(member: string, direction: 1 | -1): string[] {
    const total = this.positions.length;
    const found: string[] = [];
    for (let i = 0; i < total; i++) {
      if (this.positions[i]!.member !== member) continue;
      for (let step = 1; step < total; step++) {
        const other = this.positions[(i + direction * step + total * step) % total]!.member;
        if (other === member) break;
        if (!found.includes(other)) found.push(other);
        break;
      }
    }
    return found;
  }
}

/**
 * Which owners must gain a copy of an object, comparing the owner lists of
 * two ring views: the servers in `after` that were not in `before`.
 */
export function ownersGained(before: readonly string[], after: readonly string[]): string[] {
  return after.filter((member) => !before.includes(member));
}
