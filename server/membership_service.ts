/**
 * Membership as one server runs it: the members table and the ring it
 * implies, gossip (MEMB), failure detection (heartbeat, PROB as an indirect
 * ping, SUCC), and the join crawl (GETS, then SADD). How records merge is
 * decided by the pure membership.ts; this module keeps the table, persists
 * it and talks to the peers. Other parts of the server reach peers through
 * {@linkcode Membership.peerFailed} when a request fails, and learn of ring
 * changes through the `onRingChange` callback.
 *
 * @module
 */

import { ConnectionError } from "../protocol/connection.ts";
import {
  ack,
  memberFields,
  parseMembers,
  parseServers,
  type Reply,
  serverFields,
} from "../protocol/message.ts";
import {
  deadMemberKeepMs,
  gossipBytesMax,
  heartbeatMissesMax,
  indirectProbesMax,
  pingTimeoutMs,
  probeTimeoutMs,
  ringPositionsMax,
} from "../limits.ts";
import {
  forgottenMembers,
  fullRingOf,
  gossipRecords,
  type Member,
  mergeMembers,
  ownersAllDead,
  ringOf,
  toMember,
} from "./membership.ts";
import { type PeerTransport, splitId } from "./peers.ts";
import { allocateSalts } from "../protocol/placement.ts";
import { defaultSalts, memberId, type Ring } from "../protocol/ring.ts";
import type { Store } from "./store.ts";

/** A server's address and one of its ring positions, as GETS and SADD carry them. */
export interface ServerRecord {
  readonly host: string;
  readonly port: number;
  readonly salt: number;
}

/** What {@linkcode Membership} needs. */
export interface MembershipOptions {
  /** Address other servers reach this one at. */
  readonly host: string;
  readonly port: number;
  /** Ring positions of this server. */
  readonly vnodes: number;
  /** A server of the ring to join. */
  readonly join?: { readonly host: string; readonly port: number };
  /** Where the members table persists. */
  readonly store: Pick<Store, "members" | "saveMembers" | "forgetMembers">;
  /** Milliseconds since the epoch (when members die, and when they are forgotten). */
  readonly now: () => number;
  readonly transport: PeerTransport;
  readonly log: (message: string) => void;
  /** Called after the ring changed (a member joined, died or came back). */
  readonly onRingChange: () => void;
}

/** The members table of one server, and the protocol that keeps it current. */
export class Membership {
  /** This server's `host:port`. */
  readonly id: string;
  readonly #options: MembershipOptions;
  readonly #peers: PeerTransport;
  readonly #log: (message: string) => void;
  readonly #members = new Map<string, Member>();
  #ring: Ring;
  /** The ring of every member, the dead too (built when first asked after a change). */
  #fullRing: Ring | null = null;
  /** Missed heartbeats of members not yet declared dead. */
  readonly #suspects = new Map<string, number>();
  #peerCursor = 0;
  #gossipCursor = 0;
  /** Where the next MEMB's share of the table starts (gossipRecords). */
  #recordsCursor = 0;
  /** No positions kept from an earlier run: {@linkcode join} allocates them. */
  #allocate = false;

  /** An empty table; {@linkcode load} fills it. */
  constructor(options: MembershipOptions) {
    this.#options = options;
    this.id = memberId(options.host, options.port);
    this.#peers = options.transport;
    this.#log = options.log;
    this.#ring = ringOf(this.#members);
  }

  /** The live members' ring. */
  get ring(): Ring {
    return this.#ring;
  }

