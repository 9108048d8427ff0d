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

/**
 * An immutable view of the ring built from its live members. Positions are
 * kept in typed arrays (a hash and a member index each, 8 bytes), so a ring
 * of 10 000 servers at the default positions fits in well under 1 MB.
 */
export class Ring {
  /** Member ids, sorted. */
  readonly members: readonly string[];
  /** Position hashes, ascending. */
  readonly #hashes: Uint32Array;
  /** Index into `members` of each position's server. */
  readonly #owners: Uint32Array;
  #positions: readonly Position[] | undefined;

  /** Builds the ring; duplicate positions are ordered by member id. */
  constructor(members: readonly RingMember[]) {
    const ids = [...new Set(members.map((m) => m.id))].sort();
    const index = new Map(ids.map((id, i) => [id, i]));
    const entries: [number, number][] = [];
    for (const member of members) {
      const owner = index.get(member.id)!;
      for (const salt of member.salts) entries.push([objectHash(member.id, salt), owner]);
    }
    // Member indices follow the sorted ids, so ties order by member id.
    entries.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    this.members = ids;
    this.#hashes = Uint32Array.from(entries, (e) => e[0]);
    this.#owners = Uint32Array.from(entries, (e) => e[1]);
  }

  /** How many positions the ring has. */
  get size(): number {
    return this.#hashes.length;
  }

  /** Bytes the ring's position tables take (for the membership memory figure). */
  get tableBytes(): number {
    return this.#hashes.byteLength + this.#owners.byteLength;
  }

  /** Every position, ascending (built on first use: for display and tests). */
  get positions(): readonly Position[] {
    this.#positions ??= Array.from(this.#hashes, (hash, i) => ({
      hash,
      member: this.members[this.#owners[i]!]!,
    }));
    return this.#positions;
  }

  /** The hash of position `i` (0 … size-1). */
  hashAt(i: number): number {
    return this.#hashes[i]!;
  }

  /** The server of position `i` (0 … size-1). */
  memberAt(i: number): string {
    return this.members[this.#owners[i]!]!;
  }

  /** Index of the first position at or after `hash`, wrapping to 0. */
  #firstAtOrAfter(hash: number): number {
    const hashes = this.#hashes;
    let low = 0;
    let high = hashes.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (hashes[middle]! < hash) low = middle + 1;
      else high = middle;
    }
    return low === hashes.length ? 0 : low;
  }

  /**
   * The servers that keep `hash`: the owner first, then the next distinct
   * servers, `count` in all (fewer when the ring has fewer servers).
   */
  owners(hash: number, count: number): string[] {
    const owners: string[] = [];
    const total = this.#hashes.length;
    if (total === 0) return owners;
    const wanted = Math.min(count, this.members.length);
    const found: number[] = [];
    const start = this.#firstAtOrAfter(hash >>> 0);
    for (let step = 0; step < total && found.length < wanted; step++) {
      const at = start + step;
      const member = this.#owners[at < total ? at : at - total]!;
      if (!found.includes(member)) found.push(member);
    }
    for (const member of found) owners.push(this.members[member]!);
    return owners;
  }

  /** The owner of `hash` (first position at or after it), or undefined on an empty ring. */
  primary(hash: number): string | undefined {
    if (this.#hashes.length === 0) return undefined;
    return this.members[this.#owners[this.#firstAtOrAfter(hash >>> 0)]!];
  }

  /** Distinct servers that follow (direction 1) or precede (-1) `member`'s positions. */
  neighbours(member: string, direction: 1 | -1): string[] {
    const total = this.#hashes.length;
    const self = this.members.indexOf(member);
    const found: string[] = [];
    if (self < 0) return found;
    for (let i = 0; i < total; i++) {
      if (this.#owners[i] !== self) continue;
      const other = this.#owners[(i + direction + total) % total]!;
      if (other === self) continue;
      const id = this.members[other]!;
      if (!found.includes(id)) found.push(id);
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
