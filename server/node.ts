/**
 * A server of the ring: its life (start: load, join, reconcile; stop), its
 * timers (heartbeat, readiness sweep, repair), and the dispatch of each
 * request to the room that owns its command. The rooms:
 *
 * - membership_service.ts: the members table, the ring, gossip, failure
 *   detection, join (GETS, SADD, SUCC, PROB, MEMB);
 * - object_index.ts: the store here, its indexes and waiters;
 * - replication.ts: owners, copies to all owners, finding copies, forwarding;
 * - file_commands.ts: ADD, MADD, BADD, GET, GETM, STAT, WAIT;
 * - job_submission.ts: JADD;
 * - job_queue.ts: GETJ, HAVJ, RLSE, readiness;
 * - job_reports.ts: UPD;
 * - repair.ts: HAVE, PULL, HOLD and the anti-entropy pass;
 * - inspection.ts: INFO, the job catalogue, and the observer told of every request;
 * - job_listing.ts: JOBS, JOBI, PROG; runner_registry.ts: RUNR, RUNS;
 * - authentication.ts: HELO, AUTH, and the role check of every request.
 *
 * Decisions come from the pure modules (objects.ts, jobs.ts,
 * replication_plan.ts, repair_plan.ts, report_acceptance.ts,
 * membership.ts, protocol/ring.ts); the rooms carry them out against the
 * store and the peers, persisting before this file answers.
 *
 * @module
 */

import type { AuthSecrets } from "../protocol/auth.ts";
import { ConnectionError } from "../protocol/connection.ts";
import { ManifestError } from "../protocol/manifest.ts";
import {
  ack,
  type Command,
  nack,
  ProtocolError,
  type Reply,
  type Request,
} from "../protocol/message.ts";
import { memberId, type Ring } from "../protocol/ring.ts";
import {
  heartbeatMs,
  readinessSweepMs,
  repairDelayMs,
  repairIntervalMs,
  waitMsMax,
} from "../limits.ts";
import { Authentication } from "./authentication.ts";
import { type Clock, systemClock } from "./clock.ts";
import type { ServerContext } from "./context.ts";
import { FileCommands } from "./file_commands.ts";
import { Inspection, type RequestObserver } from "./inspection.ts";
import { JobQueue } from "./job_queue.ts";
import { JobCancel } from "./job_cancel.ts";
import { JobRenewal } from "./job_renewal.ts";
import { LeaseRenewals } from "./lease_renewals.ts";
import { JobReports } from "./job_reports.ts";
import { JobListing } from "./job_listing.ts";
import { JobSubmission } from "./job_submission.ts";
import { toMember } from "./membership.ts";
import { Membership } from "./membership_service.ts";
import { ObjectIndex } from "./object_index.ts";
import { PeerPool, type PeerTransport } from "./peers.ts";
import { Repair } from "./repair.ts";
import { Replication, UnavailableError } from "./replication.ts";
import type { RunnerRegistry } from "./runner_registry.ts";
import type { Session } from "./session.ts";
import { isDiskFull, type Store } from "./store.ts";

export type { RequestEvent, RequestObserver } from "./inspection.ts";

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
  /** Told of every request served (for statistics); what it throws is logged and ignored. */
  readonly observe?: RequestObserver;
  /** The secrets connections must prove (an auth file); none: every connection may send anything. */
  readonly auth?: AuthSecrets;
  /**
   * Fills `bytes` with random bytes for lease tokens and nonces: the
   * system's CSPRNG (`crypto.getRandomValues`) by default; the simulation
   * passes a seeded one.
   */
  readonly random?: (bytes: Uint8Array) => void;
}

/** How one command is served. */
type Handler<C extends Command> = (
  request: Extract<Request, { command: C }>,
  session: Session,
) => Promise<Reply> | Reply;

/** Every command's handler: the one table each request passes through. */
type Handlers = { readonly [C in Command]: Handler<C> };

const encoder = new TextEncoder();

/** One server. */
export class Node {
  readonly id: string;
  readonly #options: NodeOptions;
  readonly #store: Store;
  readonly #peers: PeerTransport;
  readonly #clock: Clock;
  readonly #log: (message: string) => void;
  readonly #membership: Membership;
  readonly #index: ObjectIndex;
  readonly #replication: Replication;
  readonly #jobs: JobQueue;
  readonly #repair: Repair;
  readonly #inspection: Inspection;
  readonly #authentication: Authentication;
  readonly #handlers: Handlers;
  readonly #timers = new Set<number>();
  readonly #life = { reconciling: true, stopped: false };

