/**
 * Test helper: stored objects that pass every check a receiver makes
 * (copy_check.ts): uploads whose identity is their digest, jobs whose
 * identity, salts and result keys follow from their fields, and their
 * outputs; and fast-check arbitraries of them.
 *
 * @module
 */

import fc from "fast-check";
import {
  fileIdentity,
  jobIdentity,
  outputIdentity,
  saltOf,
  sha256Hex,
} from "../protocol/digest.ts";
import { objectHash } from "../protocol/hash.ts";
import { saltProbesMax } from "../limits.ts";
import { newJobMeta, outputOf } from "./job_records.ts";
import type { JobInput, JobMeta, JobState, StoredJob, StoredObject } from "./objects.ts";
import { emptyDigest, withResult } from "./result_keys.ts";

const encoder = new TextEncoder();

/** An uploaded, complete file. */
export function upload(name: string, data: Uint8Array | string, salt?: number): StoredObject {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  const id = fileIdentity(bytes);
  const at = salt ?? saltOf(id);
  return {
    hash: objectHash(name, at),
    name,
    salt: at,
    data: bytes,
    meta: { kind: "file", id, state: "complete", size: bytes.length },
  };
}

/** What {@linkcode job} builds a job from. */
export interface JobSpec {
  readonly name: string;
  readonly source: Uint8Array | string;
  readonly outputName?: string;
  readonly inputs?: readonly JobInput[];
  readonly fresh?: number;
  /** Probes after the starting salt (job, output). */
  readonly probes?: readonly [number, number];
  readonly state?: JobState;
  readonly attempt?: number;
  readonly lease?: string;
  /** For a job done: its output's data (stdout). */
  readonly stdout?: Uint8Array;
  readonly createdMs?: number;
}

/** A job in the state asked for, consistent in every field a receiver checks. */
export function job(spec: JobSpec): StoredJob {
  const source = typeof spec.source === "string" ? encoder.encode(spec.source) : spec.source;
  const outputName = spec.outputName ?? `${spec.name}.out`;
  const inputs = spec.inputs ?? [];
  const id = jobIdentity({
    name: spec.name,
    source,
    outputName,
    inputs: inputs.map((input) => input.hash),
    ...(spec.fresh === undefined ? {} : { salt: spec.fresh }),
  });
  const [jobProbe, outputProbe] = spec.probes ?? [0, 0];
  const salt = ((spec.fresh ?? saltOf(id)) + jobProbe) >>> 0;
  const outputSalt = (saltOf(outputIdentity(id)) + outputProbe) >>> 0;
  const base = newJobMeta({
    id,
    ...(spec.fresh === undefined ? {} : { fresh: spec.fresh }),
    inputs,
    output: { hash: objectHash(outputName, outputSalt), salt: outputSalt, name: outputName },
    state: "ready",
    createdMs: spec.createdMs ?? 1_800_000_000_000,
  });
  const state = spec.state ?? "ready";
  const attempt = spec.attempt ?? (state === "waiting" || state === "ready" ? 0 : 1);
  let meta: JobMeta = { ...base, state, attempt };
  if (attempt > 0) meta = { ...meta, lease: spec.lease ?? "ab".repeat(16) };
  if (state === "leased") meta = { ...meta, leaseUntilMs: meta.createdMs + 60_000 };
  if (state === "done") {
    meta = withResult({ ...meta, exitCode: 0 }, sha256Hex(spec.stdout ?? new Uint8Array()));
  }
  if (state === "failed") {
    meta = withResult({ ...meta, exitCode: 1, reason: "exception", detail: "boom" }, emptyDigest);
  }
  return { hash: objectHash(spec.name, salt), name: spec.name, salt, data: source, meta };
}

/** The output of `of` as its state implies (complete with `stdout` once done). */
export function output(of: StoredJob, stdout: Uint8Array = new Uint8Array()): StoredObject {
  switch (of.meta.state) {
    case "done":
      return outputOf(of, { state: "complete", data: stdout });
    case "failed":
      return outputOf(of, { state: "failed", error: "job failed" });
    default:
      return outputOf(of, { state: "incomplete" });
  }
}

const nameArb = fc.string({ minLength: 1, maxLength: 20 }).filter((n) =>
  !n.includes(":") && !n.includes("\0")
);

/** Any object a receiver takes: an upload, a job in any state, or a job's output. */
export const validObjectArb: fc.Arbitrary<StoredObject> = fc.oneof(
  fc.record({ name: nameArb, data: fc.uint8Array({ maxLength: 100 }), salt: fc.nat(0xffffffff) })
    .map(({ name, data, salt }) => upload(name, data, salt)),
  fc.record({
    name: nameArb,
    source: fc.uint8Array({ maxLength: 100 }),
    outputName: nameArb,
    inputs: fc.array(fc.record({ hash: fc.nat(0xffffffff), name: nameArb }), { maxLength: 4 }),
    fresh: fc.option(fc.nat(0xffffffff), { nil: undefined }),
    probes: fc.tuple(fc.nat(saltProbesMax - 1), fc.nat(saltProbesMax - 1)),
    state: fc.constantFrom<JobState>("waiting", "ready", "leased", "released", "done", "failed"),
    stdout: fc.uint8Array({ maxLength: 50 }),
    asOutput: fc.boolean(),
  }).map((spec) => {
    const { asOutput, fresh, ...rest } = spec;
    const made = job({ ...rest, ...(fresh === undefined ? {} : { fresh }) });
    return asOutput ? output(made, spec.stdout) : made;
  }),
);
