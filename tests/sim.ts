/**
 * A deterministic in-memory world for the real {@linkcode Node} code: a
 * seeded random source, a virtual clock with a timer queue, an in-memory
 * network (with latency, dropped messages, partitions and refused
 * connections) and a cluster of nodes that can be killed and restarted on
 * the store they had. tests/sim_workload.ts drives it; simulation_test.ts
 * runs it for many seeds.
 *
 * How a run stays decided by its seed alone:
 *
 * - Every timer a node sets goes through its {@linkcode Clock}, which puts it
 *   in one queue ordered by (due time, a random rank drawn when it was set,
 *   sequence number): equal due times fire in a seed-chosen order.
 * - Every message goes through {@linkcode Network}, which delivers it with a
 *   timer of that queue after a seeded latency, or drops it.
 * - {@linkcode Scheduler.runUntil} fires one timer at a time, then waits
 *   until the program is quiescent before firing the next. Within a step,
 *   promise reactions run in an order fixed by the program itself; the only
 *   other task source is the store's commit (node:timers setImmediate, FIFO).
 *   {@linkcode Scheduler.settle} waits out commits with setImmediate rounds
 *   and counts store writes (through {@linkcode SimStore}) to know when no
 *   commit can be pending: a round ends quiet when nothing was written since
 *   the round before it began. Then the microtask queue is empty, no commit
 *   is pending, and the only future work is in the virtual timer queue.
 *   Nothing reads the real clock and there is no real I/O, so the same seed
 *   gives the same run (simulation_test.ts checks it). Server code that
 *   called the global timers or Date.now instead of its Clock, or did real
 *   I/O, would break this.
 * - A killed server is cut off like SIGKILL: its timers never fire, replies
 *   to it are dropped, requests it was serving fail with a closed
 *   connection, and whatever it was awaiting never resolves, so it never
 *   runs again. Its store stays; a restart opens a new Node on it.
 *
 * {@linkcode createWorld} builds the same pieces for scripted scenarios
 * (sim_scenarios_test.ts), with {@linkcode NetworkConditions.lose} to lose
 * chosen messages.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { ConnectionError } from "../protocol/connection.ts";
import { encodeFrame, FrameDecoder } from "../protocol/frame.ts";
import {
  decodePayload,
  encodeReply,
  encodeRequest,
  nack,
  parseReply,
  parseRequest,
  ProtocolError,
  type Reply,
  type Request,
} from "../protocol/message.ts";
import { sha256Hex } from "../protocol/digest.ts";
import { peerRequestTimeoutMs } from "../limits.ts";
import type { Clock } from "../server/clock.ts";
import { Node } from "../server/node.ts";
import type { Session } from "../server/session.ts";
import type { PeerTransport } from "../server/peers.ts";
import { Store } from "../server/store.ts";
import { type StoredObject, versionOf } from "../server/objects.ts";

// ------------------------------------------------------------------ random

/** A small seeded generator (xorshift32 over a scrambled seed). */
export class Random {
  #state: number;

  /** Any integer seed; equal seeds give equal sequences. */
  constructor(seed: number) {
    let state = (Math.imul(seed >>> 0, 0x9e3779b1) ^ 0x5bd1e995) >>> 0;
    if (state === 0) state = 0x12345678;
    this.#state = state;
    for (let i = 0; i < 8; i++) this.#step();
  }