  /** Creates the server; call {@linkcode start} to join and serve. */
  constructor(options: NodeOptions) {
    this.#options = options;
    this.id = memberId(options.host, options.port);
    this.#store = options.store;
    this.#peers = options.transport ?? new PeerPool({ host: options.host, port: options.port });
    this.#clock = options.clock ?? systemClock;
    const now = options.now ?? (() => this.#clock.now());
    const random = options.random ?? ((bytes: Uint8Array) => crypto.getRandomValues(bytes));
    this.#log = options.log ?? (() => {});
    this.#authentication = new Authentication({
      ...(options.auth ? { secrets: options.auth } : {}),
      now,
      log: this.#log,
    });
    this.#membership = new Membership({
      host: options.host,
      port: options.port,
      vnodes: options.vnodes,
      ...(options.join ? { join: options.join } : {}),
      store: this.#store,
      now,
      transport: this.#peers,
      log: this.#log,
      onRingChange: () => {
        this.#inspection?.ringChanged();
        this.#scheduleRepair();
      },
    });
    const ctx: ServerContext = {
      id: this.id,
      replicas: options.replicas,
      leaseMs: options.leaseMs,
      store: this.#store,
      peers: this.#peers,
      membership: this.#membership,
      clock: this.#clock,
      now,
      token: () => {
        const bytes = new Uint8Array(16);
        random(bytes);
        return bytes.toHex();
      },
      log: this.#log,
      life: this.#life,
      background: (work, what) => this.#background(work, what),
      note: (event) => this.#inspection.note(event),
    };
    this.#index = new ObjectIndex(this.#store, this.#clock);
    this.#replication = new Replication(ctx, this.#index);
    const rooms = {
      replication: this.#replication,
      index: this.#index,
      reports: new JobReports(ctx, this.#replication, this.#index),
      renewals: new LeaseRenewals({ startMs: now(), leaseMs: options.leaseMs }),
    };
    const files = new FileCommands(ctx, this.#replication, this.#index);
    const submission = new JobSubmission(ctx, this.#replication, this.#index);
    this.#jobs = new JobQueue(ctx, rooms);
    this.#repair = new Repair(ctx, rooms);
    this.#inspection = new Inspection(ctx, rooms, options.observe);
    const listing = new JobListing(ctx, { ...rooms, catalogue: this.#inspection.catalogue });
    this.#handlers = this.#handlerTable({
      files,
      submission,
      reports: rooms.reports,
      renewal: new JobRenewal(ctx, rooms),
      cancelling: new JobCancel(ctx, rooms),
      listing,
      runners: this.#inspection.runners,
    });
  }

  /** The live members' ring as this server sees it. */
  get ring(): Ring {
    return this.#membership.ring;
  }

  /** The salts of this server's own ring positions (chosen at its first join). */
  get salts(): readonly number[] {
    return this.#membership.self.salts;
  }

  // ---------------------------------------------------------------- start/stop

  /**
   * Loads state, joins the ring, reconciles, and starts the background loops.
   *
   * @throws {Error} when a ring to join was given and none of it answers.
   */
  async start(): Promise<void> {
    this.#membership.load();
    this.#index.load();
    this.#inspection.load();
    if (this.#options.join) await this.#checkReplicas(this.#options.join);
    await this.#membership.join();
    this.#every(this.#options.heartbeatMs ?? heartbeatMs, () => this.#membership.heartbeat());
    this.#every(readinessSweepMs, () => this.#jobs.sweepReadiness());
    this.#every(repairIntervalMs, () => this.#repair.run());
    await this.#repair.run();
    this.#life.reconciling = false;
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
    this.#life.stopped = true;
    for (const timer of this.#timers) this.#clock.clearTimer(timer);
    this.#timers.clear();
    this.#peers.close();
    this.#index.wakeAll();
  }

  /** Runs `work` without waiting for it; a failure is logged, never an unhandled rejection. */
  #background(work: Promise<unknown>, what: string): void {
    work.catch((error) => this.#log(`${what} failed: ${(error as Error).message}`));
  }

  #every(ms: number, work: () => Promise<void> | void): void {
    let busy = false;
    const timer = this.#clock.setInterval(async () => {
      if (busy || this.#life.stopped) return;
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

  /** A repair pass soon after the ring changed. */
  #scheduleRepair(): void {
    if (this.#life.stopped) return;
    const timer = this.#clock.setTimeout(() => {
      this.#timers.delete(timer);
      void this.#repair.run().catch((error) =>
        this.#log(`repair failed: ${(error as Error).message}`)
      );
    }, repairDelayMs);
    this.#timers.add(timer);
  }

  // ---------------------------------------------------------------- dispatch

  /** Serves one request; never throws. */
  handle(request: Request, session: Session): Promise<Reply> {
    this.#inspection.heardFrom(session);
    if (!this.#inspection.observed) return this.#serve(request, session);
    const started = performance.now();
    return this.#serve(request, session).then((reply) => {
      this.#inspection.served(request, session, reply, performance.now() - started);
      return reply;
    });
  }

  /**
   * Asks one server of the ring as a peer would (this one: served here, as
   * for a client): for the HTTP side, which shows every server.
   *
   * @throws {ConnectionError} when the peer cannot be reached or fails.
   */
  ask(id: string, request: Request, timeoutMs?: number): Promise<Reply> {
    if (id === this.id) return this.handle(request, { peer: null });
    return this.#peers.request(id, request, timeoutMs);
  }

  async #serve(request: Request, session: Session): Promise<Reply> {
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
      if (isDiskFull(error)) {
        return nack(
          "unavailable",
          `Disk full on ${this.id}: cannot store (${(error as Error).message})`,
        );
      }
      this.#log(`internal error on ${request.command}: ${(error as Error).stack ?? error}`);
      return nack("internal", (error as Error).message);
    }
  }

  /**
   * Hands a request to its command's handler: the one place every request
   * passes, after the check of who may send it.
   */
  #dispatch(request: Request, session: Session): Promise<Reply> | Reply {
    const refusal = this.#authentication.refusal(request.command, session);
    if (refusal) return refusal;
    // The table pairs each command with its handler; TypeScript cannot
    // follow that pairing through an index, hence the widened type.
    const handler = this.#handlers[request.command] as Handler<Command>;
    return handler(request, session);
  }

  #handlerTable(
    { files, submission, reports, renewal, cancelling, listing, runners }: {
      files: FileCommands;
      submission: JobSubmission;
      reports: JobReports;
      renewal: JobRenewal;
      cancelling: JobCancel;
      listing: JobListing;
      runners: RunnerRegistry;
    },
  ): Handlers {
    const membership = this.#membership;
    const jobs = this.#jobs;
    const repair = this.#repair;
    const authentication = this.#authentication;
    return {
      HELO: (_, session) => authentication.hello(session),
      AUTH: (request, session) => authentication.authenticate(request, session),
      ADD: (request) => files.addFile(request.name, request.data, request.salt),
      MADD: (request) => files.addChunked(request.name, request.manifest, request.salt),
      GETM: (request) => files.getManifest(request.hash),
      BADD: (request, session) => files.copy(request, session),
      GET: (request) => files.get(request.hash),
      UPD: (request, session) => reports.update(request, session),
      JADD: (request) => submission.addJob(request),
      GETJ: (request, session) => jobs.getJob(session, request.waitMs ?? 0),
      HAVJ: (_, session) => jobs.haveJob(session),
      SADD: (request) => membership.addServers(request.servers),
      GETS: () => membership.servers(),
      SUCC: (request) => membership.successorDied(request.dead),
      STOP: () => ack(),
      STAT: (request) => files.stat(request.hash),
      WAIT: (request, session) =>
        files.wait(request.hash, Math.min(request.timeoutMs, waitMsMax), session),
      RLSE: (request, session) => jobs.release(request.hash, request.lease, session),
      RNEW: (request, session) => renewal.renew(request.leases, session),
      CNCL: (request, session) => cancelling.cancel(request.hash, session),
      INFO: (request) =>
        ack(encoder.encode(JSON.stringify(this.info(request.maxAgeMs))).toBase64()),
      PEER: (request, session) => {
        session.peer = memberId(request.host, request.port);
        return ack();
      },
      PROB: (request) => membership.probe(memberId(request.host, request.port)),
      MEMB: (request) => membership.gossip(request.members.map(toMember)),
      HAVE: (request) => repair.have(request.entries),
      PULL: (request) => repair.pull(request.hash, request.metaOnly),
      HOLD: (request) => repair.hold(request.nonce, request.hashes),
      JOBS: (request, session) => listing.jobs(request.query, session),
      JOBI: (request, session) => listing.job(request.hash, session),
      PROG: (request, session) => listing.progress(request, session),
      RUNR: (request) => runners.announce(request.record),
      RUNS: (request, session) => runners.list(request.query, session),
    };
  }

  // ---------------------------------------------------------------- inspection

  /** What this server holds and how it sees the ring; counts at most `maxAgeMs` old. */
  info(maxAgeMs?: number): Record<string, unknown> {
    return this.#inspection.info(maxAgeMs);
  }

  /** Its inspection: the catalogue, counts and stats the HTTP side shows. */
  get inspection(): Inspection {
    return this.#inspection;
  }
}