  /**
   * True when every server that owned `hash` among `count` copies, on the
   * ring of all members known (the dead too), is declared dead: a read that
   * found no copy must say `unavailable`, not `not-found`.
   */
  ownersDead(hash: number, count: number): boolean {
    this.#fullRing ??= fullRingOf(this.#members);
    return ownersAllDead(this.#members, this.#fullRing, { hash, count });
  }

  /** This server's own record (after {@linkcode load}). */
  get self(): Member {
    return this.#members.get(this.id)!;
  }

  /** Every member known, alive or dead. */
  members(): Member[] {
    return [...this.#members.values()];
  }

  /** Members that missed heartbeats and are not declared dead (yet). */
  suspected(): string[] {
    return [...this.#suspects.keys()];
  }

  /** Loads the persisted table and enters this server with a new incarnation. */
  load(): void {
    const now = this.#options.now();
    for (const member of this.#options.store.members()) {
      // Dead since a time this server no longer knows: counted from now.
      const dead = !member.alive && member.deadSinceMs === undefined;
      this.#members.set(member.id, dead ? { ...member, deadSinceMs: now } : member);
    }
    const previous = this.#members.get(this.id);
    // A restart keeps its positions (its data stays where it is); a new
    // server, or one started with another --vnodes, gets new ones at join.
    const kept = previous?.salts.length === this.#options.vnodes ? previous.salts : undefined;
    this.#allocate = kept === undefined;
    const self: Member = {
      id: this.id,
      host: this.#options.host,
      port: this.#options.port,
      incarnation: (previous?.incarnation ?? 0) + 1,
      alive: true,
      salts: kept ?? defaultSalts(this.#options.vnodes),
    };
    this.#setMembers([self]);
  }

  /** The live members, this server included, by id. */
  aliveMembers(): Member[] {
    return [...this.#members.values()].filter((m) => m.alive).sort((
      a,
      b,
    ) => (a.id < b.id ? -1 : 1));
  }

  /** Ids of the live members other than this server, sorted. */
  alivePeers(): string[] {
    return this.aliveMembers().map((m) => m.id).filter((id) => id !== this.id);
  }

  /** Peers in a rotating order, so that forwarded work spreads evenly. */
  peerOrder(): string[] {
    const peers = this.alivePeers();
    if (peers.length === 0) return peers;
    const start = this.#peerCursor++ % peers.length;
    return [...peers.slice(start), ...peers.slice(0, start)];
  }

  // ---------------------------------------------------------------- handlers

  /** GETS: every position of every live member. */
  servers(): Reply {
    return ack(...this.aliveMembers().flatMap(memberServerFields));
  }

  /** SADD: adds servers not known yet (a known one is updated by gossip only). */
  addServers(records: readonly ServerRecord[]): Reply {
    const grouped = new Map<string, Member>();
    for (const record of records) {
      const id = memberId(record.host, record.port);
      const member = grouped.get(id) ??
        { id, host: record.host, port: record.port, incarnation: 0, alive: true, salts: [] };
      grouped.set(id, { ...member, salts: [...member.salts, record.salt] });
    }
    this.#setMembers([...grouped.values()].filter((member) => !this.#members.has(member.id)));
    return ack();
  }

  /**
   * MEMB: merges a peer's records and answers with this table: all of it
   * when it fits in a frame, else this server's record and a rotating
   * share of the others (gossipRecords).
   */
  gossip(incoming: readonly Member[]): Reply {
    this.#mergeMembers(incoming);
    return ack(...this.#gossipRecords().flatMap(memberFields));
  }

  /** The records of the next MEMB this server sends or answers. */
  #gossipRecords(): Member[] {
    return gossipRecords(this.#members, {
      self: this.id,
      cursor: this.#recordsCursor++,
      bytesMax: gossipBytesMax,
    });
  }

  /** SUCC: checks the member said to be dead, or the neighbours when none is named. */
  async successorDied(dead?: { host: string; port: number }): Promise<Reply> {
    if (dead) {
      const id = memberId(dead.host, dead.port);
      if (id !== this.id && !(await this.#ping(id))) this.#declareDead(id);
    } else {
      await this.heartbeat();
    }
    return ack();
  }

  /** PROB: can this server reach `id`? (Asked by a member that cannot.) */
  async probe(id: string): Promise<Reply> {
    if (id === this.id) return ack("alive");
    return ack(await this.#ping(id) ? "alive" : "dead");
  }

  // ---------------------------------------------------------------- table

  #setMembers(members: readonly Member[]): void {
    if (members.length === 0) return;
    for (const member of members) this.#members.set(member.id, member);
    this.#fullRing = null;
    this.#options.store.saveMembers(members);
    const before = this.#ring;
    this.#ring = ringOf(this.#members);
    if (
      before.positions.length !== this.#ring.positions.length ||
      before.members.join() !== this.#ring.members.join()
    ) {
      this.#log(`ring: ${this.#ring.members.join(", ")}`);
      this.#options.onRingChange();
    }
  }

  #mergeMembers(incoming: readonly Member[]): void {
    const result = mergeMembers(this.#members, incoming, this.id, { nowMs: this.#options.now() });
    if (result.refuteIncarnation !== undefined) {
      this.#log(`refuting my death: incarnation ${result.refuteIncarnation}`);
    }
    this.#setMembers(result.changed);
  }

  // ---------------------------------------------------------------- failure detection

  /** Exchanges membership with a peer; false when it does not answer. */
  async #ping(id: string): Promise<boolean> {
    try {
      const reply = await this.#peers.request(id, {
        command: "MEMB",
        members: this.#gossipRecords(),
      }, pingTimeoutMs);
      if (reply.ok) this.#mergeMembers(parseMembers(reply.fields).map(toMember));
      this.#suspects.delete(id);
      return true;
    } catch {
      return false;
    }
  }

  #declareDead(id: string): void {
    const member = this.#members.get(id);
    if (!member || !member.alive || id === this.id) return;
    this.#log(`declaring ${id} dead`);
    this.#peers.forget(id);
    this.#suspects.delete(id);
    this.#setMembers([{ ...member, alive: false, deadSinceMs: this.#options.now() }]);
    for (const peer of this.alivePeers()) void this.#ping(peer);
  }