  #step(): number {
    let x = this.#state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#state = x >>> 0;
    return this.#state;
  }

  /** A number in [0, 1). */
  next(): number {
    return this.#step() / 4294967296;
  }

  /** An integer in [low, high] (both included). */
  int(low: number, high: number): number {
    return low + Math.floor(this.next() * (high - low + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("Cannot pick from an empty list");
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** Some elements of an array, at most `count`, without repeats, in random order. */
  sample<T>(items: readonly T[], count: number): T[] {
    const pool = [...items];
    const chosen: T[] = [];
    while (pool.length > 0 && chosen.length < count) {
      chosen.push(pool.splice(Math.floor(this.next() * pool.length), 1)[0]!);
    }
    return chosen;
  }
}

// ------------------------------------------------------------------ time

/** Something that owns timers: when it dies, its timers never fire again. */
export interface Owner {
  alive: boolean;
}

interface Timer {
  readonly id: number;
  due: number;
  rank: number;
  seq: number;
  readonly owner: Owner;
  readonly callback: () => void;
  readonly intervalMs: number | null;
  cancelled: boolean;
}

function before(a: Timer, b: Timer): boolean {
  if (a.due !== b.due) return a.due < b.due;
  if (a.rank !== b.rank) return a.rank < b.rank;
  return a.seq < b.seq;
}

/** A binary min-heap of timers. */
class TimerQueue {
  readonly #heap: Timer[] = [];

  get size(): number {
    return this.#heap.length;
  }

  peek(): Timer | undefined {
    return this.#heap[0];
  }

  push(timer: Timer): void {
    const heap = this.#heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  pop(): Timer | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length === 0 || last === undefined) return top;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && before(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && before(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === i) break;
      [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
      i = smallest;
    }
    return top;
  }
}

const immediate = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Virtual time, its timer queue, and the loop that advances it. */
export class Scheduler {
  /** Virtual wall-clock time (ms since the epoch). */
  now: number;
  /** Store writes so far (see {@linkcode SimStore}); settle() watches it. */
  writes = 0;
  /** Timers fired so far. */
  steps = 0;
  readonly #random: Random;
  readonly #queue = new TimerQueue();
  readonly #timers = new Map<number, Timer>();
  #nextId = 1;
  #seq = 0;
  /** Called with what a timer callback threw. */
  onError: (error: unknown) => void = (error) => {
    throw error;
  };

  /** `startMs` is the virtual time at the start. */
  constructor(random: Random, startMs: number) {
    this.#random = random;
    this.now = startMs;
  }

  /** Sets a timer owned by `owner`; returns its id. */
  set(owner: Owner, callback: () => void, ms: number, intervalMs: number | null = null): number {
    const timer: Timer = {
      id: this.#nextId++,
      due: this.now + Math.max(0, ms),
      rank: this.#random.next(),
      seq: this.#seq++,
      owner,
      callback,
      intervalMs: intervalMs === null ? null : Math.max(1, intervalMs),
      cancelled: false,
    };
    if (!owner.alive) return timer.id;
    this.#timers.set(timer.id, timer);
    this.#queue.push(timer);
    return timer.id;
  }

  /** Cancels a timer; unknown ids are ignored. */
  clear(id: number): void {
    const timer = this.#timers.get(id);
    if (!timer) return;
    timer.cancelled = true;
    this.#timers.delete(id);
  }

  /** A {@linkcode Clock} whose timers belong to `owner`. */
  clock(owner: Owner): Clock {
    return {
      now: () => this.now,
      setTimeout: (callback, ms) => this.set(owner, callback, ms),
      setInterval: (callback, ms) => this.set(owner, callback, ms, ms),
      clearTimer: (id) => this.clear(id),
    };
  }

  /** Resolves after `ms` of virtual time. */
  sleep(ms: number, owner: Owner = world): Promise<void> {
    return new Promise((resolve) => this.set(owner, resolve, ms));
  }

  /**
   * Fires timers in order until virtual time reaches `untilMs` or `done()`
   * holds, settling after each one.
   */
  async runUntil(untilMs: number, done: () => boolean = () => false): Promise<void> {
    await this.settle();
    for (;;) {
      if (done()) return;
      const top = this.#queue.peek();
      if (!top || top.due > untilMs) break;
      this.#queue.pop();
      if (top.cancelled || !top.owner.alive) {
        this.#timers.delete(top.id);
        continue;
      }
      this.now = Math.max(this.now, top.due);
      if (top.intervalMs === null) this.#timers.delete(top.id);
      else {
        top.due = this.now + top.intervalMs;
        top.rank = this.#random.next();
        top.seq = this.#seq++;
        this.#queue.push(top);
      }
      this.steps++;
      try {
        top.callback();
      } catch (error) {
        this.onError(error);
      }
      await this.settle();
    }
    this.now = Math.max(this.now, untilMs);
  }

  /**
   * Waits until nothing but virtual timers can run: setImmediate rounds
   * until one ends with no store write since the round before it began
   * (a write opens a commit that runs in the next round; a round with no
   * commit in it ends with the microtask queue empty).
   */
  async settle(): Promise<void> {
    let previous = this.writes;
    await immediate();
    for (;;) {
      const atStart = this.writes;
      await immediate();
      if (this.writes === previous) return;
      previous = atStart;
    }
  }
}

/** The owner of timers that never die (network deliveries, the workload). */
export const world: Owner = { alive: true };

// ------------------------------------------------------------------ store

/** Hooks of a {@linkcode SimStore}. */
export interface StoreHooks {
  /** Called before every write of an object, with the version stored until then. */
  onPut(store: SimStore, object: StoredObject, versionBefore: number): void;
  /** Called before an object is deleted. */
  onDelete(store: SimStore, hash: number): void;
  /** Called for every write (objects, members, settings). */
  onWrite(): void;
}

/**
 * An in-memory store that reports its writes: settle() counts them, and
 * the workload checks that no object's version ever goes down on a store.
 */
export class SimStore extends Store {
  readonly name: string;
  readonly #hooks: StoreHooks;

  /** A fresh ":memory:" store named after the node that uses it. */
  constructor(name: string, hooks: StoreHooks) {
    super(":memory:");
    this.name = name;
    this.#hooks = hooks;
  }

  override put(object: StoredObject, previous = this.get(object.hash)): void {
    this.#hooks.onWrite();
    this.#hooks.onPut(this, object, previous ? versionOf(previous.meta) : -1);
    super.put(object, previous);
  }

  override delete(hash: number): void {
    this.#hooks.onWrite();
    this.#hooks.onDelete(this, hash);
    super.delete(hash);
  }

  override transaction<T>(work: () => T): T {
    this.#hooks.onWrite();
    return super.transaction(work);
  }

  override setSetting(key: string, value: string): void {
    this.#hooks.onWrite();
    super.setSetting(key, value);
  }
}

// ------------------------------------------------------------------ network

/** One running process that sends requests: a node instance or a client. */
export interface Endpoint extends Owner {
  readonly id: string;
  readonly clock: Clock;
}

/** A node instance the network can deliver to. */
interface Server {
  readonly endpoint: Endpoint;
  readonly node: Node;
  /** Requests being handled: rejected when the process dies. */
  readonly inflight: Set<(error: ConnectionError) => void>;
}

/** Network conditions, changed by the workload as it goes. */
export interface NetworkConditions {
  /** Probability that a request or a reply is lost. */
  dropRate: number;
  /** Ids cut off from every other server (clients still reach them). */
  isolated: Set<string>;
  /** Scripted losses: true loses this request (`reply` undefined) or this reply. */
  lose?: (message: { from: string; to: string; request: Request; reply?: Reply }) => boolean;
  /**
   * A server with a bug: the copies it sends (BADD) and hands over (PULL
   * replies) are corrupted this often (its data bent, or a result key it
   * does not hold claimed). Its receivers must refuse every one.
   */
  buggy?: { readonly id: string; readonly rate: number };
}

/** Where the network reports what happens; trace text is built only when printed. */
export interface NetworkEvents {
  trace(text: () => string): void;
  violation(text: string): void;
  /** A server logged `message`. */
  log(server: SimServer, message: string): void;
}

/**
 * Delivers requests between endpoints through the virtual clock, encoding
 * and decoding every request and reply as frames on the way.
 */
export class Network {
  readonly conditions: NetworkConditions = { dropRate: 0, isolated: new Set() };
  readonly #scheduler: Scheduler;
  readonly #random: Random;
  readonly #events: NetworkEvents;
  readonly #servers = new Map<string, Server>();
  /** Requests sent so far. */
  sent = 0;
  /** Copies corrupted by a buggy server so far. */
  corrupted = 0;

  /** Creates an empty network. */
  constructor(scheduler: Scheduler, random: Random, events: NetworkEvents) {
    this.#scheduler = scheduler;
    this.#random = random;
    this.#events = events;
  }

  /** Starts delivering requests for `endpoint.id` to `node`. */
  listen(endpoint: Endpoint, node: Node): void {
    this.#servers.set(endpoint.id, { endpoint, node, inflight: new Set() });
  }

  /** The process at `id` died: connections to it break, new ones are refused. */
  kill(id: string): void {
    const server = this.#servers.get(id);
    if (!server) return;
    this.#servers.delete(id);
    for (const fail of server.inflight) {
      fail(new ConnectionError("closed", `Connection to ${id} closed by the server`));
    }
    server.inflight.clear();
  }

  /** True when a server listens at `id`. */
  listening(id: string): boolean {
    return this.#servers.has(id);
  }

  /** A {@linkcode PeerTransport} for a node instance. */
  transport(endpoint: Endpoint): PeerTransport {
    let closed = false;
    return {
      request: (id, request, timeoutMs = peerRequestTimeoutMs) => {
        if (closed) return Promise.reject(new ConnectionError("closed", "Peer pool is closed"));
        return this.send(endpoint, id, request, { timeoutMs, peer: endpoint.id });
      },
      forget: () => {},
      close: () => {
        closed = true;
      },
    };
  }

  #latency(): number {
    const roll = this.#random.next();
    if (roll < 0.01) return this.#random.int(200, 1500);
    if (roll < 0.1) return this.#random.int(20, 100);
    return this.#random.int(1, 10);
  }

  /** True when the buggy server `id` corrupts this copy. */
  #bugHits(id: string): boolean {
    const buggy = this.conditions.buggy;
    if (buggy?.id !== id || !this.#random.chance(buggy.rate)) return false;
    this.corrupted++;
    return true;
  }

  #lost(from: string, to: string, request: Request, reply?: Reply): boolean {
    const { isolated, dropRate, lose } = this.conditions;
    if (lose?.({ from, to, request, ...(reply ? { reply } : {}) })) return true;
    // A partition cuts servers (ids host:port) apart; clients reach every server.
    if (
      isolated.size > 0 && isolated.has(from) !== isolated.has(to) && isServer(from) &&
      isServer(to)
    ) return true;
    return dropRate > 0 && this.#random.chance(dropRate);
  }

  /**
   * Sends a request from `from` to the server at `to`; `peer` is the sender's
   * server id (a peer session) or null (a client).
   *
   * @throws {ConnectionError} as PeerPool and Connection do: `connect` when
   * nothing listens, `closed` when the server dies meanwhile, `timeout`.
   */
  send(
    from: Endpoint,
    to: string,
    request: Request,
    options: { timeoutMs: number; peer: string | null },
  ): Promise<Reply> {
    if (request.command === "BADD" && this.#bugHits(from.id)) {
      const name = request.name;
      request = corruptCopy(request);
      this.#events.trace(() => `${from.id} (buggy) sends a corrupted copy of ${name}`);
    }
    let frame: Uint8Array;
    try {
      frame = encodeFrame(encodeRequest(request));
    } catch (error) {
      return Promise.reject(new ConnectionError("protocol", (error as Error).message));
    }
    this.sent++;
    const label = () => `${from.id}→${to} ${summarize(request)}`;
    return new Promise<Reply>((resolve, reject) => {
      let finished = false;
      const finish = (outcome: () => void) => {
        if (finished || !from.alive) return;
        finished = true;
        from.clock.clearTimer(timer);
        outcome();
      };
      const timer = from.clock.setTimeout(() =>
        finish(() => {
          this.#events.trace(() => `${label()}: timeout`);
          reject(
            new ConnectionError("timeout", `No reply from ${to} within ${options.timeoutMs} ms`),
          );
        }), options.timeoutMs);
      // The connection is made now, to the process listening now.
      const target = this.#servers.get(to);
      this.#scheduler.set(world, () => {
        void this.#deliver(from, target, to, { request, frame }, options.peer, label, {
          resolve: (reply) => finish(() => resolve(reply)),
          reject: (error) => finish(() => reject(error)),
        });
      }, this.#latency());
    });
  }

  async #deliver(
    from: Endpoint,
    target: Server | undefined,
    to: string,
    { request, frame }: { request: Request; frame: Uint8Array },
    peer: string | null,
    label: () => string,
    call: { resolve: (reply: Reply) => void; reject: (error: ConnectionError) => void },
  ): Promise<void> {
    if (!target) {
      this.#events.trace(() => `${label()}: refused`);
      return call.reject(new ConnectionError("connect", `Cannot connect to ${to}: refused`));
    }
    const server = target;
    if (this.#servers.get(to) !== server) {
      this.#events.trace(() => `${label()}: connection reset`);
      return call.reject(new ConnectionError("closed", `Connection to ${to} reset`));
    }
    if (this.#lost(from.id, to, request)) {
      return this.#events.trace(() => `${label()}: request lost`);
    }
    server.inflight.add(call.reject);
    let reply = await this.#serve(server, frame, { peer }, label);
    if (request.command === "PULL" && !request.metaOnly && reply.ok && this.#bugHits(to)) {
      reply = corruptPullReply(reply);
      this.#events.trace(() => `${to} (buggy) hands over a corrupted copy`);
    }
    server.inflight.delete(call.reject);
    if (!server.endpoint.alive) return;
    let replyFrame: Uint8Array;
    try {
      replyFrame = encodeFrame(encodeReply(reply));
    } catch (error) {
      this.#events.violation(`${label()}: reply does not fit a frame: ${(error as Error).message}`);
      replyFrame = encodeFrame(encodeReply(nack("too-large", "Reply does not fit in one frame")));
    }
    this.#scheduler.set(world, () => {
      const parsed = parseReply(decodePayload(decodeOne(replyFrame)));
      if (this.#lost(to, from.id, request, parsed)) {
        return this.#events.trace(() => `${label()}: reply lost`);
      }
      this.#events.trace(() => `${label()} ⇒ ${summarizeReply(parsed)}`);
      call.resolve(parsed);
    }, this.#latency());
  }

  /** Decodes and serves one request as listen.ts does; never throws. */
  async #serve(
    server: Server,
    frame: Uint8Array,
    session: Session,
    label: () => string,
  ): Promise<Reply> {
    let request: Request;
    try {
      request = parseRequest(decodePayload(decodeOne(frame)));
    } catch (error) {
      if (error instanceof ProtocolError) return nack(error.reason, error.message);
      this.#events.violation(`${label()}: cannot decode the request: ${(error as Error).message}`);
      return nack("frame", (error as Error).message);
    }
    try {
      const reply = await server.node.handle(request, session);
      if (!reply.ok && reply.reason === "internal") {
        this.#events.violation(`${label()}: NACK:internal:${reply.detail}`);
      }
      return reply;
    } catch (error) {
      this.#events.violation(`${label()}: handle() threw: ${(error as Error).stack ?? error}`);
      return nack("internal", (error as Error).message);
    }
  }
}

