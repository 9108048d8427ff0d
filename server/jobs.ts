/**
 * The job state machine: readiness from inputs, leases and their expiry,
 * results accepted once, failure cascading to dependents. Pure: time comes
 * in as `nowMs`; functions return the next metadata instead of storing it.
 *
 * @module
 */

import { capDetail } from "../protocol/message.ts";
import { type FileState, isTerminal, type JobMeta } from "./objects.ts";
import { emptyDigest, fromOutputDetail, withResult } from "./result_keys.ts";

/** What is known of one input of a job. */
export interface InputStatus {
  readonly hash: number;
  readonly name: string;
  /** `missing` when no live server holds it. */
  readonly state: FileState | "missing" | "unknown";
  readonly error?: string;
}

/** Whether a job can run, must wait, or fails because of an input. */
export type Readiness =
  | { readonly kind: "ready" }
  | { readonly kind: "waiting" }
  | { readonly kind: "failed"; readonly detail: string };

/** Decides readiness from the inputs' states: any failed input fails the job. */
export function readinessOf(inputs: readonly InputStatus[]): Readiness {
  let waiting = false;
  for (const input of inputs) {
    if (input.state === "failed") {
      return {
        kind: "failed",
        // Capped: along a chain of failures each detail quotes the one before.
        detail: capDetail(
          `input ${input.name} (${hex(input.hash)}) failed${input.error ? `: ${input.error}` : ""}`,
        ),
      };
    }
    if (input.state !== "complete") waiting = true;
  }
  return waiting ? { kind: "waiting" } : { kind: "ready" };
}

function hex(hash: number): string {
  return hash.toString(16).padStart(8, "0");
}

/** True when GETJ may hand the job out now. */
export function isLeasable(job: JobMeta, nowMs: number): boolean {
  if (job.state === "ready" || job.state === "released") return true;
  return job.state === "leased" && job.leaseUntilMs <= nowMs;
}

/** Options of {@linkcode leaseJob}. */
export interface LeaseOptions {
  readonly nowMs: number;
  readonly leaseMs: number;
  /** A job whose leases expired this many times fails as lost. */
  readonly lostMax: number;
  /** The new lease's token: 32 hex digits from a random source (the shell draws it). */
  readonly token: string;
}

/**
 * Leases a leasable job: the next attempt, leased until `nowMs + leaseMs`
 * under a new token. A job whose lease expired counts as lost once; after
 * `lostMax` losses it fails instead (a job that kills every runner must not
 * loop forever).
 */
export function leaseJob(job: JobMeta, options: LeaseOptions): JobMeta {
  const expired = job.state === "leased";
  const lost = job.lost + (expired ? 1 : 0);
  if (lost >= options.lostMax) {
    return withResult({
      ...job,
      state: "failed",
      lost,
      reason: "lost",
      detail: `no result after ${lost} leases expired (runner died or hung)`,
      exitCode: null,
      leaseUntilMs: 0,
    }, emptyDigest);
  }
  return {
    ...job,
    state: "leased",
    attempt: job.attempt + 1,
    lost,
    leaseUntilMs: options.nowMs + options.leaseMs,
    lease: options.token,
  };
}

/** Gives a leased job back (its runner is stopping): it is ready again. */
export function releaseJob(job: JobMeta): JobMeta | null {
  if (job.state !== "leased") return null;
  return { ...job, state: "released", leaseUntilMs: 0 };
}

/** Why a report or give-back of `job` under the lease token `token` is refused, or null. */
export function leaseProblem(job: JobMeta, token: string | undefined): string | null {
  if (job.lease === undefined || job.attempt === 0) {
    return `the job was never handed out (it is ${job.state})`;
  }
  if (token === undefined) {
    return "no lease token: send the one GETJ handed out with the job (lease=…)";
  }
  if (token !== job.lease) {
    return `the lease token is not the job's current lease (attempt ${job.attempt} holds it)`;
  }
  return job.state === "leased" ? null : `the lease was given back (the job is ${job.state})`;
}

