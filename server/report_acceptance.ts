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
 * report (its digest), which ranks two results of one attempt so that
 * every copy keeps the same one (objects.ts, versionOf).
 *
 * @module
 */

import { sha256Hex } from "../protocol/digest.ts";
import { capDetail, capStderr, type Request } from "../protocol/message.ts";
import { finishFromOutput, finishJob } from "./jobs.ts";
import type { JobMeta, ObjectMeta } from "./objects.ts";

/** A runner's report of a job, as UPD carries it. */
export type JobReport = Omit<Extract<Request, { command: "UPD" }>, "command" | "hash">;

/** What accepting a report comes to. */
export type Acceptance =
  /** The job is finished already: acknowledge, change nothing. */
  | { readonly kind: "duplicate" }
  /** The job takes the result its output holds: store the job (the output stands). */
  | { readonly kind: "from-output"; readonly job: JobMeta }
  /** The report's result: store its output, then the job. */
  | { readonly kind: "result"; readonly job: JobMeta };

const empty = new Uint8Array(0);

/** 20 bits of a digest of a runner's whole report (see JobMeta.resultKey). */
export function resultKey(report: JobReport): number {
  const digest = sha256Hex(
    report.manifest ?? report.stdout,
    "\n",
    report.stderr ?? empty,
    `\n${report.exitCode ?? ""}\n${report.reason ?? ""}\n${report.detail ?? ""}`,
  );
  return Number.parseInt(digest.slice(0, 5), 16);
}

/**
 * Decides what a report does to `job` (its freshest copy), given the
 * freshest copy of its output found (undefined when none was).
 */
export function acceptReport(
  job: JobMeta,
  report: JobReport,
  output: ObjectMeta | undefined,
): Acceptance {
  const key = resultKey(report);
  const earlier = output?.kind === "file" && output.state === "complete" &&
      output.resultKey !== key
    ? output
    : undefined;
  if (earlier) {
    const finished = finishFromOutput(job, earlier);
    return finished ? { kind: "from-output", job: finished } : { kind: "duplicate" };
  }
  const finished = finishJob(job, {
    stderr: capStderr(report.stderr ?? empty).toBase64(),
    exitCode: report.exitCode ?? null,
    reason: report.reason ?? null,
    detail: capDetail(report.detail ?? ""),
    key,
  });
  return finished ? { kind: "result", job: finished } : { kind: "duplicate" };
}