/**
 * A copy as a server with a bug might send it: its last data byte flipped
 * (the content no longer matches its identity), or, without data, the
 * highest result key claimed.
 */
function corruptCopy(
  request: Extract<Request, { command: "BADD" }>,
): Extract<Request, { command: "BADD" }> {
  if (request.data.length > 0) {
    const data = request.data.slice();
    data[data.length - 1]! ^= 1;
    return { ...request, data };
  }
  if (request.metadata === "") return { ...request, data: Uint8Array.of(0x21) };
  const meta = JSON.parse(new TextDecoder().decode(Uint8Array.fromBase64(request.metadata)));
  const metadata = new TextEncoder().encode(JSON.stringify({ ...meta, resultKey: 2 ** 20 - 1 }))
    .toBase64();
  return { ...request, metadata };
}

/** A PULL reply (BADD's fields) corrupted as {@linkcode corruptCopy} does. */
function corruptPullReply(reply: Extract<Reply, { ok: true }>): Reply {
  const [name, salt, complete, metadata, data] = reply.fields;
  const copy = corruptCopy({
    command: "BADD",
    name: name ?? "",
    salt: Number.parseInt(salt ?? "0", 16),
    complete: complete === "1",
    metadata: metadata ?? "",
    data: Uint8Array.fromBase64(data ?? ""),
  });
  return {
    ok: true,
    fields: [name ?? "", salt ?? "", complete ?? "", copy.metadata, copy.data.toBase64()],
  };
}

