/**
 * The acceptance of a job report (UPD): which result a job keeps when a
 * runner reports it, given the job's freshest copy and its output's. Pure:
 * the shell (job_reports.ts) finds the copies, asks, and stores what it is
 * told to.
 *
 * The rules: a job accepts one result; a report on a finished job is a
 * duplicate, acknowledged and ignored. An output already complete with
 * another result was stored by a report that never reached the job's
 * copies: it may have been read, so the job takes that result and this
 * report is the duplicate. Each accepted record carries a key of the
 * result (result_keys.ts), which ranks two results of one attempt so that
 * every copy keeps the same one (objects.ts, versionOf). A report is taken
 * only under the job's current lease: it carries the token GETJ handed out.
 *
 * @module
 */

import { sha256Hex } from "../protocol/digest.ts";
import { capDetail, capStderr, type Request } from "../protocol/message.ts";
import { finishJob, isSuccess, type JobResult, leaseProblem } from "./jobs.ts";
import type { FileMeta, JobMeta, ObjectMeta } from "./objects.ts";

/** A runner's report of a job, as UPD carries it (with its lease token, if any). */
export type JobReport = Omit<Extract<Request, { command: "UPD" }>, "command" | "hash">;

/** What accepting a report comes to. */
export type Acceptance =
  /** The job is finished already: acknowledge, change nothing. */
  | { readonly kind: "duplicate" }
  /** The report is not for the job's current lease: `NACK:lease`, change nothing. */
  | { readonly kind: "refused"; readonly detail: string }
  /**
   * The output holds another result, stored by an earlier report: the job
   * takes it (jobs.ts, finishFromOutput, once the output's data is at hand
   * for its digest) and only the job is stored (the output stands).
   */
  | { readonly kind: "from-output"; readonly output: FileMeta }
  /** The report's result: store its output, then the job. */
  | { readonly kind: "result"; readonly job: JobMeta };

const empty = new Uint8Array(0);

/** The result a report gives, as the job keeps it (stderr and detail cut). */
export function resultOf(report: JobReport): JobResult {
  return {
    stderr: capStderr(report.stderr ?? empty).toBase64(),
    exitCode: report.exitCode ?? null,
    reason: report.reason ?? null,
    detail: capDetail(report.detail ?? ""),
  };
}

/**
 * The digest of the output data a report stores: its manifest or stdout
 * for a success, nothing for a failure (its stdout is dropped).
 */
export function reportOutputDigest(report: JobReport): string {
  return sha256Hex(isSuccess(resultOf(report)) ? report.manifest ?? report.stdout : empty);
}

/**
 * Decides what a report does to `job` (its freshest copy), given the
 * freshest copy of its output found (undefined when none was). A report on
 * an unfinished job must carry the token of the job's current lease.
 */
export function acceptReport(
  job: JobMeta,
  report: JobReport,
  output: ObjectMeta | undefined,
): Acceptance {
  if (job.state === "done" || job.state === "failed") return { kind: "duplicate" };
  const problem = leaseProblem(job, report.lease);
  if (problem) return { kind: "refused", detail: problem };
  const outputDigest = reportOutputDigest(report);
  const finished = finishJob(job, resultOf(report), outputDigest);
  if (!finished) return { kind: "duplicate" };
  const earlier = output?.kind === "file" && output.state === "complete" &&
      output.resultKey !== finished.resultKey
    ? output
    : undefined;
  if (earlier) return { kind: "from-output", output: earlier };
  return { kind: "result", job: finished };
}
