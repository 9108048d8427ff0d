/**
 * Leases that follow the runner: what this server knows of the renewals
 * (RNEW) of the jobs it keeps, and what a renewal says back. Pure: time
 * comes in as `nowMs`; nothing here is stored or sent.
 *
 * A renewal is kept in memory only, on every owner of the job (the server
 * a runner talks to sends it to each of them), never written to the store:
 * it changes every few seconds for every running job. A server that has
 * just started knows of no renewal, so it counts every lease as renewed at
 * its start: a job whose runner lives is never handed out twice because
 * its primary restarted, and one whose runner died waits one lease more.
 *
 * @module
 */

import type { RenewStatus } from "../protocol/renewal.ts";
import { isTerminal, type JobMeta } from "./objects.ts";

export type { RenewStatus } from "../protocol/renewal.ts";

/** What a renewal under `lease` says of the stored job (undefined: not stored here). */
export function renewalOf(job: JobMeta | undefined, lease: string): RenewStatus {
  if (job === undefined) return "unknown";
  if (isTerminal(job)) return job.reason === "cancelled" ? "cancelled" : "lost";
  return job.state === "leased" && job.lease === lease ? "ok" : "lost";
}

/**
 * One status of a lease from the answers of its owners, primary first
 * (`unknown` for an owner that did not answer): a cancellation anywhere
 * wins, then the first owner that knows the job.
 */
export function combineRenewals(answers: readonly RenewStatus[]): RenewStatus {
  if (answers.includes("cancelled")) return "cancelled";
  return answers.find((answer) => answer !== "unknown") ?? "unknown";
}

interface Renewal {
  readonly lease: string;
  readonly untilMs: number;
}

/** Options of {@linkcode LeaseRenewals}. */
export interface LeaseRenewalsOptions {
  /** When this server started (its clock): every lease counts as renewed then. */
  readonly startMs: number;
  readonly leaseMs: number;
}

/** The renewals one server knows of. */
export class LeaseRenewals {
  readonly #renewals = new Map<number, Renewal>();
  readonly #startMs: number;
  readonly #leaseMs: number;
  #prunedMs: number;

  /** No renewal known yet; leases count as renewed at `startMs`. */
  constructor(options: LeaseRenewalsOptions) {
    this.#startMs = options.startMs;
    this.#leaseMs = options.leaseMs;
    this.#prunedMs = options.startMs;
  }

  /** How many renewals are remembered (for inspection and tests). */
  get size(): number {
    return this.#renewals.size;
  }

  /**
   * Renews the lease `lease` of job `hash`, stored here as `job`, until
   * `nowMs + leaseMs` when it is the job's current lease. Returns what the
   * renewal came to.
   */
  renew(hash: number, lease: string, job: JobMeta | undefined, nowMs: number): RenewStatus {
    this.#prune(nowMs);
    const status = renewalOf(job, lease);
    if (status === "ok") this.#renewals.set(hash, { lease, untilMs: nowMs + this.#leaseMs });
    else if (status !== "unknown") this.#renewals.delete(hash);
    return status;
  }

  /**
   * The job with its lease as renewals extended it: a leased job's
   * `leaseUntilMs` moves to its last renewal under its current token, and
   * to no earlier than one lease after this server started.
   */
  effective(hash: number, job: JobMeta): JobMeta {
    if (job.state !== "leased") return job;
    const renewal = this.#renewals.get(hash);
    const renewedMs = renewal?.lease === job.lease ? renewal!.untilMs : 0;
    const untilMs = Math.max(job.leaseUntilMs, renewedMs, this.#startMs + this.#leaseMs);
    return untilMs === job.leaseUntilMs ? job : { ...job, leaseUntilMs: untilMs };
  }

  /** Forgets renewals that ran out a lease ago (at most once a lease). */
  #prune(nowMs: number): void {
    if (nowMs - this.#prunedMs < this.#leaseMs) return;
    this.#prunedMs = nowMs;
    for (const [hash, renewal] of this.#renewals) {
      if (renewal.untilMs + this.#leaseMs < nowMs) this.#renewals.delete(hash);
    }
  }
}
