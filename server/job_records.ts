/**
 * The records a job's life writes, built from the job: the record JADD
 * creates, its output file in each state, the one-line text of a failure,
 * the namespace GETJ hands out, and the check that a job's record can
 * travel in one frame. Pure.
 *
 * @module
 */

import { outputIdentity } from "../protocol/digest.ts";
import { formatHash } from "../protocol/hash.ts";
import { ack, capDetail, encodeReply, encodeRequest, leaseField } from "../protocol/message.ts";
import type { Manifest } from "../protocol/manifest.ts";
import { detailBytesMax, framePayloadBytesMax, reasonCharsMax, stderrBytesMax } from "../limits.ts";
import { toBadd } from "./codec.ts";
import {
  type FileMeta,
  type JobInput,
  type JobMeta,
  type ObjectMeta,
  resultKeySpan,
  type StoredJob,
  type StoredObject,
} from "./objects.ts";

const empty = new Uint8Array(0);
const encoder = new TextEncoder();

/** What the record of a new job is made of. */
export interface NewJob {
  readonly id: string;
  /** The salt JADD's `salt=` forced, part of the identity (`fresh=`). */
  readonly fresh?: number;
  readonly inputs: readonly JobInput[];
  /** The output file's hash, salt and name. */
  readonly output: { readonly hash: number; readonly salt: number; readonly name: string };
  /** Waiting or ready, as the inputs' states say. */
  readonly state: "waiting" | "ready";
  readonly createdMs: number;
}

/** The metadata of a job just submitted (JADD). */
export function newJobMeta(job: NewJob): JobMeta {
  return {
    kind: "job",
    id: job.id,
    ...(job.fresh === undefined ? {} : { fresh: job.fresh }),
    output: job.output.hash,
    outputName: job.output.name,
    outputSalt: job.output.salt,
    inputs: job.inputs.map(({ hash, name }) => ({ hash, name })),
    state: job.state,
    attempt: 0,
    lost: 0,
    leaseUntilMs: 0,
    createdMs: job.createdMs,
    exitCode: null,
    reason: null,
    detail: "",
    stderr: "",
  };
}

/** A job's output file in a given state. */
export type OutputState =
  | { readonly state: "incomplete" }
  | { readonly state: "complete"; readonly data: Uint8Array; readonly manifest?: Manifest }
  | { readonly state: "failed"; readonly error: string };

/** The output file of a job in a given state. */
export function outputOf(job: StoredJob, state: OutputState): StoredObject {
  const meta = job.meta;
  const data = state.state === "complete" ? state.data : empty;
  const manifest = state.state === "complete" ? state.manifest : undefined;
  const fileMeta: FileMeta = {
    kind: "file",
    id: outputIdentity(meta.id),
    state: state.state,
    size: manifest ? manifest.size : data.length,
    job: job.hash,
    attempt: meta.attempt,
    ...(meta.resultKey === undefined ? {} : { resultKey: meta.resultKey }),
    ...(meta.report === undefined ? {} : { report: meta.report }),
    ...(state.state === "failed" ? { error: state.error } : {}),
    ...(manifest ? { chunked: true } : {}),
  };
  return { hash: meta.output, name: meta.outputName, salt: meta.outputSalt, data, meta: fileMeta };
}

/**
 * The output of a finished job: complete with `stdout` (or the manifest of
 * a chunked one) when it is done, failed with the job's failure otherwise.
 */
export function finishedOutputOf(
  job: StoredJob,
  stdout: Uint8Array | null,
  manifest?: Manifest,
): StoredObject {
  return job.meta.state === "done"
    ? outputOf(job, { state: "complete", data: stdout ?? empty, ...(manifest ? { manifest } : {}) })
    : outputOf(job, { state: "failed", error: failureText(job) });
}

/** The error text of a failed job's output: one line. */
export function failureText(job: StoredJob): string {
  const meta = job.meta;
  const detail = meta.detail ? `: ${meta.detail}` : "";
  return capDetail(
    `job ${job.name} (${formatHash(job.hash)}) failed (${meta.reason ?? "error"})${detail}`,
  );
}

/** A failed file's error, as a field to spread into what is known of it. */
export function fileErrorOf(meta: ObjectMeta): { error?: string } {
  return meta.kind === "file" && meta.error ? { error: meta.error } : {};
}

/** The namespace fields of a GETJ reply: each input's hash and name, in order. */
export function namespaceFields(meta: JobMeta): string[] {
  return meta.inputs.flatMap((input) => [formatHash(input.hash), input.name]);
}

/**
 * The ACK of a GETJ that hands `job` out: its source, its hash, its
 * namespace, and its lease token last (`lease=…`).
 */
export function leaseFields(job: StoredJob): string[] {
  return [
    job.data.toBase64(),
    formatHash(job.hash),
    ...namespaceFields(job.meta),
    ...(job.meta.lease === undefined ? [] : [leaseField(job.meta.lease)]),
  ];
}

/** Bits of each number a finished record may carry at most, for the size check. */
const attemptsMaxBits = 20;
const exitCodeMin = -(2 ** 31);
const leaseUntilMsMax = 2 ** 45;

/**
 * Why a job record could not travel, or null when it can: a job is copied
 * between servers in one BADD frame (with stderr and detail at their
 * limits once finished) and handed to runners in one GETJ reply.
 */
export function recordTooLarge(job: StoredJob): string | null {
  const meta = job.meta;
  const digest = "f".repeat(64);
  const finished: StoredObject = {
    ...job,
    meta: {
      ...meta,
      fresh: 2 ** 32 - 1,
      lease: digest.slice(0, 32),
      outputDigest: digest,
      report: digest,
      resultKey: resultKeySpan - 1,
      state: "failed",
      attempt: 2 ** attemptsMaxBits,
      lost: 2 ** attemptsMaxBits,
      exitCode: exitCodeMin,
      // The longest reason UPD accepts, and a detail whose every byte JSON doubles.
      reason: "x".repeat(reasonCharsMax),
      detail: '"'.repeat(detailBytesMax),
      stderr: new Uint8Array(stderrBytesMax).toBase64(),
      leaseUntilMs: leaseUntilMsMax,
    },
  };
  const copyBytes = encoder.encode(encodeRequest(toBadd(finished))).length;
  const leased = { ...job, meta: { ...meta, lease: digest.slice(0, 32) } };
  const leaseBytes = encoder.encode(encodeReply(ack(...leaseFields(leased)))).length;
  const largest = Math.max(copyBytes, leaseBytes);
  if (largest <= framePayloadBytesMax) return null;
  return `Job record of ${largest} bytes (source, ${meta.inputs.length} input names, stderr and detail at their limits) exceeds one frame (${framePayloadBytesMax} bytes); use fewer inputs, shorter names or a smaller source`;
}
