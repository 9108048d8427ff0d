/**
 * Content digests (SHA-256): object identities, deterministic salts and
 * integrity checks. Pure computation.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** SHA-256 of the parts, in order, as 64 lower-case hex digits. */
export function sha256Hex(...parts: (Uint8Array | string)[]): string {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest("hex");
}

/** The salt a digest implies: its first 32 bits. */
export function saltOf(digest: string): number {
  return Number.parseInt(digest.slice(0, 8), 16) >>> 0;
}

/** Identity of an uploaded file: the digest of its content. */
export function fileIdentity(data: Uint8Array): string {
  return sha256Hex(data);
}

/** Identity of a job: its name, source, output name, inputs and forced salt. */
export function jobIdentity(
  job: {
    name: string;
    source: Uint8Array;
    outputName: string;
    inputs: readonly number[];
    salt?: number;
  },
): string {
  const header = [
    "job",
    escapeLine(job.name),
    escapeLine(job.outputName),
    job.inputs.map((h) => h.toString(16).padStart(8, "0")).join(","),
    job.salt === undefined ? "" : `fresh=${job.salt}`,
    "",
  ].join("\n");
  return sha256Hex(header, job.source);
}

/**
 * Names may contain newlines, which separate the fields of a job's identity:
 * escape them (and the escape character) so that no two jobs share one. Names
 * without either character are unchanged, and so are their identities.
 */
function escapeLine(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

/** Identity of a job's output file, derived from the job's identity. */
export function outputIdentity(jobId: string): string {
  return sha256Hex("output\n", jobId);
}
