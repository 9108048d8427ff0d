/**
 * How a joining server chooses its salts (token allocation), and the
 * figures that say how balanced a ring is. Pure.
 *
 * The placement rule itself does not change (docs/PROTOCOL.md, "Ring"): a
 * position is hash(host:port, salt) and a hash belongs to the first
 * position at or after it. The original design leaves the salts to each
 * server ("salts are hashes"; they exist "to aid load-balancing"), and every
 * party learns them from GETS, SADD and MEMB, so a server may choose them as
 * it likes and everybody still computes the same owners. Salts 0 … n-1
 * (random positions) leave the busiest of 1 000 servers with 1.75× the mean
 * share at 32 positions each. Instead a joining server draws many candidate
 * salts and keeps, one at a time, the candidate whose position takes the
 * most useful piece of keyspace: the choice that most lowers the weighted
 * squared deviation of every server's share from its fair share (its number
 * of positions over the ring's). Existing rings and their data stay where
 * they are: nothing but the joiner's own choice changes.
 *
 * @module
 */

import { objectHash } from "./hash.ts";
import { Ring, type RingMember } from "./ring.ts";

/** Candidate salts a joining server weighs per position it takes. */
export const candidatesPerPosition = 64;

const keyspace = 2 ** 32;

/**
 * A ring being grown one server at a time, with each server's share of the
 * keyspace kept up to date, counting every one of the R copies (what it
 * stores). Servers choose salts against it.
 */
export class Allocation {
  /** Position hashes, ascending, and the index of each one's server. */
  readonly #hashes: number[] = [];
  readonly #owners: number[] = [];
  readonly #ids: string[] = [];
  readonly #index = new Map<string, number>();
  /** Keyspace (in hashes, times copies) each server keeps, and its position count. */
  readonly #loads: number[] = [];
  readonly #counts: number[] = [];
  /** Keyspace (in hashes) each server is primary of. */
  readonly #primary: number[] = [];
  readonly #replicas: number;
  #totalCount = 0;
  #servers = 0;

  /** A ring of `members` (their salts as given) keeping `replicas` copies. */
  constructor(members: readonly RingMember[] = [], replicas = 2) {
    this.#replicas = replicas;
    const ring = new Ring(members);
    for (const id of ring.members) this.#member(id);
    this.#servers = ring.members.length;
    for (let i = 0; i < ring.size; i++) {
      this.#hashes.push(ring.hashAt(i));
      const owner = this.#index.get(ring.memberAt(i))!;
      this.#owners.push(owner);
      this.#counts[owner]!++;
      this.#totalCount++;
    }
    for (const [id, share] of shares(ring, replicas)) {
      this.#loads[this.#index.get(id)!] = share * keyspace;
    }
    for (const [id, share] of shares(ring, 1)) {
      this.#primary[this.#index.get(id)!] = share * keyspace;
    }
  }

