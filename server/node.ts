/**
 * A server of the ring: request handlers, replication, forwarding, the job
 * queue and repair. Membership (the members table, the ring, gossip,
 * failure detection, join) is membership_service.ts. Decisions come from
 * the pure modules (objects.ts, jobs.ts, ring.ts, membership.ts); this file
 * carries them out against the store and the peers, persisting before it
 * answers.
 *
 * @module
 */

import { ConnectionError } from "../protocol/connection.ts";
import { fileIdentity, jobIdentity, outputIdentity, saltOf } from "../protocol/digest.ts";
import { formatHash, objectHash } from "../protocol/hash.ts";
import {
  ack,
  nack,
  ProtocolError,
  type Reply,
  type Request,
  type VersionedHash,
} from "../protocol/message.ts";
import {
  haveEntriesMax,
  heartbeatMs,
  inlineBytesMax,
  jobLostMax,
  jobPollMs,
  readinessSweepMs,
  repairConcurrency,
  repairIntervalMs,
  saltProbesMax,
  sourceBytesMax,
  waitMsMax,
} from "../limits.ts";
import {
  chunkedIdentity,
  chunkName,
  decodeManifest,
  indexName,
  type Manifest,
  ManifestError,
} from "../protocol/manifest.ts";
import { fromBadd, fromPullFields, toBadd, toPullFields } from "./codec.ts";
import {
  failureText,
  finishedOutputOf,
  leaseFields,
  newJobMeta,
  outputOf,
  recordTooLarge,
} from "./job_records.ts";
import { acceptReport } from "./report_acceptance.ts";
import { afterWrites, nextReplicationStep, startReplication } from "./replication_plan.ts";
import {
  countConfirmations,
  haveDifferences,
  parseHaveReply,
  planRepair,
  repairDrops,
  syncAction,
} from "./repair_plan.ts";
import {
  failJob,
  type InputStatus,
  isLeasable,
  leaseJob,
  markReady,
  readinessOf,
  releaseJob,
} from "./jobs.ts";
import { toMember } from "./membership.ts";
import { Membership } from "./membership_service.ts";
import {
  type FileMeta,
  type FileState,
  isFile,
  isJob,
  isTerminal,
  type JobMeta,
  type MergeOutcome,
  type StoredFile,
  type StoredJob,
  type StoredObject,
  versionOf,
} from "./objects.ts";
import { PeerPool, type PeerTransport } from "./peers.ts";
import { type Clock, systemClock } from "./clock.ts";
import { memberId, type Ring } from "../protocol/ring.ts";
import type { Session } from "./session.ts";
import type { Store } from "./store.ts";

export type { Session } from "./session.ts";

/** What a server needs to run. */
export interface NodeOptions {
  /** Address other servers and clients use to reach this one. */
  readonly host: string;
  readonly port: number;
  readonly store: Store;
  /** Copies kept of every object (on distinct servers). */
  readonly replicas: number;
  /** Ring positions of this server. */
  readonly vnodes: number;
  readonly leaseMs: number;
  /** A server of the ring to join. */
  readonly join?: { readonly host: string; readonly port: number };
  readonly heartbeatMs?: number;
  readonly now?: () => number;
  /** Time and timers; the system clock by default. */
  readonly clock?: Clock;
  /** How peers are reached; TCP connections (a {@linkcode PeerPool}) by default. */
  readonly transport?: PeerTransport;
  readonly log?: (message: string) => void;
}

/** An operation that could not reach enough servers. */
class UnavailableError extends Error {
  override name = "UnavailableError";
}

type LeaseOutcome = { kind: "job"; reply: Reply } | { kind: "wait" } | { kind: "none" };

const encoder = new TextEncoder();
const hex = formatHash;

/** One server. */
export class Node {
  readonly id: string;
  readonly #options: NodeOptions;
  readonly #store: Store;
  readonly #peers: PeerTransport;
  readonly #clock: Clock;
  readonly #now: () => number;
  readonly #log: (message: string) => void;
  readonly #membership: Membership;
  /** Jobs held here that are not finished, in submission order. */
  readonly #openJobs = new Map<number, JobMeta>();
  /** Files known to be finished, with their state: inputs of waiting jobs. */
  readonly #finished = new Map<number, { state: FileState; error?: string }>();
  readonly #waiters = new Map<number, Set<() => void>>();
  /** Results being stored, by job: what storing them resolves to. */
  readonly #completing = new Map<number, Promise<void>>();
  /** GETJ long polls waiting for a job to become ready. */
  readonly #jobWaiters = new Set<() => void>();
  readonly #timers = new Set<number>();
  #reconciling = true;
  #repairing = false;
  #repairAgain = false;
  #sweeping = false;
  #stopped = false;