  /**
   * A request to a peer failed. A refused connection means its process is
   * gone: dead at once. Anything else (a timeout, a reset) may be this
   * server's own trouble: the peer is declared dead only if it does not
   * answer a ping and other members cannot reach it either.
   *
   * @throws {unknown} `error` itself when it is not a {@linkcode ConnectionError}.
   */
  async peerFailed(id: string, error: unknown): Promise<void> {
    if (!(error instanceof ConnectionError)) throw error;
    if (error.code === "connect" && /refused/i.test(error.message)) return this.#declareDead(id);
    if (await this.#ping(id)) return;
    if (await this.#othersReach(id) === false) this.#declareDead(id);
  }

  /**
   * Asks up to three other members to reach `id` (SWIM's indirect ping):
   * true when one can, false when those that answer cannot, null when none
   * answers — then this server is probably the one cut off, and declares
   * nobody dead. In a ring of two there is nobody to ask: false.
   */
  async #othersReach(id: string): Promise<boolean | null> {
    const helpers = this.peerOrder().filter((peer) => peer !== id).slice(0, indirectProbesMax);
    if (helpers.length === 0) return false;
    const { host, port } = splitId(id);
    const verdicts = await Promise.all(helpers.map(async (helper) => {
      try {
        const reply = await this.#peers.request(
          helper,
          { command: "PROB", host, port },
          probeTimeoutMs,
        );
        return reply.ok ? reply.fields[0] === "alive" : null;
      } catch {
        return null;
      }
    }));
    if (verdicts.includes(true)) return true;
    return verdicts.includes(false) ? false : null;
  }

