/**
 * What a server tells about itself: INFO (what it holds, how it sees the
 * ring, what it heard, how repair goes), the catalogue of the jobs it holds
 * (for listings and counts), the observer told of every request served
 * (the hook where request metrics count), and the counts of events the
 * rooms note (jobs finished and how long they ran, repair copies). Also
 * the log lines of notable events: members joining or leaving the ring, a
 * repair pass that moved copies, a job failing (on its primary). Reads
 * only: nothing here changes what the server stores or decides.
 *
 * @module
 */

import { formatHash, objectHash } from "../protocol/hash.ts";
import type { Command, Reply, Request } from "../protocol/message.ts";
import { infoScanBatch } from "../limits.ts";
import config from "../deno.json" with { type: "json" };
import type { ServerContext, ServerEvent } from "./context.ts";
import { JobCatalogue } from "./job_catalogue.ts";
import type { CatalogueEntry } from "./job_listing_pages.ts";
import { Counter, Histogram } from "./metrics.ts";
import { RunnerRegistry } from "./runner_registry.ts";
import type { ObjectIndex } from "./object_index.ts";
import { isJob } from "./objects.ts";
import type { Replication } from "./replication.ts";
import type { Session } from "./session.ts";
import type { StoreCounts } from "./store.ts";

/** The version of cloud this server runs. */
export const cloudVersion: string = config.version;

/** One request served, as an observer is told of it. */
export interface RequestEvent {
  readonly command: Command;
  /** True for an ACK. */
  readonly ok: boolean;
  /** The NACK's reason; empty for an ACK. */
  readonly reason: string;
  /** Whether the request came from a peer server (PEER) rather than a client. */
  readonly fromPeer: boolean;
  /** Milliseconds from the request's arrival to its reply. */
  readonly durationMs: number;
}

/** Told of every request a server serves; what it throws is logged and ignored. */
export type RequestObserver = (event: RequestEvent) => void;

/** Objects held here by role, and what the store counts. */
export interface ObjectCounts extends StoreCounts {
  readonly owner: number;
  readonly replica: number;
  readonly stray: number;
}

/** How repair goes on this server. */
export interface RepairStats {
  readonly running: boolean;
  /** Since the last pass ended (null before the first). */
  readonly lastPassAgoMs: number | null;
  readonly lastPassMs: number | null;
  /**
   * Objects the pass now running (or the last one) found an owner without
   * a copy of, and has not copied yet; plus, on a ring with fewer servers
   * than copies to keep, every object this server is primary of.
   */
  readonly underReplicated: number;
  /** Copies being sent to owners now. */
  readonly inFlight: number;
  readonly sentTotal: number;
  readonly fetchedTotal: number;
  readonly droppedTotal: number;
}