/**
 * What a give-back (RLSE) under `token` does to `job`: `released` (the
 * record to store), `unchanged` (finished, or given back already under
 * this very token: a retry) or `refused` with why.
 */
export function releaseUnder(
  job: JobMeta,
  token: string | undefined,
):
  | { readonly kind: "released"; readonly job: JobMeta }
  | { readonly kind: "unchanged" }
  | { readonly kind: "refused"; readonly detail: string } {
  if (isTerminal(job)) return { kind: "unchanged" };
  if (job.state === "released" && token !== undefined && token === job.lease) {
    return { kind: "unchanged" };
  }
  const problem = leaseProblem(job, token);
  if (problem) return { kind: "refused", detail: problem };
  return { kind: "released", job: releaseJob(job)! };
}

/** A runner's report on a job. */
export interface JobResult {
  readonly stderr: string;
  readonly exitCode: number | null;
  /** null on success; otherwise exception, timeout, memory, output-limit, killed, … */
  readonly reason: string | null;
  readonly detail: string;
}

/** True when a reported result is a success. */
export function isSuccess(result: JobResult): boolean {
  return result.reason === null && (result.exitCode === null || result.exitCode === 0);
}

/**
 * Applies a runner's result, whose output's stored data has digest
 * `outputDigest` (that of no data for a failure: its stdout is dropped).
 * Returns null when the job is already finished: a late duplicate is
 * acknowledged and ignored.
 */
export function finishJob(job: JobMeta, result: JobResult, outputDigest: string): JobMeta | null {
  if (isTerminal(job)) return null;
  const success = isSuccess(result);
  return withResult({
    ...job,
    state: success ? "done" : "failed",
    attempt: Math.max(job.attempt, 1),
    exitCode: result.exitCode,
    reason: success ? null : (result.reason ?? "exception"),
    detail: result.detail,
    stderr: result.stderr,
    leaseUntilMs: 0,
  }, success ? outputDigest : emptyDigest);
}

/**
 * Finishes a job to agree with its output, stored complete by an earlier
 * report that never reached the job's copies (the server storing it died
 * or lost its peers in between): readers and dependent jobs may have read
 * that output, so it stands. The report's stderr and exit status are lost.
 * Null when the job is already finished.
 *
 * The record carries the output's result key, so it ranks like the output
 * against any other result; its attempt is one past the output's, so that
 * the report's own record, should it exist on some server after all (a
 * split brain), outranks it. Every field is set from the output, so two
 * servers that do this write the same record.
 */
export function finishFromOutput(
  job: JobMeta,
  output: { readonly attempt?: number; readonly report?: string },
  outputDigest: string,
): JobMeta | null {
  if (isTerminal(job)) return null;
  return withResult(
    {
      ...job,
      state: "done",
      attempt: (output.attempt ?? job.attempt) + 1,
      lost: 0,
      exitCode: null,
      reason: null,
      detail: fromOutputDetail,
      stderr: "",
      leaseUntilMs: 0,
    },
    outputDigest,
    output.report,
  );
}

/**
 * Fails a job because of an input (cascade). Null when already finished.
 * Two servers that both created or failed the same job (a JADD retried
 * through another server while the first was still storing it) write
 * records that differ in their creation time, which the result key covers:
 * it ranks them, so that every copy converges on one.
 */
export function failJob(job: JobMeta, reason: string, detail: string): JobMeta | null {
  if (isTerminal(job)) return null;
  return withResult({
    ...job,
    state: "failed",
    reason,
    detail: capDetail(detail),
    exitCode: null,
    leaseUntilMs: 0,
  }, emptyDigest);
}

/** Marks a waiting job ready. Null when it is not waiting. */
export function markReady(job: JobMeta): JobMeta | null {
  return job.state === "waiting" ? { ...job, state: "ready" } : null;
}