  /**
   * Forgets the members dead for `deadMemberKeepMs` or longer (a member
   * that comes back joins or gossips its way in again).
   */
  #forgetDead(): void {
    const ids = forgottenMembers(this.#members, {
      nowMs: this.#options.now(),
      keepMs: deadMemberKeepMs,
    });
    if (ids.length === 0) return;
    this.#fullRing = null;
    for (const id of ids) {
      this.#members.delete(id);
      this.#suspects.delete(id);
    }
    this.#options.store.forgetMembers(ids);
    this.#log(`forgetting ${ids.join(", ")}: dead for ${deadMemberKeepMs} ms`);
  }

  /**
   * Checks ring neighbours, gossips with one more member, probes one dead
   * member, and forgets members dead for long.
   */
  async heartbeat(): Promise<void> {
    this.#forgetDead();
    const neighbours = new Set([
      ...this.#ring.neighbours(this.id, 1),
      ...this.#ring.neighbours(this.id, -1),
    ]);
    const others = this.alivePeers().filter((id) => !neighbours.has(id));
    if (others.length > 0) neighbours.add(others[this.#gossipCursor % others.length]!);
    const dead = [...this.#members.values()].filter((m) => !m.alive).map((m) => m.id);
    const probe = dead.length > 0 ? dead[this.#gossipCursor % dead.length] : undefined;
    this.#gossipCursor++;
    await Promise.all([...neighbours].map(async (id) => {
      if (await this.#ping(id)) return;
      const misses = (this.#suspects.get(id) ?? 0) + 1;
      this.#suspects.set(id, misses);
      if (misses < heartbeatMissesMax) return;
      const reached = await this.#othersReach(id);
      if (reached === false) this.#declareDead(id);
      else if (reached === null) {
        this.#log(`${id} does not answer, nor does anyone else: not declaring it dead`);
      } else this.#suspects.delete(id);
    }));
    if (probe) await this.#ping(probe);
  }

  // ---------------------------------------------------------------- join

  /**
   * Crawls GETS from every server it learns of, then announces itself.
   * Known members that do not answer are marked dead: after a restart of
   * the whole ring the first server up must not wait for the others.
   *
   * @throws {Error} when a ring to join was given and none of it answers, or the ring would have too many positions.
   */
  async join(): Promise<void> {
    const target = this.#options.join
      ? memberId(this.#options.join.host, this.#options.join.port)
      : undefined;
    const seeds = new Set(this.alivePeers());
    if (target) seeds.add(target);
    seeds.delete(this.id);
    if (seeds.size === 0) return;
    const visited = new Set<string>([this.id]);
    const reached = new Set<string>();
    const queue = [...seeds];
    while (queue.length > 0) {
      const id = queue.shift()!;
      if (visited.has(id)) continue;
      visited.add(id);
      const servers = await this.#crawl(id);
      if (!servers) continue;
      reached.add(id);
      this.addServers(servers);
      for (const server of servers) queue.push(memberId(server.host, server.port));
    }
    if (target && reached.size === 0) {
      // A ConnectionError: the process exits 3 (unreachable), as the runner and the client do.
      throw new ConnectionError(
        "connect",
        `Cannot join the ring: none of ${[...seeds].join(", ")} answers`,
      );
    }
    for (const id of this.alivePeers()) if (!reached.has(id)) this.#declareDead(id);
    if (this.#allocate) {
      // The crawl's MEMB told the ring of the default positions: the chosen
      // ones go out with a higher incarnation, which supersedes them.
      const others = this.aliveMembers().filter((m) => m.id !== this.id);
      const salts = allocateSalts(others, this.id, this.#options.vnodes);
      this.#setMembers([{ ...this.self, incarnation: this.self.incarnation + 1, salts }]);
      this.#allocate = false;
    }
    const positions = this.#ring.positions.length;
    if (positions > ringPositionsMax) {
      throw new Error(
        `Cannot join the ring: it would have ${positions} positions, more than the ${ringPositionsMax} a GETS reply can list; start this server with fewer --vnodes`,
      );
    }
    const self = this.self;
    const announce = self.salts.map((salt) => ({ host: self.host, port: self.port, salt }));
    await Promise.all(
      this.alivePeers().map(async (id) => {
        try {
          await this.#peers.request(id, { command: "SADD", servers: announce });
        } catch {
          // A peer that does not answer is found dead by the heartbeat.
        }
        await this.#ping(id);
      }),
    );
  }

  async #crawl(id: string): Promise<ServerRecord[] | null> {
    try {
      const reply = await this.#peers.request(id, { command: "GETS" });
      if (!reply.ok) return null;
      await this.#ping(id);
      return parseServers(reply.fields);
    } catch {
      return null;
    }
  }
}

function memberServerFields(member: Member): string[] {
  return member.salts.flatMap((salt) =>
    serverFields({ host: member.host, port: member.port, salt })
  );
}