/** Buckets of job run times, in seconds: from 10 ms to an hour. */
const jobDurationBuckets = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/** The inspection of one server. */
export class Inspection {
  readonly #ctx: ServerContext;
  readonly #replication: Replication;
  readonly #index: ObjectIndex;
  readonly #observer: RequestObserver | undefined;
  readonly #startedMs: number;
  /** Jobs held here, summarised. */
  readonly catalogue: JobCatalogue;
  /** The runners that told this server who they are. */
  readonly runners: RunnerRegistry;
  /** Jobs this server was primary of when they finished, by outcome. */
  readonly jobsFinished = new Counter(
    "cloud_jobs_finished_total",
    "Jobs finished on this server as their primary, by outcome (done or failed).",
    ["outcome"],
  );
  /** How long the last lease of a finished job ran. */
  readonly jobDuration = new Histogram(
    "cloud_job_duration_seconds",
    "Time from a job's last lease to its end, for jobs this server was primary of (lease seen here).",
    { buckets: jobDurationBuckets },
  );
  /** When each peer was last heard from (a request it sent), by this server's clock. */
  readonly #heard = new Map<string, number>();
  /** Bumped on every change to the store: counts are computed again only after one. */
  #generation = 0;
  #counts: { atMs: number; generation: number; ring: string; value: ObjectCounts } | null = null;
  #repair = {
    running: false,
    passStartedMs: 0,
    lastPassEndedMs: null as number | null,
    lastPassMs: null as number | null,
    short: 0,
    fixed: 0,
    inFlight: 0,
    sent: 0,
    fetched: 0,
    dropped: 0,
  };
  /** Repair totals when the pass now running started. */
  readonly #passMoved = { sent: 0, fetched: 0, dropped: 0 };
  /** Members' liveness as last logged; null until {@linkcode load}. */
  #members: Map<string, boolean> | null = null;
  /** The address of this server's HTTP side, once it serves. */
  http: string | null = null;

  /** Inspection over a server's rooms; `observer` is told of each request served. */
  constructor(
    ctx: ServerContext,
    rooms: { replication: Replication; index: ObjectIndex },
    observer?: RequestObserver,
  ) {
    this.#ctx = ctx;
    this.#replication = rooms.replication;
    this.#index = rooms.index;
    this.#observer = observer;
    this.#startedMs = ctx.now();
    this.runners = new RunnerRegistry(ctx);
    this.catalogue = new JobCatalogue({
      now: () => ctx.now(),
      isPrimary: (hash) => rooms.replication.isPrimary(hash),
      leaseMs: ctx.leaseMs,
      onFinished: (entry) => this.#finished(entry),
    });
    rooms.index.watch((change) => {
      this.#generation++;
      if (change.kind === "dropped") this.catalogue.drop(change.hash);
      else if (isJob(change.object)) this.catalogue.apply(change.object);
    });
  }

  /** Fills the catalogue from the store (at start). */
  load(): void {
    const jobs = this.#ctx.store.jobMetas().flatMap((row) =>
      row.meta.kind === "job" ? [{ hash: row.hash, name: row.name, meta: row.meta }] : []
    );
    this.catalogue.load(jobs);
    this.#members = new Map(this.#ctx.membership.members().map((m) => [m.id, m.alive]));
  }

  /** True when someone is told of requests. */
  get observed(): boolean {
    return this.#observer !== undefined;
  }

  /** Tells the observer of a request served. */
  served(request: Request, session: Session, reply: Reply, durationMs: number): void {
    if (!this.#observer) return;
    try {
      this.#observer({
        command: request.command,
        ok: reply.ok,
        reason: reply.ok ? "" : reply.reason,
        fromPeer: session.peer !== null,
        durationMs,
      });
    } catch (error) {
      this.#ctx.log(`request observer failed: ${(error as Error).message}`);
    }
  }

  /** Notes that a request arrived: from a peer, that it was heard from. */
  heardFrom(session: Session): void {
    if (session.peer !== null) this.#heard.set(session.peer, this.#ctx.now());
  }

  /** Counts an event a room noted. */
  note(event: ServerEvent): void {
    const repair = this.#repair;
    switch (event.kind) {
      case "repair-pass":
        if (event.phase === "start") {
          Object.assign(repair, {
            running: true,
            passStartedMs: this.#ctx.now(),
            short: 0,
            fixed: 0,
          });
          Object.assign(this.#passMoved, {
            sent: repair.sent,
            fetched: repair.fetched,
            dropped: repair.dropped,
          });
        } else this.#passEnded();
        return;
      case "repair-send":
        if (event.phase === "start") {
          repair.inFlight++;
          if (event.short) repair.short++;
          return;
        }
        repair.inFlight--;
        if (event.ok) repair.sent++;
        if (event.ok && event.short) repair.fixed++;
        return;
      case "repair-fetched":
        repair.fetched++;
        return;
      case "repair-dropped":
        repair.dropped += event.count;
        return;
    }
  }

  #passEnded(): void {
    const repair = this.#repair;
    const now = this.#ctx.now();
    repair.running = false;
    repair.lastPassEndedMs = now;
    repair.lastPassMs = now - repair.passStartedMs;
    const sent = repair.sent - this.#passMoved.sent;
    const fetched = repair.fetched - this.#passMoved.fetched;
    const dropped = repair.dropped - this.#passMoved.dropped;
    if (sent + fetched + dropped === 0 && repair.short === 0) return;
    this.#ctx.log(
      `repair pass done in ${repair.lastPassMs} ms: ${sent} copies sent, ${fetched} fetched, ${dropped} dropped; ${
        repair.short - repair.fixed
      } objects still short of copies`,
    );
  }

  /** How repair goes. */
  repairStats(): RepairStats {
    const repair = this.#repair;
    const now = this.#ctx.now();
    const ringShort = this.#ctx.membership.ring.members.length < this.#ctx.replicas
      ? this.objectCounts(Infinity).owner
      : 0;
    return {
      running: repair.running,
      lastPassAgoMs: repair.lastPassEndedMs === null ? null : now - repair.lastPassEndedMs,
      lastPassMs: repair.lastPassMs,
      underReplicated: Math.max(0, repair.short - repair.fixed) + ringShort,
      inFlight: repair.inFlight,
      sentTotal: repair.sent,
      fetchedTotal: repair.fetched,
      droppedTotal: repair.dropped,
    };
  }

  /** A job this server is primary of finished: counted, and logged when it failed. */
  #finished(entry: CatalogueEntry): void {
    this.jobsFinished.inc({ outcome: entry.state });
    if (entry.leasedMs !== null && entry.finishedMs !== null) {
      this.jobDuration.observe((entry.finishedMs - entry.leasedMs) / 1000);
    }
    if (entry.state === "failed") {
      this.#ctx.log(
        `job ${entry.name} (${formatHash(entry.hash)}) failed (${
          entry.reason ?? "error"
        }) after ${entry.attempt} attempt${entry.attempt === 1 ? "" : "s"}${
          entry.detail ? `: ${entry.detail}` : ""
        }`,
      );
    }
  }

  /** The ring changed: logs each member that joined, came back or was declared dead. */
  ringChanged(): void {
    if (this.#members === null) return;
    const now = new Map(this.#ctx.membership.members().map((m) => [m.id, m.alive]));
    for (const [id, alive] of now) {
      if (id === this.#ctx.id) continue;
      const before = this.#members.get(id);
      if (before === alive) continue;
      if (alive) this.#ctx.log(`member ${id} ${before === undefined ? "joined" : "is back"}`);
      else if (before !== undefined) this.#ctx.log(`member ${id} left the ring (dead)`);
    }
    this.#members = now;
  }

  /** Members by state as this server sees them: dead, suspect (missed heartbeats), alive. */
  memberStates(): { alive: number; suspect: number; dead: number } {
    const suspects = new Set(this.#ctx.membership.suspected());
    const states = { alive: 0, suspect: 0, dead: 0 };
    for (const member of this.#ctx.membership.members()) {
      if (!member.alive) states.dead++;
      else if (suspects.has(member.id)) states.suspect++;
      else states.alive++;
    }
    return states;
  }

  /** Since each peer was last heard from, by id. */
  heard(): Record<string, number> {
    const now = this.#ctx.now();
    return Object.fromEntries([...this.#heard].map(([id, at]) => [id, now - at]));
  }

  /**
   * The objects held here by role (owner, replica, stray) and the store's
   * counts: with `maxAgeMs` 0 counted afresh; else at most `maxAgeMs` old,
   * or older when nothing was stored or dropped and the ring did not change since.
   */
  objectCounts(maxAgeMs = 0): ObjectCounts {
    const now = this.#ctx.now();
    const ring = this.#ctx.membership.ring;
    const ringKey = `${ring.positions.length}|${ring.members.join(",")}`;
    const cached = this.#counts;
    if (
      maxAgeMs > 0 && cached && cached.ring === ringKey &&
      (cached.generation === this.#generation || now - cached.atMs <= maxAgeMs)
    ) return cached.value;
    const generation = this.#generation;
    let owner = 0;
    let replica = 0;
    let stray = 0;
    let after = -1;
    for (;;) {
      const batch = this.#ctx.store.scan(after, infoScanBatch);
      if (batch.length === 0) break;
      after = batch[batch.length - 1]!.hash;
      for (const { hash } of batch) {
        const index = this.#replication.owners(hash).indexOf(this.#ctx.id);
        if (index === 0) owner++;
        else if (index > 0) replica++;
        else stray++;
      }
    }
    const value = { owner, replica, stray, ...this.#ctx.store.counts() };
    this.#counts = { atMs: now, generation, ring: ringKey, value };
    return value;
  }

  /** What this server holds and how it sees the ring (INFO); counts at most `maxAgeMs` old. */
  info(maxAgeMs = 0): Record<string, unknown> {
    const membership = this.#ctx.membership;
    const self = membership.self;
    const now = this.#ctx.now();
    const counts = this.objectCounts(maxAgeMs);
    // The original keys first, in their order; then the inspection's.
    return {
      id: this.#ctx.id,
      incarnation: self.incarnation,
      replicas: this.#ctx.replicas,
      positions: self.salts.map((salt) => formatHash(objectHash(this.#ctx.id, salt))),
      objects: counts,
      // Kept in memory, always current (the counts may be older).
      openJobs: this.#index.openJobCount,
      reconciling: this.#ctx.life.reconciling,
      members: membership.members().map(({ id, incarnation, alive, salts }) => ({
        id,
        incarnation,
        alive,
        vnodes: salts.length,
      })),
      ring: membership.ring.members,
      version: cloudVersion,
      uptimeMs: now - this.#startedMs,
      http: this.http,
      jobs: this.catalogue.counts(),
      runners: this.runners.activeCount,
      suspects: membership.suspected(),
      heard: this.heard(),
      repair: this.repairStats(),
    };
  }
}
