/**
 * What a server stores: files and jobs, their metadata, their versions and
 * how two copies of one object merge. Pure: no I/O, no clock.
 *
 * Objects are immutable once terminal. A file is `incomplete` until its job
 * finishes, then `complete` or `failed`. A job moves forward only (see
 * jobs.ts). Every state maps to a version number; merging two copies keeps
 * the higher version, so merges are commutative, associative and idempotent,
 * and a replica never goes back.
 *
 * @module
 */

import { type FileState, isFinishedState, type JobState } from "../protocol/states.ts";

export type { FileState, JobState } from "../protocol/states.ts";

/** Metadata of a file. */
export interface FileMeta {
  readonly kind: "file";
  /** Identity digest (hex): content digest for uploads, derived from the job for outputs. */
  readonly id: string;
  readonly state: FileState;
  /** Size in bytes of the whole file once complete. */
  readonly size: number;
  /** The job that produces this file, for outputs. */
  readonly job?: number;
  /** Which attempt of the job produced it (lower wins a tie between two results). */
  readonly attempt?: number;
  /** For an output: the job's {@linkcode JobMeta.resultKey}. */
  readonly resultKey?: number;
  /** For a finished output: the job's {@linkcode JobMeta.report} digest. */
  readonly report?: string;
  /** Why the file failed. */
  readonly error?: string;
  /** When set, `data` holds a chunk manifest instead of the content. */
  readonly chunked?: boolean;
}

/** One input of a job's namespace. */
export interface JobInput {
  readonly hash: number;
  readonly name: string;
}

/** Metadata of a job; the job's data is its Python source. */
export interface JobMeta {
  readonly kind: "job";
  readonly id: string;
  /** The salt JADD's `salt=` forced (the `fresh=` line of the identity); absent otherwise. */
  readonly fresh?: number;
  readonly output: number;
  readonly outputName: string;
  readonly outputSalt: number;
  readonly inputs: readonly JobInput[];
  readonly state: JobState;
  /** How many times the job was leased. */
  readonly attempt: number;
  /** How many leases expired without a result. */
  readonly lost: number;
  /** Wall-clock time (ms since epoch, owner's clock) when the lease ends. */
  readonly leaseUntilMs: number;
  /**
   * The token of the current (or last) lease: 32 random hex digits handed
   * to the runner with the job; its report (UPD) and give-back (RLSE) must
   * carry it. Kept on every copy of the job, never shown to clients.
   */
  readonly lease?: string;
  readonly createdMs: number;
  readonly exitCode: number | null;
  readonly reason: string | null;
  readonly detail: string;
  /** The job's stderr, base64. */
  readonly stderr: string;
  /**
   * Set when a runner's report finished the job: 20 bits of a digest of
   * the report. Two servers that each took themselves for the job's owner
   * (a server declared dead while alive) can accept two reports of one
   * attempt; the key ranks them, job and output alike, so that every
   * replica keeps the same one. Recomputed by every server that receives
   * a copy (see result_keys.ts): set on every finished job.
   */
  readonly resultKey?: number;
  /** Once finished: SHA-256 (hex) of the output file's stored data (empty for a failure). */
  readonly outputDigest?: string;
  /** Once finished: the digest of the result the job keeps (see result_keys.ts). */
  readonly report?: string;
}

/** Metadata of any object. */
export type ObjectMeta = FileMeta | JobMeta;

/** One stored object. */
export interface StoredObject {
  readonly hash: number;
  readonly name: string;
  readonly salt: number;
  readonly meta: ObjectMeta;
  /** File content (or manifest), or job source. */
  readonly data: Uint8Array;
}

/** A stored job: its metadata is a job's. */
export type StoredJob = StoredObject & { readonly meta: JobMeta };

/** A stored file: its metadata is a file's. */
export type StoredFile = StoredObject & { readonly meta: FileMeta };

/** True when `object` is a job (narrows its metadata). */
export function isJob(object: StoredObject): object is StoredJob {
  return object.meta.kind === "job";
}

/** True when `object` is a file (narrows its metadata). */
export function isFile(object: StoredObject): object is StoredFile {
  return object.meta.kind === "file";
}

/**
 * True when the object will not change any more: a file complete or
 * failed, a job done or failed (see protocol/states.ts).
 */
export function isTerminal(meta: ObjectMeta): boolean {
  return isFinishedState(meta.state);
}

const attemptSpan = 2 ** 20;
const terminalBase = 2 ** 40;

/** Bits of {@linkcode JobMeta.resultKey}: `attemptSpan` keys times `attemptSpan` attempts fit below `terminalBase`. */
export const resultKeySpan = attemptSpan;

/**
 * A number that grows with every step an object takes. Terminal states
 * rank above all others; between two terminal results the one with the
 * higher result key (reports carry one; 0 without), then the one from the
 * earlier attempt ranks higher, so every replica picks the same one.
 */
export function versionOf(meta: ObjectMeta): number {
  const result = Math.min(meta.resultKey ?? 0, resultKeySpan - 1) * attemptSpan;
  if (meta.kind === "file") {
    if (meta.state === "incomplete") return 0;
    const rank = meta.state === "complete" ? 2 : 1;
    return terminalBase * rank + result +
      (attemptSpan - 1 - Math.min(meta.attempt ?? 0, attemptSpan - 1));
  }
  const attempt = Math.min(meta.attempt, attemptSpan - 1);
  switch (meta.state) {
    case "waiting":
      return attempt * 4;
    case "ready":
      return attempt * 4 + 1;
    case "leased":
      return attempt * 4 + 2;
    case "released":
      return attempt * 4 + 3;
    case "failed":
      return terminalBase + result + (attemptSpan - 1 - attempt);
    case "done":
      return terminalBase * 2 + result + (attemptSpan - 1 - attempt);
  }
}

/** The outcome of merging an incoming copy into what is stored. */
export type MergeOutcome =
  /** Nothing was stored at that hash: the copy is now stored. */
  | "created"
  /** The copy was further along: it replaced the stored one. */
  | "advanced"
  /** The stored copy is as far or further along: nothing changed. */
  | "kept"
  /** A different object already holds that hash. */
  | "collision";

/** True when both records describe the same object (same identity). */
export function sameIdentity(a: StoredObject, b: StoredObject): boolean {
  return a.name === b.name && a.meta.kind === b.meta.kind && a.meta.id === b.meta.id &&
    a.salt === b.salt;
}

/** Decides how an incoming copy merges into the stored one (if any). */
export function mergeOutcome(
  stored: StoredObject | undefined,
  incoming: StoredObject,
): MergeOutcome {
  if (!stored) return "created";
  if (!sameIdentity(stored, incoming)) return "collision";
  return versionOf(incoming.meta) > versionOf(stored.meta) ? "advanced" : "kept";
}