function isServer(id: string): boolean {
  return id.includes(":");
}

function decodeOne(frame: Uint8Array): Uint8Array {
  const decoder = new FrameDecoder();
  decoder.push(frame);
  const decoded = decoder.next();
  if (!decoded || decoded.kind !== "frame") throw new Error("Cannot decode a frame we encoded");
  return decoded.payload;
}

/** A short description of a request for the trace. */
export function summarize(request: Request): string {
  const text = encodeRequest(request);
  switch (request.command) {
    case "BADD": {
      const meta = request.metadata
        ? JSON.parse(new TextDecoder().decode(Uint8Array.fromBase64(request.metadata)))
        : {};
      return `BADD ${request.name}/${request.salt.toString(16)} ${meta.kind ?? ""} ${
        meta.state ?? ""
      } a${meta.attempt ?? ""}`;
    }
    case "MEMB":
      return `MEMB ${
        request.members.map((m) => `${m.host}:${m.port}/${m.incarnation}${m.alive ? "" : "✝"}`)
          .join(",")
      }`;
    case "HAVE":
      return `HAVE ${request.entries.length} entries`;
    case "SADD":
      return `SADD ${request.servers[0]?.host ?? ""}:${request.servers[0]?.port ?? ""}`;
    default:
      return text.length > 60 ? `${text.slice(0, 60)}…` : text;
  }
}

