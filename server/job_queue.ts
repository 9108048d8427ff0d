/**
 * The job queue: handing jobs out (GETJ, with its long poll, and HAVJ,
 * whether any server has one), giving a lease back (RLSE), and readiness (a waiting job whose inputs finished becomes ready; one
 * whose input failed fails). A server hands out the jobs it is primary of,
 * oldest first; a client's GETJ drains the whole ring by asking the peers.
 * Jobs enter through job_submission.ts (JADD). Decisions come from the
 * pure jobs.ts; this room carries them out. A lease runs out only when
 * its runner stops renewing it (RNEW, job_renewal.ts, lease_renewals.ts).
 *
 * @module
 */

import { formatHash } from "../protocol/hash.ts";
import { ack, nack, type Reply } from "../protocol/message.ts";
import { jobLostMax, jobPollMs, readinessLookupsConcurrency } from "../limits.ts";
import type { ServerContext } from "./context.ts";
import { fileErrorOf, leaseFields } from "./job_records.ts";
import type { JobReports } from "./job_reports.ts";
import {
  failJob,
  isLeasable,
  leaseJob,
  markReady,
  type Readiness,
  readinessOf,
  releaseJob,
  releaseUnder,
} from "./jobs.ts";
import { mapLimit } from "./map_limit.ts";
import type { ObjectIndex } from "./object_index.ts";
import { isTerminal, type JobMeta } from "./objects.ts";
import type { Replication } from "./replication.ts";
import type { Session } from "./session.ts";
import { LeaseRenewals } from "./lease_renewals.ts";
import { leaseOf, rememberLease } from "./session_leases.ts";

const hex = formatHash;

/** What asking this server alone for a job came to. */
type LeaseOutcome = { kind: "job"; reply: Reply } | { kind: "wait" } | { kind: "none" };

/** Jobs in, leases out. */
export class JobQueue {
  readonly #ctx: ServerContext;
  readonly #replication: Replication;
  readonly #index: ObjectIndex;
  readonly #reports: JobReports;
  readonly #renewals: LeaseRenewals;
  #sweeping = false;

  /** The job queue of one server. */
  constructor(
    ctx: ServerContext,
    rooms: {
      replication: Replication;
      index: ObjectIndex;
      reports: JobReports;
      renewals?: LeaseRenewals;
    },
  ) {
    this.#ctx = ctx;
    this.#replication = rooms.replication;
    this.#index = rooms.index;
    this.#reports = rooms.reports;
    this.#renewals = rooms.renewals ??
      new LeaseRenewals({ startMs: ctx.now(), leaseMs: ctx.leaseMs });
  }

  // ---------------------------------------------------------------- GETJ, HAVJ

  /**
   * GETJ: a job from this server or, for a client, from any server of the
   * ring. With `waitMs`, waits (long poll) until a job can be handed out or
   * the time is up, waking when this server learns of a change to its jobs
   * and asking its peers again every `jobPollMs`.
   */
  async getJob(session: Session, waitMs: number): Promise<Reply> {
    const deadline = this.#ctx.now() + waitMs;
    for (;;) {
      if (session.hangUp?.aborted) return leaseReply("wait");
      const reply = await this.#getJobOnce(session);
      // For a runner that does not send the token back (session_leases.ts).
      if (reply.ok && !session.peer) rememberLease(session, reply);
      const remaining = deadline - this.#ctx.now();
      if (reply.ok || session.peer || remaining <= 0 || this.#ctx.life.stopped) return reply;
      await this.#index.jobsChanged(Math.min(remaining, jobPollMs), session.hangUp);
    }
  }

  async #getJobOnce(session: Session): Promise<Reply> {
    const local = await this.#leaseLocal();
    if (local.kind === "job") return local.reply;
    if (session.peer) return leaseReply(local.kind);
    let work = local.kind === "wait";
    for (const id of this.#ctx.membership.peerOrder()) {
      let reply: Reply;
      try {
        reply = await this.#ctx.peers.request(id, { command: "GETJ" });
      } catch (error) {
        await this.#ctx.membership.peerFailed(id, error);
        work = true;
        continue;
      }
      if (reply.ok) return reply;
      if (reply.reason === "wait") work = true;
    }
    return leaseReply(work ? "wait" : "none");
  }

  /** HAVJ: whether this server or, for a client, any server has a job to hand out now. */
  async haveJob(session: Session): Promise<Reply> {
    const local = this.#localJobs();
    if (local === "ready") return ack();
    if (session.peer) return leaseReply(local);
    let work = local === "wait";
    for (const id of this.#ctx.membership.peerOrder()) {
      try {
        const reply = await this.#ctx.peers.request(id, { command: "HAVJ" });
        if (reply.ok) return ack();
        if (reply.reason === "wait") work = true;
      } catch (error) {
        await this.#ctx.membership.peerFailed(id, error);
        work = true;
      }
    }
    return leaseReply(work ? "wait" : "none");
  }

