/**
 * Result keys: the 20 bits that rank two finished records of one job (and
 * of its output), computed from what the records hold, so that every
 * server that receives a copy can compute the key again instead of trusting
 * the one the copy claims. Pure.
 *
 * A finished job holds the digest of its output's stored data
 * (`outputDigest`) and the digest of its result (`report`: creation time,
 * exit status, reason, stderr and detail as stored); its output holds the
 * same `report`. The key of both is a digest of the two digests:
 *
 * ```
 * report    = sha256hex("report\n" createdMs "\n" exit "\n" reason "\n" stderr "\n" detail)
 * resultKey = first 20 bits of sha256("result\n" outputDigest "\n" report)
 * ```
 *
 * (`exit` and `reason` empty when null, `stderr` the stored base64 text.)
 * A job copy's key is checked against its own fields; an output copy's
 * against its own data. The one exception is a job finished from its
 * output (jobs.ts, finishFromOutput): it takes the output's `report`, since
 * the report's stderr was lost.
 *
 * @module
 */

import { sha256Hex } from "../protocol/digest.ts";
import type { FileMeta, JobMeta } from "./objects.ts";

/** SHA-256 of no bytes: the output digest of a failed job (its output holds no data). */
export const emptyDigest = sha256Hex(new Uint8Array(0));

/** The detail of a job finished from the output an earlier report stored. */
export const fromOutputDetail =
  "result taken from the output stored by an earlier report (its stderr was lost)";

/** The digest of a finished job's result, from its own fields. */
export function reportDigest(meta: JobMeta): string {
  return sha256Hex(
    `report\n${meta.createdMs}\n${meta.exitCode ?? ""}\n${
      meta.reason ?? ""
    }\n${meta.stderr}\n${meta.detail}`,
  );
}

/** The key of a result: 20 bits of a digest of its output's digest and its report's. */
export function keyOf(outputDigest: string, report: string): number {
  return Number.parseInt(sha256Hex(`result\n${outputDigest}\n${report}`).slice(0, 5), 16);
}

/**
 * A finished job's record with its result's digests and key: its output's
 * data has digest `outputDigest`; `report` is its own fields' digest unless
 * given (a job finished from its output takes the output's).
 */
export function withResult(meta: JobMeta, outputDigest: string, report?: string): JobMeta {
  const digest = report ?? reportDigest(meta);
  return { ...meta, outputDigest, report: digest, resultKey: keyOf(outputDigest, digest) };
}

/** True for the record of a job finished from its output (jobs.ts, finishFromOutput). */
export function isFromOutput(meta: JobMeta): boolean {
  return meta.state === "done" && meta.detail === fromOutputDetail && meta.stderr === "" &&
    meta.exitCode === null && meta.reason === null;
}

const digestPattern = /^[0-9a-f]{64}$/;

/**
 * Why a finished job's claimed key does not follow from its fields, or
 * null when it does (or the job is not finished).
 */
export function jobResultProblem(meta: JobMeta): string | null {
  if (meta.state !== "done" && meta.state !== "failed") {
    return meta.resultKey === undefined ? null : "an unfinished job carries a result key";
  }
  if (meta.resultKey === undefined || !meta.outputDigest || !meta.report) {
    return "a finished job carries no result key and digests";
  }
  if (!digestPattern.test(meta.outputDigest) || !digestPattern.test(meta.report)) {
    return "a result digest is not 64 hex digits";
  }
  if (meta.state === "failed" && meta.outputDigest !== emptyDigest) {
    return "a failed job's output digest is not that of no data";
  }
  if (!isFromOutput(meta) && meta.report !== reportDigest(meta)) {
    return "the report digest does not match the job's stderr, exit, reason and detail";
  }
  const key = keyOf(meta.outputDigest, meta.report);
  return key === meta.resultKey
    ? null
    : `the result key ${meta.resultKey} does not match the job's result (${key})`;
}

/**
 * Why a finished output's claimed key does not follow from its data, or
 * null when it does (or the output is not finished).
 */
export function outputResultProblem(meta: FileMeta, data: Uint8Array): string | null {
  if (meta.state === "incomplete") {
    return meta.resultKey === undefined ? null : "an incomplete output carries a result key";
  }
  if (meta.resultKey === undefined || !meta.report) {
    return "a finished output carries no result key and report digest";
  }
  if (!digestPattern.test(meta.report)) return "the report digest is not 64 hex digits";
  const key = keyOf(sha256Hex(data), meta.report);
  return key === meta.resultKey
    ? null
    : `the result key ${meta.resultKey} does not match the output's data (${key})`;
}
