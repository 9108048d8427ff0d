/**
 * How a runner hands a finished job to the ring: its report (UPD) and, when
 * the report cannot be delivered or the job is not to be reported, its
 * give-back (RLSE) under the lease token. A give-back the ring cannot take
 * now (`unavailable`: its servers are unreachable or on the other side of
 * a split) is tried again a few times; one never delivered leaves the job
 * to its lease, as before.
 *
 * @module
 */

import type { LeasedJob } from "../client/cloud.ts";
import { CloudError } from "../client/errors.ts";
import type { JobReport } from "../client/job_exchange.ts";
import { ConnectionError } from "../protocol/connection.ts";
import { reportRetriesMax, reportRetryBaseMs } from "../limits.ts";

/** The two requests of the ring a runner hands a job back with (a {@linkcode ComputeCloud}). */
export interface JobDesk {
  reportJob(job: LeasedJob, report: JobReport): Promise<void>;
  releaseJob(job: LeasedJob): Promise<void>;
}

/** Options of {@linkcode giveBack} and {@linkcode deliverReport}. */
export interface HandBackOptions {
  readonly log: (message: string) => void;
  /** Tries of a give-back after the first (`reportRetriesMax` by default). */
  readonly retries?: number;
  /** The wait before the first retry, doubled each time (`reportRetryBaseMs` by default). */
  readonly retryBaseMs?: number;
}

/** What became of a report: delivered, its output not stored, or undelivered (the job given back). */
export type ReportOutcome = "reported" | "not-stored" | "given-back";

/** True for errors a later try may not meet: the ring could not be reached or could not serve now. */
function passing(error: unknown): boolean {
  return error instanceof ConnectionError ||
    error instanceof CloudError && error.reason === "unavailable";
}

/**
 * Gives `job` back unrun (RLSE under its lease), trying again while the
 * ring answers `unavailable` or cannot be reached; true once given back.
 * Best effort: a give-back that fails is logged (the job's lease expires).
 */
export async function giveBack(
  desk: JobDesk,
  job: LeasedJob,
  options: HandBackOptions,
): Promise<boolean> {
  const retries = options.retries ?? reportRetriesMax;
  for (let attempt = 0;; attempt++) {
    try {
      await desk.releaseJob(job);
      options.log(`job ${job.hash} given back`);
      return true;
    } catch (error) {
      if (attempt >= retries || !passing(error)) {
        options.log(
          `cannot give back job ${job.hash}: ${(error as Error).message}; its lease will expire`,
        );
        return false;
      }
    }
    const waitMs = (options.retryBaseMs ?? reportRetryBaseMs) * 2 ** attempt;
    await new Promise((resolve) => setTimeout(resolve, waitMs));
  }
}

/**
 * Reports a finished job (the desk retries the UPD itself). A report that
 * could not be delivered is followed by a give-back, so that the job runs
 * again as soon as the ring can hand it out, rather than after its whole
 * lease. `not-stored`: the output could not be stored (the caller gives
 * the job back).
 *
 * @throws {Error} what the desk throws other than a {@linkcode CloudError} or {@linkcode ConnectionError}.
 */
export async function deliverReport(
  desk: JobDesk,
  job: LeasedJob,
  report: JobReport,
  options: HandBackOptions,
): Promise<ReportOutcome> {
  try {
    await desk.reportJob(job, report);
    return "reported";
  } catch (error) {
    if (error instanceof CloudError && error.reason === "output-not-stored") {
      options.log(`cannot store the output of job ${job.hash}: ${error.message}`);
      return "not-stored";
    }
    if (!(error instanceof ConnectionError || error instanceof CloudError)) throw error;
    options.log(`cannot report job ${job.hash}: ${error.message}; giving it back`);
  }
  // Under its lease only: a report that did arrive (its reply lost)
  // finished the job, and the give-back leaves a finished job as it is.
  await giveBack(desk, job, options);
  return "given-back";
}