  /** Creates the server; call {@linkcode start} to join and serve. */
  constructor(options: NodeOptions) {
    this.#options = options;
    this.id = memberId(options.host, options.port);
    this.#store = options.store;
    this.#peers = options.transport ?? new PeerPool({ host: options.host, port: options.port });
    this.#clock = options.clock ?? systemClock;
    this.#now = options.now ?? (() => this.#clock.now());
    this.#log = options.log ?? (() => {});
    this.#membership = new Membership({
      host: options.host,
      port: options.port,
      vnodes: options.vnodes,
      ...(options.join ? { join: options.join } : {}),
      store: this.#store,
      transport: this.#peers,
      log: this.#log,
      onRingChange: () => this.#scheduleRepair(),
    });
  }

  /** The live members' ring as this server sees it. */
  get ring(): Ring {
    return this.#membership.ring;
  }

  // ---------------------------------------------------------------- start/stop

  /**
   * Loads state, joins the ring, reconciles, and starts the background loops.
   *
   * @throws {Error} when a ring to join was given and none of it answers.
   */
  async start(): Promise<void> {
    this.#membership.load();
    for (const job of this.#store.openJobs()) {
      if (isJob(job)) this.#openJobs.set(job.hash, job.meta);
    }
    this.#sortOpenJobs();
    if (this.#options.join) await this.#checkReplicas(this.#options.join);
    await this.#membership.join();
    this.#every(this.#options.heartbeatMs ?? heartbeatMs, () => this.#membership.heartbeat());
    this.#every(readinessSweepMs, () => this.#sweepReadiness());
    this.#every(repairIntervalMs, () => this.#repair());
    await this.#repair();
    this.#reconciling = false;
  }

  /**
   * Refuses to join a ring that keeps another number of copies: its servers
   * and this one would disagree on who owns what, and each repair would undo
   * the other's. A server that cannot be asked is left to the join crawl.
   *
   * @throws {Error} when the server to join through keeps another number of copies.
   */
  async #checkReplicas(join: { readonly host: string; readonly port: number }): Promise<void> {
    const id = memberId(join.host, join.port);
    let theirs: unknown;
    try {
      const reply = await this.#peers.request(id, { command: "INFO" });
      if (!reply.ok) return;
      theirs = (JSON.parse(new TextDecoder().decode(Uint8Array.fromBase64(reply.fields[0]!))) as {
        replicas?: unknown;
      }).replicas;
    } catch {
      return;
    }
    if (typeof theirs === "number" && theirs !== this.#options.replicas) {
      throw new Error(
        `Cannot join the ring of ${id}: it keeps ${theirs} copies of every object, and this server was started with --replicas ${this.#options.replicas}; start it with --replicas ${theirs}`,
      );
    }
  }

  /** Stops the loops and closes peer connections; the store stays open. */
  stop(): void {
    this.#stopped = true;
    for (const timer of this.#timers) this.#clock.clearTimer(timer);
    this.#timers.clear();
    this.#peers.close();
    for (const waiters of this.#waiters.values()) for (const wake of waiters) wake();
    this.#wakeJobWaiters();
  }

  /** Runs `work` without waiting for it; a failure is logged, never an unhandled rejection. */
  #background(work: Promise<unknown>, what: string): void {
    work.catch((error) => this.#log(`${what} failed: ${(error as Error).message}`));
  }

  #every(ms: number, work: () => Promise<void> | void): void {
    let busy = false;
    const timer = this.#clock.setInterval(async () => {
      if (busy || this.#stopped) return;
      busy = true;
      try {
        await work();
      } catch (error) {
        this.#log(`background task failed: ${(error as Error).message}`);
      } finally {
        busy = false;
      }
    }, ms);
    this.#timers.add(timer);
  }

  #sortOpenJobs(): void {
    const sorted = [...this.#openJobs].sort((a, b) =>
      a[1].createdMs - b[1].createdMs || a[0] - b[0]
    );
    this.#openJobs.clear();
    for (const [hash, meta] of sorted) this.#openJobs.set(hash, meta);
  }

  // ---------------------------------------------------------------- dispatch

  /** Serves one request; never throws. */
  async handle(request: Request, session: Session): Promise<Reply> {
    try {
      const reply = await this.#dispatch(request, session);
      // Nothing is acknowledged (or shown to a reader) before it is committed.
      await this.#store.durable();
      return reply;
    } catch (error) {
      if (error instanceof ProtocolError) return nack(error.reason, error.message);
      if (error instanceof ManifestError) return nack(error.reason, error.message);
      if (error instanceof UnavailableError) return nack("unavailable", error.message);
      if (error instanceof ConnectionError) return nack("unavailable", error.message);
      this.#log(`internal error on ${request.command}: ${(error as Error).stack ?? error}`);
      return nack("internal", (error as Error).message);
    }
  }

  #dispatch(request: Request, session: Session): Promise<Reply> | Reply {
    switch (request.command) {
      case "ADD":
        return this.#addFile(request.name, request.data, request.salt);
      case "MADD":
        return this.#addChunked(request.name, request.manifest, request.salt);
      case "GETM":
        return this.#getManifest(request.hash);
      case "BADD":
        return this.#copy(request);
      case "GET":
        return this.#get(request.hash);
      case "UPD":
        return this.#update(request, session);
      case "JADD":
        return this.#addJob(request);
      case "GETJ":
        return this.#getJob(session, request.waitMs ?? 0);
      case "HAVJ":
        return this.#haveJob(session);
      case "SADD":
        return this.#membership.addServers(request.servers);
      case "GETS":
        return this.#membership.servers();
      case "SUCC":
        return this.#membership.successorDied(request.dead);
      case "STOP":
        return ack();
      case "STAT":
        return this.#stat(request.hash);
      case "WAIT":
        return this.#wait(request.hash, Math.min(request.timeoutMs, waitMsMax), session);
      case "RLSE":
        return this.#release(request.hash, session);
      case "INFO":
        return ack(encoder.encode(JSON.stringify(this.info())).toBase64());
      case "PEER":
        session.peer = memberId(request.host, request.port);
        return ack();
      case "PROB":
        return this.#membership.probe(memberId(request.host, request.port));
      case "MEMB":
        return this.#membership.gossip(request.members.map(toMember));
      case "HAVE":
        return this.#have(request.entries);
      case "PULL":
        return this.#pull(request.hash, request.metaOnly);
    }
  }

  // ---------------------------------------------------------------- local store

  /**
   * Merges a copy into the local store and keeps the indexes in step. A job
   * that may have become leasable wakes the GETJs waiting here, unless
   * `wake` is false.
   */
  #apply(object: StoredObject, wake = true): MergeOutcome {
    const outcome = this.#store.merge(object);
    if (outcome === "created" || outcome === "advanced") this.#index(object, wake);
    return outcome;
  }

  #index(object: StoredObject, wake = true): void {
    const meta = object.meta;
    if (meta.kind === "job") {
      if (isTerminal(meta)) this.#openJobs.delete(object.hash);
      else this.#openJobs.set(object.hash, meta);
      if (meta.state !== "leased" && wake) this.#wakeJobWaiters();
    }
    if (!isTerminal(meta)) return;
    // Chunks and index objects of large files are never job inputs (a job
    // names the file itself), and there are millions of them: not indexed,
    // so this map does not grow with the bytes stored. (Were one an input,
    // the readiness sweep would still find it.)
    if (meta.kind === "file" && object.name !== chunkName && object.name !== indexName) {
      this.#finished.set(object.hash, {
        state: meta.state,
        ...(meta.error ? { error: meta.error } : {}),
      });
      this.#wakeJobWaiters();
    }
    const waiters = this.#waiters.get(object.hash);
    if (waiters) { for (const wake of waiters) wake(); }
  }

  /** `object`, or the copy stored here if that one is further along. */
  #fresher(object: StoredObject): StoredObject {
    const local = this.#store.get(object.hash);
    return local && versionOf(local.meta) > versionOf(object.meta) ? local : object;
  }

  #drop(hash: number): void {
    this.#store.delete(hash);
    this.#openJobs.delete(hash);
  }

  // ---------------------------------------------------------------- ring helpers

  #owners(hash: number): string[] {
    return this.#membership.ring.owners(hash, this.#options.replicas);
  }

  #isPrimary(hash: number): boolean {
    return this.#membership.ring.primary(hash) === this.id;
  }

  // ---------------------------------------------------------------- replication

  /**
   * Stores `object` on its owners: the primary first (it decides a
   * collision), then the replicas together. Dead owners are replaced by the
   * next servers of the ring.
   *
   * @throws {UnavailableError} when fewer copies than required could be written.
   */
  async #replicate(object: StoredObject, skipSelf = false): Promise<"stored" | "collision"> {
    let state = startReplication({ self: this.id, selfHolds: skipSelf });
    for (;;) {
      const step = nextReplicationStep(state, this.#owners(object.hash));
      if (step.kind === "stored" || step.kind === "collision") return step.kind;
      if (step.kind === "unavailable") {
        throw new UnavailableError(
          `Cannot store ${hex(object.hash)}: wrote ${step.written} of ${step.owners} copies`,
        );
      }
      const outcomes = step.primary
        ? [await this.#writeTo(step.targets[0]!, object)]
        : await Promise.all(step.targets.map((id) => this.#writeTo(id, object)));
      for (const [i, id] of step.targets.entries()) {
        if (!step.primary && outcomes[i] === "collision") {
          this.#log(`replica ${id} holds a different object at ${hex(object.hash)}`);
        }
      }
      state = afterWrites(state, step, outcomes);
    }
  }

  async #writeTo(id: string, object: StoredObject): Promise<"ok" | "collision" | "unreachable"> {
    if (id === this.id) return this.#apply(object) === "collision" ? "collision" : "ok";
    let reply: Reply;
    try {
      reply = await this.#peers.request(id, toBadd(object));
    } catch (error) {
      await this.#membership.peerFailed(id, error);
      return "unreachable";
    }
    if (reply.ok) return "ok";
    if (reply.reason === "collision") return "collision";
    throw new UnavailableError(
      `Peer ${id} refused a copy of ${hex(object.hash)}: ${reply.reason} ${reply.detail}`,
    );
  }

  /**
   * Finds the freshest copy of an object: here, then on its owners, then
   * (while the ring is moving, unless `everywhere` is false) on every other
   * server. A copy fetched by an owner that lacked it is stored (read repair).
   */
  async #find(
    hash: number,
    metaOnly: boolean,
    everywhere = true,
    strict = false,
  ): Promise<StoredObject | undefined> {
    const local = this.#store.get(hash);
    if (local && isTerminal(local.meta)) return local;
    let best = local;
    let unreachable = 0;
    const owners = this.#owners(hash);
    const ask = async (ids: string[]): Promise<void> => {
      for (const id of ids) {
        const remote = await this.#pullFrom(id, hash, metaOnly);
        if (remote === "unreachable") unreachable++;
        else if (remote !== "absent" && (!best || versionOf(remote.meta) > versionOf(best.meta))) {
          best = remote;
        }
        if (best && isTerminal(best.meta)) return;
      }
    };
    await ask(owners.filter((id) => id !== this.id));
    if (!best && everywhere) {
      await ask(this.#membership.alivePeers().filter((id) => !owners.includes(id)));
    }
    // Asking peers can take long (a lost reply waits for the timeout): what
    // was stored here meanwhile (a job's result) is fresher than `local`.
    const now = this.#store.get(hash);
    if (now && (!best || versionOf(now.meta) > versionOf(best.meta))) best = now;
    if (best && best !== local && best !== now && !metaOnly && owners.includes(this.id)) {
      this.#apply(best);
    }
    if (!best && strict && unreachable > 0) {
      throw new UnavailableError(
        `${hex(hash)} is on none of the servers that answered; ${unreachable} could not be reached`,
      );
    }
    return best;
  }

  /** A peer's copy of `hash`; "absent" when it has none, "unreachable" when it does not answer. */
  async #pullFrom(
    id: string,
    hash: number,
    metaOnly: boolean,
  ): Promise<StoredObject | "absent" | "unreachable"> {
    let reply: Reply;
    try {
      reply = await this.#peers.request(id, { command: "PULL", hash, metaOnly });
    } catch (error) {
      await this.#membership.peerFailed(id, error);
      return "unreachable";
    }
    if (!reply.ok) return reply.reason === "not-found" ? "absent" : "unreachable";
    try {
      return fromPullFields(reply.fields);
    } catch (error) {
      this.#log(`peer ${id} sent a bad copy of ${hex(hash)}: ${(error as Error).message}`);
      return "unreachable";
    }
  }

  /** Forwards a request to the primary of `hash`, failing over to the next owner. */
  async #forward(hash: number, request: Request, timeoutMs?: number): Promise<Reply | null> {
    for (let round = 0; round < 3; round++) {
      const primary = this.#membership.ring.primary(hash);
      if (primary === undefined || primary === this.id) return null;
      try {
        return await this.#peers.request(primary, request, timeoutMs);
      } catch (error) {
        await this.#membership.peerFailed(primary, error);
      }
    }
    throw new UnavailableError(`Cannot reach the owner of ${hex(hash)}`);
  }

  // ---------------------------------------------------------------- files

  async #addFile(name: string, data: Uint8Array, forcedSalt?: number): Promise<Reply> {
    if (data.length > inlineBytesMax) {
      return nack(
        "too-large",
        `File of ${data.length} bytes exceeds ${inlineBytesMax}; upload it in chunks`,
      );
    }
    const id = fileIdentity(data);
    return await this.#storeFile(name, data, {
      kind: "file",
      id,
      state: "complete",
      size: data.length,
    }, forcedSalt);
  }

  /**
   * Stores a chunked file: its manifest is the file object's data. The
   * chunks and index objects were stored before (ADD); they are not
   * checked here.
   */
  async #addChunked(name: string, bytes: Uint8Array, forcedSalt?: number): Promise<Reply> {
    const manifest = decodeManifest(bytes);
    const meta: FileMeta = {
      kind: "file",
      id: chunkedIdentity(manifest.sha256, manifest.chunkSize),
      state: "complete",
      size: manifest.size,
      chunked: true,
    };
    return await this.#storeFile(name, bytes, meta, forcedSalt);
  }

  /** Stores a complete file at the first free salt from its identity's (or `forcedSalt`). */
  async #storeFile(
    name: string,
    data: Uint8Array,
    meta: FileMeta,
    forcedSalt?: number,
  ): Promise<Reply> {
    let salt = forcedSalt ?? saltOf(meta.id);
    for (let probe = 0; probe < saltProbesMax; probe++, salt = (salt + 1) >>> 0) {
      const hash = objectHash(name, salt);
      if (await this.#replicate({ hash, name, salt, data, meta }) === "stored") {
        return ack(hex(hash));
      }
    }
    return nack("collision", `No free hash for ${name} after ${saltProbesMax} salts`);
  }

  #copy(request: Extract<Request, { command: "BADD" }>): Reply {
    const object = fromBadd(request);
    const outcome = this.#apply(object);
    if (outcome === "collision") {
      return nack("collision", `A different object is stored at ${hex(object.hash)}`);
    }
    return ack();
  }

  async #get(hash: number): Promise<Reply> {
    const object = await this.#find(hash, false, true, true);
    if (!object) return nack("not-found", `No object ${hex(hash)}`);
    const meta = object.meta;
    if (meta.kind === "job") {
      if (!isTerminal(meta)) return nack("incomplete", `Job ${hex(hash)} is ${meta.state}`);
      return ack(meta.stderr);
    }
    if (meta.state === "incomplete") {
      return nack("incomplete", `File ${hex(hash)} is not complete yet`);
    }
    if (meta.state === "failed") return nack("failed", meta.error ?? "the job producing it failed");
    if (meta.chunked) {
      return nack("chunked", `File ${hex(hash)} has ${meta.size} bytes; read it in chunks (GETM)`);
    }
    return ack(object.data.toBase64());
  }

  /** The manifest of a chunked file. */
  async #getManifest(hash: number): Promise<Reply> {
    const object = await this.#find(hash, false, true, true);
    if (!object) return nack("not-found", `No object ${hex(hash)}`);
    const meta = object.meta;
    if (meta.kind === "job") return nack("not-a-file", `${hex(hash)} is a job, not a file`);
    if (meta.state === "incomplete") {
      return nack("incomplete", `File ${hex(hash)} is not complete yet`);
    }
    if (meta.state === "failed") return nack("failed", meta.error ?? "the job producing it failed");
    if (!meta.chunked) {
      return nack("not-chunked", `File ${hex(hash)} has ${meta.size} bytes in one object (GET)`);
    }
    return ack(object.data.toBase64());
  }

  async #stat(hash: number): Promise<Reply> {
    const object = await this.#find(hash, true, true, true);
    if (!object) return nack("not-found", `No object ${hex(hash)}`);
    const meta = object.meta;
    const summary = meta.kind === "file"
      ? {
        name: object.name,
        size: meta.size,
        ...(meta.job === undefined ? {} : { job: hex(meta.job) }),
        ...(meta.error ? { error: meta.error } : {}),
        ...(meta.chunked ? { chunked: true } : {}),
      }
      : {
        name: object.name,
        output: hex(meta.output),
        outputName: meta.outputName,
        inputs: meta.inputs.map((input) => ({ hash: hex(input.hash), name: input.name })),
        attempt: meta.attempt,
        lost: meta.lost,
        exitCode: meta.exitCode,
        reason: meta.reason,
        detail: meta.detail,
        createdMs: meta.createdMs,
        ...(meta.state === "leased" ? { leaseUntilMs: meta.leaseUntilMs } : {}),
      };
    return ack(meta.kind, meta.state, encoder.encode(JSON.stringify(summary)).toBase64());
  }

  async #wait(hash: number, timeoutMs: number, session: Session): Promise<Reply> {
    if (!session.peer) {
      try {
        const forwarded = await this.#forward(
          hash,
          { command: "WAIT", hash, timeoutMs },
          timeoutMs + 10_000,
        );
        if (forwarded) return forwarded;
      } catch (error) {
        if (!(error instanceof UnavailableError)) throw error;
      }
    }
    const deadline = this.#now() + timeoutMs;
    for (;;) {
      const object = await this.#find(hash, true, true, true);
      if (!object) return nack("not-found", `No object ${hex(hash)}`);
      const remaining = deadline - this.#now();
      if (
        isTerminal(object.meta) || remaining <= 0 || this.#stopped || session.hangUp?.aborted
      ) return ack(object.meta.state);
      await this.#waitFor(hash, Math.min(remaining, 1_000));
    }
  }

  #waitFor(hash: number, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const waiters = this.#waiters.get(hash) ?? new Set();
      const wake = () => {
        this.#clock.clearTimer(timer);
        waiters.delete(wake);
        if (waiters.size === 0) this.#waiters.delete(hash);
        resolve();
      };
      const timer = this.#clock.setTimeout(wake, ms);
      waiters.add(wake);
      this.#waiters.set(hash, waiters);
    });
  }

  // ---------------------------------------------------------------- jobs

  async #addJob(request: Extract<Request, { command: "JADD" }>): Promise<Reply> {
    if (request.source.length > sourceBytesMax) {
      return nack(
        "too-large",
        `Job source of ${request.source.length} bytes exceeds ${sourceBytesMax}`,
      );
    }
    const inputs: InputStatus[] = [];
    for (
      const object of await Promise.all(
        request.inputs.map((hash) => this.#find(hash, true, true, true)),
      )
    ) {
      const hash = request.inputs[inputs.length]!;
      if (!object) return nack("unknown-input", `Input ${hex(hash)} does not exist`);
      if (object.meta.kind !== "file") {
        return nack("not-a-file", `Input ${hex(hash)} is a job, not a file`);
      }
      inputs.push({ hash, name: object.name, state: object.meta.state, ...errorOf(object.meta) });
    }
    const id = jobIdentity(request);
    const slot = await this.#findSlot(
      request.name,
      request.salt ?? saltOf(id),
      (o): o is StoredJob => isJob(o) && o.meta.id === id,
    );
    if (slot.existing) return ack(hex(slot.hash), hex(slot.existing.meta.output));
    const outputId = outputIdentity(id);
    const output = await this.#findSlot(
      request.outputName,
      saltOf(outputId),
      (o): o is StoredFile => isFile(o) && o.meta.id === outputId,
    );
    const readiness = readinessOf(inputs);
    const failed = readiness.kind === "failed" ? readiness.detail : null;
    const meta = newJobMeta({
      id,
      inputs,
      output: { hash: output.hash, salt: output.salt, name: request.outputName },
      state: readiness.kind === "failed" ? "waiting" : readiness.kind,
      createdMs: this.#now(),
    });
    const job: StoredJob = {
      hash: slot.hash,
      name: request.name,
      salt: slot.salt,
      data: request.source,
      // An input already failed: failed at once, as the cascade would.
      meta: failed ? failJob(meta, "input-failed", failed)! : meta,
    };
    const tooLarge = recordTooLarge(job);
    if (tooLarge) return nack("too-large", tooLarge);
    const outputObject = outputOf(
      job,
      failed ? { state: "failed", error: failureText(job) } : { state: "incomplete" },
    );
    if (
      await this.#replicate(outputObject) === "collision" ||
      await this.#replicate(job) === "collision"
    ) {
      return nack("collision", "Another object took the job's hash meanwhile; submit again");
    }
    this.#wakeJobWaiters();
    return ack(hex(slot.hash), hex(output.hash));
  }

  /** Probes salts from `salt` until a hash is free or holds the same object. */
  async #findSlot<T extends StoredObject>(
    name: string,
    salt: number,
    same: (object: StoredObject) => object is T,
  ): Promise<{ hash: number; salt: number; existing?: T }> {
    for (let probe = 0; probe < saltProbesMax; probe++, salt = (salt + 1) >>> 0) {
      const hash = objectHash(name, salt);
      const existing = await this.#find(hash, true, false);
      if (!existing) return { hash, salt };
      if (existing.name === name && same(existing)) return { hash, salt, existing };
    }
    throw new ProtocolError("collision", `No free hash for ${name} after ${saltProbesMax} salts`);
  }

  /**
   * GETJ: a job from this server or, for a client, from any server of the
   * ring. With `waitMs`, waits (long poll) until a job can be handed out or
   * the time is up, waking when this server learns of a change to its jobs
   * and asking its peers again every `jobPollMs`.
   */
  async #getJob(session: Session, waitMs: number): Promise<Reply> {
    const deadline = this.#now() + waitMs;
    for (;;) {
      if (session.hangUp?.aborted) return leaseReply("wait");
      const reply = await this.#getJobOnce(session);
      const remaining = deadline - this.#now();
      if (reply.ok || session.peer || remaining <= 0 || this.#stopped) return reply;
      await this.#jobsChanged(Math.min(remaining, jobPollMs), session.hangUp);
    }
  }

  /** Resolves when a job may have become ready here, after `ms`, or when `hangUp` aborts. */
  #jobsChanged(ms: number, hangUp?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        this.#clock.clearTimer(timer);
        this.#jobWaiters.delete(wake);
        hangUp?.removeEventListener("abort", wake);
        resolve();
      };
      const timer = this.#clock.setTimeout(wake, ms);
      this.#jobWaiters.add(wake);
      hangUp?.addEventListener("abort", wake, { once: true });
    });
  }

  /** Wakes every GETJ that waits for a job. */
  #wakeJobWaiters(): void {
    for (const wake of [...this.#jobWaiters]) wake();
  }

  async #getJobOnce(session: Session): Promise<Reply> {
    const local = await this.#leaseLocal();
    if (local.kind === "job") return local.reply;
    if (session.peer) return leaseReply(local.kind);
    let work = local.kind === "wait";
    for (const id of this.#membership.peerOrder()) {
      let reply: Reply;
      try {
        reply = await this.#peers.request(id, { command: "GETJ" });
      } catch (error) {
        await this.#membership.peerFailed(id, error);
        work = true;
        continue;
      }
      if (reply.ok) return reply;
      if (reply.reason === "wait") work = true;
    }
    return leaseReply(work ? "wait" : "none");
  }

  async #haveJob(session: Session): Promise<Reply> {
    const local = this.#localJobs();
    if (local === "ready") return ack();
    if (session.peer) return leaseReply(local);
    let work = local === "wait";
    for (const id of this.#membership.peerOrder()) {
      try {
        const reply = await this.#peers.request(id, { command: "HAVJ" });
        if (reply.ok) return ack();
        if (reply.reason === "wait") work = true;
      } catch (error) {
        await this.#membership.peerFailed(id, error);
        work = true;
      }
    }
    return leaseReply(work ? "wait" : "none");
  }

  /** Whether this server, as primary, has a job to hand out now. */
  #localJobs(): "ready" | "wait" | "none" {
    if (this.#reconciling) return "wait";
    const now = this.#now();
    let work = false;
    for (const [hash, job] of this.#openJobs) {
      if (!this.#isPrimary(hash)) continue;
      work = true;
      if (isLeasable(job, now)) return "ready";
      if (job.state === "waiting" && this.#localReadiness(job).kind !== "waiting") return "ready";
    }
    return work ? "wait" : "none";
  }

  #localReadiness(job: JobMeta) {
    return readinessOf(job.inputs.map((input) => {
      const known = this.#finished.get(input.hash);
      return {
        ...input,
        state: known?.state ?? "unknown",
        ...(known?.error ? { error: known.error } : {}),
      };
    }));
  }

  /** Leases the oldest job this server owns that can run. */
  async #leaseLocal(): Promise<LeaseOutcome> {
    if (this.#reconciling) return { kind: "wait" };
    const now = this.#now();
    let work = false;
    for (const [hash, meta] of this.#openJobs) {
      if (!this.#isPrimary(hash) || this.#completing.has(hash)) continue;
      work = true;
      let job = meta;
      if (job.state === "waiting") {
        const readiness = this.#localReadiness(job);
        if (readiness.kind === "waiting") continue;
        if (readiness.kind === "failed") {
          this.#background(this.#failForInput(hash, readiness.detail), `failing job ${hex(hash)}`);
          continue;
        }
        job = markReady(job)!;
      }
      if (!isLeasable(job, now)) continue;
      const object = this.#store.get(hash);
      if (!object) continue;
      const leased = leaseJob(job, {
        nowMs: now,
        leaseMs: this.#options.leaseMs,
        lostMax: jobLostMax,
      });
      const next = { ...object, meta: leased };
      this.#apply(next);
      if (leased.state === "failed") {
        this.#background(this.#replicateFinished(next, null), `failing lost job ${hex(hash)}`);
        continue;
      }
      try {
        await this.#replicate(next, true);
      } catch (error) {
        // Never hand out a lease only this server knows of: were it to die,
        // a replica would lease the job again while the runner still runs it.
        // Given back instead (not counted as lost); asked again, this server
        // leases it anew once the copy goes through or the ring has changed.
        // Waiting GETJs are not woken for it: they would fail the same way at
        // once, over and over, until then.
        this.#log(`lease of ${hex(hash)} not replicated: ${(error as Error).message}; released`);
        const released = releaseJob(leased);
        if (released) this.#apply({ ...object, meta: released }, false);
        return { kind: "wait" };
      }
      return { kind: "job", reply: ack(...leaseFields({ ...object, meta: leased })) };
    }
    return { kind: work ? "wait" : "none" };
  }

  async #failForInput(hash: number, detail: string): Promise<void> {
    const object = this.#store.get(hash);
    if (!object || object.meta.kind !== "job") return;
    const failed = failJob(object.meta, "input-failed", detail);
    if (!failed) return;
    const next = { ...object, meta: failed };
    this.#apply(next);
    await this.#replicateFinished(next, null);
  }

  /** Writes a finished job's output file, then the job, to their owners. */
  async #replicateFinished(
    job: StoredJob,
    stdout: Uint8Array | null,
    manifest?: Manifest,
  ): Promise<void> {
    const meta = job.meta;
    const output = finishedOutputOf(job, stdout, manifest);
    if (await this.#replicate(output) === "collision") {
      this.#log(`output ${hex(meta.output)} of job ${hex(job.hash)} collides with another object`);
    }
    await this.#replicate(job);
  }

  async #update(request: Extract<Request, { command: "UPD" }>, session: Session): Promise<Reply> {
    if (request.stdout.length > inlineBytesMax) {
      return nack(
        "too-large",
        `Output of ${request.stdout.length} bytes exceeds ${inlineBytesMax}; upload it in chunks and send its manifest`,
      );
    }
    const manifest = request.manifest ? decodeManifest(request.manifest) : undefined;
    if (!session.peer) {
      const forwarded = await this.#forward(request.hash, request);
      if (forwarded) return forwarded;
    }
    const found = await this.#find(request.hash, false, true, true);
    if (!found) return nack("not-found", `No job ${hex(request.hash)}`);
    const output = found.meta.kind === "job" && !isTerminal(found.meta)
      ? await this.#find(found.meta.output, true)
      : undefined;
    // The job may have moved on while its output was looked up.
    const object = this.#fresher(found);
    if (object.meta.kind !== "job") {
      return nack("not-a-job", `${hex(request.hash)} is a file, not a job`);
    }
    const storing = this.#completing.get(request.hash);
    if (storing) {
      // Another report of this job is being stored: acknowledge once it is
      // stored; if storing it fails, this report is taken afresh.
      return await storing.then(() => ack(), () => this.#update(request, session));
    }
    const accepted = acceptReport(object.meta, request, output?.meta);
    if (accepted.kind === "duplicate") return ack();
    const next = { ...object, meta: accepted.job };
    const stored = accepted.kind === "from-output"
      ? this.#replicate(next).then(() => {})
      : this.#replicateFinished(next, request.manifest ?? request.stdout, manifest);
    this.#completing.set(request.hash, stored);
    try {
      await stored;
      return ack();
    } finally {
      this.#completing.delete(request.hash);
    }
  }

  async #release(hash: number, session: Session): Promise<Reply> {
    if (!session.peer) {
      const forwarded = await this.#forward(hash, { command: "RLSE", hash });
      if (forwarded) return forwarded;
    }
    const object = this.#store.get(hash);
    if (!object) return nack("not-found", `No job ${hex(hash)}`);
    if (object.meta.kind !== "job") return nack("not-a-job", `${hex(hash)} is a file, not a job`);
    const released = releaseJob(object.meta);
    if (released) await this.#replicate({ ...object, meta: released });
    return ack();
  }

  /** Checks inputs held elsewhere for jobs this server owns and that wait. */
  async #sweepReadiness(): Promise<void> {
    if (this.#sweeping || this.#reconciling) return;
    this.#sweeping = true;
    try {
      const unknown = new Set<number>();
      for (const [hash, job] of this.#openJobs) {
        if (job.state !== "waiting" || !this.#isPrimary(hash)) continue;
        for (const input of job.inputs) {
          if (!this.#finished.has(input.hash)) unknown.add(input.hash);
        }
      }
      await mapLimit([...unknown], 16, async (hash) => {
        const object = await this.#find(hash, true);
        if (object?.meta.kind === "file" && isTerminal(object.meta)) {
          this.#finished.set(hash, { state: object.meta.state, ...errorOf(object.meta) });
          this.#wakeJobWaiters();
        }
      });
    } finally {
      this.#sweeping = false;
    }
  }

  // ---------------------------------------------------------------- ring changes

  /** A repair pass soon after the ring changed. */
  #scheduleRepair(): void {
    if (this.#stopped) return;
    const timer = this.#clock.setTimeout(() => {
      this.#timers.delete(timer);
      void this.#repair().catch((error) => this.#log(`repair failed: ${(error as Error).message}`));
    }, 50);
    this.#timers.add(timer);
  }

  // ---------------------------------------------------------------- repair

  #have(entries: readonly VersionedHash[]): Reply {
    return ack(...haveDifferences(entries, (hash) => this.#store.version(hash)));
  }

  #pull(hash: number, metaOnly: boolean): Reply {
    const object = this.#store.get(hash);
    if (!object) return nack("not-found", `No object ${hex(hash)} here`);
    return ack(...toPullFields(object, metaOnly));
  }

  /**
   * Anti-entropy over everything stored here: each owner compares versions
   * with the other owners and sends or fetches what differs; a copy this
   * server no longer owns is dropped once every owner holds it.
   */
  async #repair(): Promise<void> {
    if (this.#repairing) {
      this.#repairAgain = true;
      return;
    }
    this.#repairing = true;
    try {
      do {
        this.#repairAgain = false;
        let after = -1;
        for (;;) {
          const batch = this.#store.scan(after, haveEntriesMax);
          if (batch.length === 0) break;
          after = batch[batch.length - 1]!.hash;
          await this.#repairBatch(batch);
          if (this.#stopped) return;
        }
      } while (this.#repairAgain && !this.#stopped);
    } finally {
      this.#repairing = false;
    }
  }

  async #repairBatch(batch: readonly VersionedHash[]): Promise<void> {
    const plan = planRepair(batch, (hash) => this.#owners(hash), this.id);
    const confirmed = countConfirmations(
      await Promise.all(plan.peers.map(({ id, entries }) => this.#syncWith(id, entries))),
    );
    const busy = (hash: number) => this.#completing.has(hash);
    for (const hash of repairDrops(plan, confirmed, { self: this.id, busy })) this.#drop(hash);
  }

  /** Brings one peer and this server level on `entries`; returns the hashes the peer now holds. */
  async #syncWith(id: string, entries: readonly VersionedHash[]): Promise<number[]> {
    let reply: Reply;
    try {
      reply = await this.#peers.request(id, { command: "HAVE", entries });
    } catch (error) {
      await this.#membership.peerFailed(id, error).catch(() => {});
      return [];
    }
    if (!reply.ok) return [];
    const theirs = parseHaveReply(reply.fields);
    const held: number[] = [];
    await mapLimit([...entries], repairConcurrency, async (entry) => {
      const action = syncAction(entry.version, theirs.get(entry.hash));
      if (action === "held") return void held.push(entry.hash);
      if (action === "fetch") {
        const remote = await this.#pullFrom(id, entry.hash, false);
        if (typeof remote === "object") this.#apply(remote);
        return void held.push(entry.hash);
      }
      const object = this.#store.get(entry.hash);
      if (!object) return;
      try {
        const result = await this.#peers.request(id, toBadd(object));
        if (result.ok) held.push(entry.hash);
        else this.#log(`repair: ${id} refused ${hex(entry.hash)}: ${result.reason}`);
      } catch {
        // The peer went away; the next pass or its replacement gets the copy.
      }
    });
    return held;
  }

  // ---------------------------------------------------------------- inspection

  /** What this server holds and how it sees the ring. */
  info(): Record<string, unknown> {
    let owner = 0;
    let replica = 0;
    let stray = 0;
    let after = -1;
    for (;;) {
      const batch = this.#store.scan(after, 10_000);
      if (batch.length === 0) break;
      after = batch[batch.length - 1]!.hash;
      for (const { hash } of batch) {
        const index = this.#owners(hash).indexOf(this.id);
        if (index === 0) owner++;
        else if (index > 0) replica++;
        else stray++;
      }
    }
    const self = this.#membership.self;
    return {
      id: this.id,
      incarnation: self.incarnation,
      replicas: this.#options.replicas,
      positions: self.salts.map((salt) => hex(objectHash(this.id, salt))),
      objects: { owner, replica, stray, ...this.#store.counts() },
      openJobs: this.#openJobs.size,
      reconciling: this.#reconciling,
      members: this.#membership.members().map(({ id, incarnation, alive, salts }) => ({
        id,
        incarnation,
        alive,
        vnodes: salts.length,
      })),
      ring: this.#membership.ring.members,
    };
  }
}

function leaseReply(kind: "wait" | "none"): Reply {
  return kind === "wait"
    ? nack("wait", "Jobs exist but none is ready yet")
    : nack("none", "No jobs left");
}

function errorOf(meta: { kind: string; error?: string }): { error?: string } {
  return meta.kind === "file" && meta.error ? { error: meta.error } : {};
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function mapLimit<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  });
  await Promise.all(lanes);
}