function summarizeReply(reply: Reply): string {
  const text = encodeReply(reply);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

// ------------------------------------------------------------------ cluster

/** Settings every server of a simulated ring shares. */
export interface ClusterOptions {
  readonly replicas: number;
  readonly leaseMs: number;
}

/** One server of the ring: its store outlives the processes that use it. */
export class SimServer {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly vnodes: number;
  readonly store: SimStore;
  /** The running process, if any. */
  process: { readonly endpoint: Endpoint; readonly node: Node } | null = null;
  /** True once the running process's start() has returned. */
  started = false;
  /** Processes started on this store so far. */
  lives = 0;

  constructor(host: string, port: number, vnodes: number, store: SimStore) {
    this.host = host;
    this.port = port;
    this.id = `${host}:${port}`;
    this.vnodes = vnodes;
    this.store = store;
  }

  /** The running node; throws when the server is down. */
  get node(): Node {
    if (!this.process) throw new Error(`Server ${this.id} is down`);
    return this.process.node;
  }
}

/** The servers of a simulated ring: start, kill (SIGKILL-like) and restart. */
export class Cluster {
  readonly servers: SimServer[] = [];
  readonly #scheduler: Scheduler;
  readonly #network: Network;
  readonly #events: NetworkEvents;
  readonly #options: ClusterOptions;
  readonly #hooks: StoreHooks;

  /** Creates an empty ring. */
  constructor(
    scheduler: Scheduler,
    network: Network,
    events: NetworkEvents,
    options: ClusterOptions & { hooks: StoreHooks },
  ) {
    this.#scheduler = scheduler;
    this.#network = network;
    this.#events = events;
    this.#options = options;
    this.#hooks = options.hooks;
  }

  /** Servers with a running process. */
  live(): SimServer[] {
    return this.servers.filter((server) => server.process !== null);
  }

  /** Creates a server with a fresh store (not started). */
  create(vnodes: number): SimServer {
    const index = this.servers.length;
    const host = `n${index}`;
    const server = new SimServer(host, 7000 + index, vnodes, new SimStore(host, this.#hooks));
    this.servers.push(server);
    return server;
  }

  /**
   * Starts a process on `server`'s store (a restart when it ran before):
   * it listens at once, as server.ts does, then joins. Resolves to false
   * (and the process is gone) when start() failed.
   */
  async start(server: SimServer, join?: SimServer): Promise<boolean> {
    if (server.process) throw new Error(`Server ${server.id} is already running`);
    const endpoint: Endpoint = {
      id: server.id,
      alive: true,
      clock: undefined as unknown as Clock,
    };
    (endpoint as { clock: Clock }).clock = this.#scheduler.clock(endpoint);
    const life = ++server.lives;
    // Lease tokens and nonces from a generator seeded by this server and life: a run replays.
    const random = new Random(Number.parseInt(sha256Hex(`${server.id}#${life}`).slice(0, 8), 16));
    const node = new Node({
      host: server.host,
      port: server.port,
      store: server.store,
      replicas: this.#options.replicas,
      vnodes: server.vnodes,
      leaseMs: this.#options.leaseMs,
      ...(join ? { join: { host: join.host, port: join.port } } : {}),
      clock: endpoint.clock,
      random: (bytes) => {
        for (let i = 0; i < bytes.length; i++) bytes[i] = random.int(0, 255);
      },
      transport: this.#network.transport(endpoint),
      log: (message) => {
        this.#events.trace(() => `${server.id}#${life} log: ${message}`);
        this.#events.log(server, message);
        if (message.startsWith("internal error")) {
          this.#events.violation(`${server.id}#${life}: ${message}`);
        }
      },
    });
    server.process = { endpoint, node };
    server.started = false;
    this.#network.listen(endpoint, node);
    this.#events.trace(() => `${server.id}#${life} starts${join ? ` (join ${join.id})` : ""}`);
    try {
      await node.start();
    } catch (error) {
      this.#events.trace(() => `${server.id}#${life} start failed: ${(error as Error).message}`);
      if (server.process?.endpoint === endpoint) this.kill(server);
      return false;
    }
    if (server.process?.endpoint !== endpoint) return false;
    server.started = true;
    this.#events.trace(() => `${server.id}#${life} started`);
    return true;
  }

  /**
   * Kills the running process like SIGKILL: its timers never fire, what it
   * was waiting for never arrives, its connections break. The store stays.
   */
  kill(server: SimServer): void {
    const process = server.process;
    if (!process) return;
    process.endpoint.alive = false;
    this.#network.kill(server.id);
    server.process = null;
    server.started = false;
    this.#events.trace(() => `${server.id}#${server.lives} killed`);
  }

  /** Stops every process (orderly) and closes the stores: the end of a run. */
  shutdown(): void {
    for (const server of this.servers) {
      const process = server.process;
      if (process) {
        process.node.stop();
        process.endpoint.alive = false;
        this.#network.kill(server.id);
        server.process = null;
      }
      server.store.close();
    }
  }
}

// ------------------------------------------------------------------ scripts

/** A small world for scripted scenarios: the same pieces, events chosen by hand. */
export interface World {
  readonly scheduler: Scheduler;
  readonly network: Network;
  readonly cluster: Cluster;
  /** What the network saw go wrong (NACK:internal, exceptions, …). */
  readonly violations: string[];
  /** The trace so far, oldest first. */
  readonly trace: string[];
  /** A client endpoint (never dies). */
  client(id: string): Endpoint;
  /** A client request to one server, as a client sends it. */
  call(from: Endpoint, to: SimServer, request: Request, timeoutMs?: number): Promise<Reply>;
  /**
   * Runs `script` on virtual time until it returns (at most `limitMs` of
   * virtual time), then stops every server.
   */
  run<T>(script: () => Promise<T>, limitMs?: number): Promise<T>;
}

/** Builds a {@linkcode World} for one seed. */
export function createWorld(seed: number, options: ClusterOptions): World {
  const random = new Random(seed);
  const scheduler = new Scheduler(random, Date.UTC(2030, 0, 1));
  const violations: string[] = [];
  const trace: string[] = [];
  const elapsed = () => ((scheduler.now - Date.UTC(2030, 0, 1)) / 1000).toFixed(3);
  const events: NetworkEvents = {
    trace: (text) => trace.push(`${elapsed()} ${text()}`),
    violation: (text) => violations.push(text),
    log: (server, message) => trace.push(`${elapsed()} ${server.id} log: ${message}`),
  };
  scheduler.onError = (error) => violations.push(`timer callback threw: ${error}`);
  const network = new Network(scheduler, random, events);
  const cluster = new Cluster(scheduler, network, events, {
    ...options,
    hooks: { onPut: () => {}, onDelete: () => {}, onWrite: () => scheduler.writes++ },
  });
  return {
    scheduler,
    network,
    cluster,
    violations,
    trace,
    client: (id) => ({ id, alive: true, clock: scheduler.clock(world) }),
    call: (from, to, request, timeoutMs = 30_000) =>
      network.send(from, to.id, request, { timeoutMs, peer: null }),
    async run<T>(script: () => Promise<T>, limitMs = 600_000): Promise<T> {
      let outcome: { value: T } | { error: unknown } | undefined;
      script().then((value) => outcome = { value }, (error) => outcome = { error });
      try {
        await scheduler.runUntil(scheduler.now + limitMs, () => outcome !== undefined);
      } finally {
        cluster.shutdown();
        recordTrace(seed, trace);
      }
      if (!outcome) throw new Error(`The script did not finish within ${limitMs} ms`);
      if ("error" in outcome) throw outcome.error;
      return outcome.value;
    },
  };
}

/**
 * With `SIM_TRACE_LOG=<file>` set, appends one line per scripted world run
 * (its seed, its number of events and a digest of its trace) to that file:
 * `SIM_TRACE_LOG=before.txt deno test -A tests/sim_scenarios_test.ts`, then
 * the same after a change, and diff (tests/sim_digest.ts does the same for
 * the random workload).
 */
function recordTrace(seed: number, trace: readonly string[]): void {
  const path = Deno.env.get("SIM_TRACE_LOG");
  if (!path) return;
  const digest = sha256Hex(trace.join("\n")).slice(0, 16);
  Deno.writeTextFileSync(path, `world seed ${seed}: ${trace.length} events, trace ${digest}\n`, {
    append: true,
  });
}
