/**
 * The job state machine: readiness from inputs, leases and their expiry,
 * results accepted once, failure cascading to dependents. Pure: time comes
 * in as `nowMs`; functions return the next metadata instead of storing it.
 *
 * @module
 */

import { sha256Hex } from "../protocol/digest.ts";
import { capDetail } from "../protocol/message.ts";
import { type FileState, isTerminal, type JobMeta } from "./objects.ts";

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
}

/**
 * Leases a leasable job: the next attempt, leased until `nowMs + leaseMs`.
 * A job whose lease expired counts as lost once; after `lostMax` losses it
 * fails instead (a job that kills every runner must not loop forever).
 */
export function leaseJob(job: JobMeta, options: LeaseOptions): JobMeta {
  const expired = job.state === "leased";
  const lost = job.lost + (expired ? 1 : 0);
  if (lost >= options.lostMax) {
    return {
      ...job,
      state: "failed",
      lost,
      reason: "lost",
      detail: `no result after ${lost} leases expired (runner died or hung)`,
      exitCode: null,
    };
  }
  return {
    ...job,
    state: "leased",
    attempt: job.attempt + 1,
    lost,
    leaseUntilMs: options.nowMs + options.leaseMs,
  };
}

/** Gives a leased job back (its runner is stopping): it is ready again. */
export function releaseJob(job: JobMeta): JobMeta | null {
  if (job.state !== "leased") return null;
  return { ...job, state: "released", leaseUntilMs: 0 };
}

/** A runner's report on a job. */
export interface JobResult {
  readonly stderr: string;
  readonly exitCode: number | null;
  /** null on success; otherwise exception, timeout, memory, output-limit, killed, … */
  readonly reason: string | null;
  readonly detail: string;
  /** Digest bits of the whole report (see {@linkcode JobMeta.resultKey}). */
  readonly key?: number;
}

/** True when a reported result is a success. */
export function isSuccess(result: JobResult): boolean {
  return result.reason === null && (result.exitCode === null || result.exitCode === 0);
}

/**
 * Applies a runner's result. Returns null when the job is already finished:
 * a late duplicate is acknowledged and ignored.
 */
export function finishJob(job: JobMeta, result: JobResult): JobMeta | null {
  if (isTerminal(job)) return null;
  const success = isSuccess(result);
  return {
    ...job,
    state: success ? "done" : "failed",
    attempt: Math.max(job.attempt, 1),
    exitCode: result.exitCode,
    reason: success ? null : (result.reason ?? "exception"),
    detail: result.detail,
    stderr: result.stderr,
    leaseUntilMs: 0,
    ...(result.key === undefined ? {} : { resultKey: result.key }),
  };
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
  output: { readonly attempt?: number; readonly resultKey?: number },
): JobMeta | null {
  if (isTerminal(job)) return null;
  return {
    ...job,
    state: "done",
    attempt: (output.attempt ?? job.attempt) + 1,
    lost: 0,
    exitCode: null,
    reason: null,
    detail: "result taken from the output stored by an earlier report (its stderr was lost)",
    stderr: "",
    leaseUntilMs: 0,
    ...(output.resultKey === undefined ? {} : { resultKey: output.resultKey }),
  };
}

/**
 * 20 bits of a digest of a failure no runner reported (an input failed).
 * Two servers that both created or failed the same job (a JADD retried
 * through another server while the first was still storing it) write
 * records that differ in their creation time; the key ranks them, so that
 * every copy converges on one (see {@linkcode JobMeta.resultKey}).
 */
export function failureKey(createdMs: number, reason: string, detail: string): number {
  return Number.parseInt(sha256Hex(`${createdMs}\n${reason}\n${detail}`).slice(0, 5), 16);
}

/** Fails a job because of an input (cascade). Null when already finished. */
export function failJob(job: JobMeta, reason: string, detail: string): JobMeta | null {
  if (isTerminal(job)) return null;
  const capped = capDetail(detail);
  return {
    ...job,
    state: "failed",
    reason,
    detail: capped,
    exitCode: null,
    leaseUntilMs: 0,
    resultKey: failureKey(job.createdMs, reason, capped),
  };
}

/** Marks a waiting job ready. Null when it is not waiting. */
export function markReady(job: JobMeta): JobMeta | null {
  return job.state === "waiting" ? { ...job, state: "ready" } : null;
}