  #member(id: string): number {
    let index = this.#index.get(id);
    if (index === undefined) {
      index = this.#ids.length;
      this.#ids.push(id);
      this.#index.set(id, index);
      this.#loads.push(0);
      this.#primary.push(0);
      this.#counts.push(0);
    }
    return index;
  }

  /** Index of the first position at or after `hash` (may be the length: wrap). */
  #search(hash: number): number {
    let low = 0;
    let high = this.#hashes.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#hashes[middle]! < hash) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /**
   * The owners of the arc ending at position `j`, walking forward; with
   * `self` set, that server is met in the gap before position `at` (`gap`
   * steps after `j`). Also says whether the walk needed the gap.
   */
  #walk(j: number, wanted: number, gap: number, self: number): [number[], boolean] {
    const total = this.#hashes.length;
    const found: number[] = [];
    let crossed = false;
    for (let step = 0; step < total && found.length < wanted; step++) {
      if (step === gap) {
        crossed = true;
        if (self >= 0 && !found.includes(self)) found.push(self);
        if (found.length >= wanted) break;
      }
      const owner = this.#owners[(j + step) % total]!;
      if (!found.includes(owner)) found.push(owner);
    }
    if (!crossed && found.length < wanted && self >= 0) found.push(self);
    return [found, crossed || found.length < wanted];
  }

  /**
   * What inserting a position of `self` at `hash` changes: pairs of a
   * server and the keyspace (in hashes) it gains (negative: loses).
   */
  #delta(hash: number, self: number): [number, number][] {
    const total = this.#hashes.length;
    const changes: [number, number][] = [];
    const add = (before: number[], after: number[], arc: number) => {
      for (const m of after) if (!before.includes(m)) changes.push([m, arc]);
      for (const m of before) if (!after.includes(m)) changes.push([m, -arc]);
    };
    const selfIsNew = this.#counts[self] === 0;
    const servers = this.#servers + (selfIsNew ? 1 : 0);
    const wanted = Math.min(this.#replicas, servers);
    const wantedBefore = Math.min(this.#replicas, this.#servers);
    const at = this.#search(hash) % total;
    const previous = this.#hashes[(at - 1 + total) % total]!;
    // The arc the new position splits: its first part is now the new position's.
    const split = (hash - previous + keyspace) % keyspace;
    const before = this.#walk(at, wantedBefore, -1, -1)[0];
    add(before, this.#walk(at, wanted, 0, self)[0], split);
    if (wanted !== wantedBefore) {
      // A ring of fewer than R servers: the new one keeps a copy of everything.
      const arc = total === 1 ? keyspace : (this.#hashes[at]! - previous + keyspace) % keyspace;
      add(before, this.#walk(at, wanted, total, self)[0], arc - split);
    }
    // The arcs before it whose owners walk through the gap.
    for (let back = 1; back < total; back++) {
      const j = (at - back + total) % total;
      const [before, crossed] = this.#walk(j, wantedBefore, back, -1);
      if (!crossed && wanted === wantedBefore) break;
      const arc = (this.#hashes[j]! - this.#hashes[(j - 1 + total) % total]! + keyspace) %
        keyspace;
      add(before, this.#walk(j, wanted, back, self)[0], arc);
    }
    return changes;
  }

  /** The primary's keyspace a position of `self` at `hash` takes, and from whom. */
  #primaryDelta(hash: number): [number, number] {
    const total = this.#hashes.length;
    const at = this.#search(hash) % total;
    const previous = this.#hashes[(at - 1 + total) % total]!;
    return [this.#owners[at]!, (hash - previous + keyspace) % keyspace];
  }

  /**
   * Chooses `count` salts for server `id` (not in the ring yet) and adds it
   * with them. On an empty ring the salts are 0 … count-1.
   */
  join(id: string, count: number): number[] {
    const salts = this.choose(id, count);
    this.add({ id, salts });
    return salts;
  }

  /** Adds a server with the salts it announced. */
  add(member: RingMember): void {
    const owner = this.#member(member.id);
    for (const salt of member.salts) this.#insert(objectHash(member.id, salt), owner);
  }

  #insert(hash: number, owner: number): void {
    if (this.#hashes.length === 0) {
      this.#hashes.push(hash);
      this.#owners.push(owner);
      this.#loads[owner] = keyspace;
      this.#primary[owner] = keyspace;
    } else {
      const [victim, taken] = this.#primaryDelta(hash);
      this.#primary[victim]! -= taken;
      this.#primary[owner]! += taken;
      for (const [member, change] of this.#delta(hash, owner)) this.#loads[member]! += change;
      const at = this.#search(hash);
      this.#hashes.splice(at, 0, hash);
      this.#owners.splice(at, 0, owner);
    }
    if (this.#counts[owner] === 0) this.#servers++;
    this.#counts[owner]!++;
    this.#totalCount++;
  }

  #remove(hash: number, owner: number): void {
    let at = this.#search(hash);
    while (this.#owners[at] !== owner) at++;
    this.#hashes.splice(at, 1);
    this.#owners.splice(at, 1);
    this.#counts[owner]!--;
    this.#totalCount--;
    if (this.#counts[owner] === 0) this.#servers--;
    if (this.#hashes.length === 0) {
      this.#loads[owner] = 0;
      this.#primary[owner] = 0;
      return;
    }
    const [victim, taken] = this.#primaryDelta(hash);
    this.#primary[victim]! += taken;
    this.#primary[owner]! -= taken;
    // Undo: the changes inserting it again would make, reversed.
    for (const [member, change] of this.#delta(hash, owner)) this.#loads[member]! -= change;
  }

  /** Each server's kept keyspace, as a fraction (shares() with this R). */
  loads(): Map<string, number> {
    return new Map(
      this.#ids.filter((_, i) => this.#counts[i]! > 0).map((id) => [
        id,
        this.#loads[this.#index.get(id)!]! / keyspace,
      ]),
    );
  }

  /** The salts server `id` would take (the ring is left as it is). */
  choose(id: string, count: number): number[] {
    if (this.#hashes.length === 0) return Array.from({ length: count }, (_, i) => i);
    const self = this.#member(id);
    const candidates = Array.from(
      { length: count * candidatesPerPosition },
      (_, salt) => ({ salt, hash: objectHash(id, salt) }),
    );
    const chosen: number[] = [];
    const copies = Math.min(this.#replicas, this.#servers + 1);
    const fair = copies * keyspace / (this.#totalCount + count - this.#counts[self]!);
    const fairPrimary = keyspace / (this.#totalCount + count - this.#counts[self]!);
    // Each position should take one position's fair share: the joiner's
    // target grows by one position per round (weighted squared deviation).
    const cost = (load: number, positions: number, fairShare: number) =>
      positions === 0 ? 0 : (load - positions * fairShare) ** 2 / positions;
    // Trial insertions go into the real tables and come out again.
    const inserted: number[] = [];
    for (let round = 0; round < count; round++) {
      let best = -1;
      let bestGain = -Infinity;
      for (let c = 0; c < candidates.length; c++) {
        const candidate = candidates[c]!;
        if (candidate.salt < 0) continue;
        const [victim, taken] = this.#primaryDelta(candidate.hash);
        if (victim === self) continue;
        const selfCount = this.#counts[self]!;
        const victimCount = this.#counts[victim]!;
        let gain = copies ** 2 * (
          cost(this.#primary[victim]!, victimCount, fairPrimary) +
          cost(this.#primary[self]!, selfCount, fairPrimary) -
          cost(this.#primary[victim]! - taken, victimCount, fairPrimary) -
          cost(this.#primary[self]! + taken, selfCount + 1, fairPrimary)
        );
        const seen = new Map<number, number>();
        for (const [member, change] of this.#delta(candidate.hash, self)) {
          seen.set(member, (seen.get(member) ?? 0) + change);
        }
        if (!seen.has(self)) seen.set(self, 0);
        for (const [member, change] of seen) {
          const load = this.#loads[member]!;
          const positions = this.#counts[member]!;
          const after = member === self ? positions + 1 : positions;
          gain += cost(load, positions, fair) - cost(load + change, after, fair);
        }
        if (gain > bestGain) {
          bestGain = gain;
          best = c;
        }
      }
      if (best < 0) break;
      const pick = candidates[best]!;
      chosen.push(pick.salt);
      inserted.push(pick.hash);
      this.#insert(pick.hash, self);
      candidates[best] = { salt: -1, hash: 0 };
    }
    for (const hash of inserted.reverse()) this.#remove(hash, self);
    return chosen.sort((a, b) => a - b);
  }
}

/**
 * Salts for server `id` joining the ring of `members`: `count` positions
 * placed by {@linkcode Allocation}.
 */
export function allocateSalts(
  members: readonly RingMember[],
  id: string,
  count: number,
): number[] {
  return new Allocation(members.filter((m) => m.id !== id)).choose(id, count);
}

/**
 * The share of the keyspace each member keeps, as a fraction of it: as
 * primary (`replicas` 1) or counting every copy (`replicas` R, shares then
 * sum to R). Exact: owners are constant between consecutive positions.
 */
export function shares(ring: Ring, replicas: number): Map<string, number> {
  const result = new Map(ring.members.map((id) => [id, 0]));
  const total = ring.size;
  for (let i = 0; i < total; i++) {
    const previous = ring.hashAt((i - 1 + total) % total);
    const arc = total === 1 ? keyspace : (ring.hashAt(i) - previous + keyspace) % keyspace;
    if (arc === 0) continue;
    for (const id of ring.owners(ring.hashAt(i), replicas)) {
      result.set(id, result.get(id)! + arc / keyspace);
    }
  }
  return result;
}

/**
 * The fraction of the keyspace that gains a copy going from ring `before`
 * to ring `after` with R = `replicas` (what repair must copy, over one
 * object's worth of everything). Exact, over the union of both rings'
 * positions.
 */
export function moved(before: Ring, after: Ring, replicas: number): number {
  const hashes = new Set<number>();
  for (let i = 0; i < before.size; i++) hashes.add(before.hashAt(i));
  for (let i = 0; i < after.size; i++) hashes.add(after.hashAt(i));
  const sorted = Float64Array.from(hashes).sort();
  let gained = 0;
  for (let i = 0; i < sorted.length; i++) {
    const hash = sorted[i]!;
    const previous = sorted[(i - 1 + sorted.length) % sorted.length]!;
    const arc = sorted.length === 1 ? keyspace : (hash - previous + keyspace) % keyspace;
    const old = before.owners(hash, replicas);
    for (const id of after.owners(hash, replicas)) if (!old.includes(id)) gained += arc;
  }
  return gained / keyspace;
}