  /** Whether this server, as primary, has a job to hand out now. */
  #localJobs(): "ready" | "wait" | "none" {
    if (this.#ctx.life.reconciling) return "wait";
    const now = this.#ctx.now();
    let work = false;
    for (const [hash, job] of this.#index.openJobs()) {
      if (!this.#replication.isPrimary(hash)) continue;
      work = true;
      if (isLeasable(this.#renewals.effective(hash, job), now)) return "ready";
      if (job.state === "waiting" && this.#localReadiness(job).kind !== "waiting") return "ready";
    }
    return work ? "wait" : "none";
  }

  /** A job's readiness from what this server knows of its inputs. */
  #localReadiness(job: JobMeta): Readiness {
    return readinessOf(job.inputs.map((input) => {
      const known = this.#index.finished(input.hash);
      return {
        ...input,
        state: known?.state ?? "unknown",
        ...(known?.error ? { error: known.error } : {}),
      };
    }));
  }

  /**
   * Leases the oldest job this server owns that can run. The lease is
   * handed out only once every owner of the job stores it.
   */
  async #leaseLocal(): Promise<LeaseOutcome> {
    if (this.#ctx.life.reconciling) return { kind: "wait" };
    const now = this.#ctx.now();
    let work = false;
    for (const [hash, meta] of this.#index.openJobs()) {
      if (!this.#replication.isPrimary(hash) || this.#reports.isStoring(hash)) continue;
      work = true;
      let job = meta;
      if (job.state === "waiting") {
        const readiness = this.#localReadiness(job);
        if (readiness.kind === "waiting") continue;
        if (readiness.kind === "failed") {
          this.#ctx.background(
            this.#failForInput(hash, readiness.detail),
            `failing job ${hex(hash)}`,
          );
          continue;
        }
        job = markReady(job)!;
      }
      if (!isLeasable(this.#renewals.effective(hash, job), now)) continue;
      const object = this.#ctx.store.get(hash);
      if (!object) continue;
      const leased = leaseJob(job, {
        nowMs: now,
        leaseMs: this.#ctx.leaseMs,
        lostMax: jobLostMax,
        token: this.#ctx.token(),
      });
      const next = { ...object, meta: leased };
      this.#index.apply(next);
      if (leased.state === "failed") {
        this.#ctx.background(
          this.#reports.storeFinished(next, null),
          `failing lost job ${hex(hash)}`,
        );
        continue;
      }
      try {
        await this.#replication.replicate(next, { selfHolds: true });
      } catch (error) {
        // Never hand out a lease only this server knows of: were it to die,
        // a replica would lease the job again while the runner still runs it.
        // Given back instead (not counted as lost); asked again, this server
        // leases it anew once the copy goes through or the ring has changed.
        // Waiting GETJs are not woken for it: they would fail the same way at
        // once, over and over, until then.
        this.#ctx.log(
          `lease of ${hex(hash)} not replicated: ${(error as Error).message}; released`,
        );
        const released = releaseJob(leased);
        if (released) this.#index.apply({ ...object, meta: released }, { wake: false });
        return { kind: "wait" };
      }
      return { kind: "job", reply: ack(...leaseFields(next)) };
    }
    return { kind: work ? "wait" : "none" };
  }

  /** Fails a waiting job because an input failed (the cascade), on every owner. */
  async #failForInput(hash: number, detail: string): Promise<void> {
    const object = this.#ctx.store.get(hash);
    if (!object || object.meta.kind !== "job") return;
    const failed = failJob(object.meta, "input-failed", detail);
    if (!failed) return;
    const next = { ...object, meta: failed };
    this.#index.apply(next);
    await this.#reports.storeFinished(next, null);
  }

  // ---------------------------------------------------------------- RLSE

  /**
   * RLSE: a runner gives a leased job back unrun (it is stopping); the job
   * is ready again. Only under the job's current lease (its token, or the
   * one handed out on this connection); a finished job is left as it is.
   */
  async release(hash: number, token: string | undefined, session: Session): Promise<Reply> {
    const lease = token ?? leaseOf(session, hash);
    if (!session.peer) {
      const forwarded = await this.#replication.forward(hash, {
        command: "RLSE",
        hash,
        ...(lease === undefined ? {} : { lease }),
      });
      if (forwarded) return forwarded;
    }
    const object = this.#ctx.store.get(hash);
    if (!object && this.#ctx.membership.ownersDead(hash, this.#ctx.replicas)) {
      // The side of a split that holds no copy: the job exists on the other.
      return nack("unavailable", `Job ${hex(hash)} is kept only by servers declared dead`);
    }
    if (!object) return nack("not-found", `No job ${hex(hash)}`);
    if (object.meta.kind !== "job") return nack("not-a-job", `${hex(hash)} is a file, not a job`);
    const decision = releaseUnder(object.meta, lease);
    if (decision.kind === "refused") {
      return nack("lease", `Cannot give job ${hex(hash)} back: ${decision.detail}`);
    }
    if (decision.kind === "released") {
      await this.#replication.replicate({ ...object, meta: decision.job });
    }
    return ack();
  }

  // ---------------------------------------------------------------- readiness

  /** Checks inputs held elsewhere for jobs this server owns and that wait. */
  async sweepReadiness(): Promise<void> {
    if (this.#sweeping || this.#ctx.life.reconciling) return;
    this.#sweeping = true;
    try {
      const unknown = new Set<number>();
      for (const [hash, job] of this.#index.openJobs()) {
        if (job.state !== "waiting" || !this.#replication.isPrimary(hash)) continue;
        for (const input of job.inputs) {
          if (!this.#index.finished(input.hash)) unknown.add(input.hash);
        }
      }
      await mapLimit([...unknown], readinessLookupsConcurrency, async (hash) => {
        const object = await this.#replication.find(hash, { metaOnly: true });
        if (object?.meta.kind === "file" && isTerminal(object.meta)) {
          this.#index.learnFinished(hash, {
            state: object.meta.state,
            ...fileErrorOf(object.meta),
          });
        }
      });
    } finally {
      this.#sweeping = false;
    }
  }
}

/** The NACK of a GETJ or HAVJ that has no job to hand out. */
function leaseReply(kind: "wait" | "none"): Reply {
  return kind === "wait"
    ? nack("wait", "Jobs exist but none is ready yet")
    : nack("none", "No jobs left");
}
