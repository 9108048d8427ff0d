/**
 * What a server checks of a copy of an object before it takes it (a BADD,
 * or a PULL reply): that its content is the object its identity names, and
 * that the result key it claims follows from what it holds, so that a peer
 * with a bug (or one that lies) cannot replace a file's content, a job's
 * source or a finished result by sending a copy that merely claims a
 * higher version. Pure.
 *
 * What is checked, by kind (docs/PROTOCOL.md 4.6, "What a receiver checks"):
 *
 * - an uploaded file: its identity is the SHA-256 of its data (of the
 *   manifest's content digest and chunk size for a chunked one, whose data
 *   must be a well-formed manifest), its size that of the data (manifest);
 *   it is complete (or, sent by a client of the original design, incomplete)
 *   and carries nothing of a job's result. Its salt is not checked: ADD
 *   takes any salt a client gives.
 * - a job: its identity is recomputed from its name, source, output name,
 *   input hashes and forced salt; its salt is the identity's (or the forced
 *   one) or a probe after it (fewer than `saltProbesMax`); its output's hash
 *   is that of its output name and salt, the salt the output identity's or a
 *   probe after it; a leased job carries a lease token; a finished one a
 *   result key that follows from its fields (result_keys.ts).
 * - a job's output: its salt is its identity's or a probe after it; an
 *   incomplete one holds no data; a failed one no data and an error; a
 *   finished one a result key that follows from its data and its job's
 *   report digest.
 *
 * @module
 */

import { fileIdentity, jobIdentity, outputIdentity, saltOf } from "../protocol/digest.ts";
import { formatHash, objectHash } from "../protocol/hash.ts";
import { chunkedIdentity, decodeManifest, ManifestError } from "../protocol/manifest.ts";
import { isToken } from "../protocol/message.ts";
import { saltProbesMax } from "../limits.ts";
import { type FileMeta, isTerminal, type JobMeta, type StoredObject } from "./objects.ts";
import { jobResultProblem, outputResultProblem } from "./result_keys.ts";

const hex = formatHash;

/**
 * Why `object` (a copy received from a peer) is not the object its
 * identity names, or null when every check passes. With `metaOnly` (a copy
 * without its data) only what metadata alone shows: a job's result key, an
 * upload's fields.
 */
export function copyProblem(
  object: StoredObject,
  options: { readonly metaOnly?: boolean } = {},
): string | null {
  const meta = object.meta;
  if (options.metaOnly) {
    return meta.kind === "job"
      ? jobResultProblem(meta)
      : meta.job === undefined
      ? uploadFieldsProblem(meta)
      : null;
  }
  return meta.kind === "job"
    ? jobProblem(object, meta)
    : meta.job === undefined
    ? uploadProblem(object, meta)
    : outputProblem(object, meta);
}

/** True when `salt` is `start` or one of the probes after it. */
function probedFrom(salt: number, start: number): boolean {
  return ((salt - start) >>> 0) < saltProbesMax;
}

/** What metadata alone shows wrong with an uploaded file. */
function uploadFieldsProblem(meta: FileMeta): string | null {
  if (meta.state === "failed") return "an uploaded file cannot be failed";
  if (
    meta.attempt !== undefined || meta.resultKey !== undefined || meta.report !== undefined ||
    meta.error !== undefined
  ) return "an uploaded file carries fields of a job's output";
  return null;
}

function uploadProblem(object: StoredObject, meta: FileMeta): string | null {
  const fields = uploadFieldsProblem(meta);
  if (fields) return fields;
  if (meta.chunked) {
    let id: string;
    let size: number;
    try {
      const manifest = decodeManifest(object.data);
      id = chunkedIdentity(manifest.sha256, manifest.chunkSize);
      size = manifest.size;
    } catch (error) {
      if (error instanceof ManifestError) return `its manifest is malformed: ${error.message}`;
      throw error;
    }
    if (id !== meta.id) return `its manifest gives identity ${id}, not ${meta.id}`;
    return size === meta.size ? null : `its manifest gives size ${size}, not ${meta.size}`;
  }
  const id = fileIdentity(object.data);
  if (id !== meta.id) return `its content has digest ${id}, not its identity ${meta.id}`;
  return object.data.length === meta.size
    ? null
    : `it holds ${object.data.length} bytes, not its size ${meta.size}`;
}

function outputProblem(object: StoredObject, meta: FileMeta): string | null {
  if (!probedFrom(object.salt, saltOf(meta.id))) {
    return `salt ${hex(object.salt)} is not its identity's salt or a probe after it`;
  }
  if (meta.state !== "complete") {
    if (object.data.length > 0 || meta.size !== 0) return `a ${meta.state} output holds data`;
    if (meta.chunked) return `a ${meta.state} output cannot be chunked`;
  }
  if ((meta.state === "failed") !== (meta.error !== undefined)) {
    return "an output has an error exactly when it failed";
  }
  if (meta.state === "complete") {
    if (meta.chunked) {
      try {
        const size = decodeManifest(object.data).size;
        if (size !== meta.size) return `its manifest gives size ${size}, not ${meta.size}`;
      } catch (error) {
        if (error instanceof ManifestError) return `its manifest is malformed: ${error.message}`;
        throw error;
      }
    } else if (object.data.length !== meta.size) {
      return `it holds ${object.data.length} bytes, not its size ${meta.size}`;
    }
  }
  return outputResultProblem(meta, object.data);
}

function jobProblem(object: StoredObject, meta: JobMeta): string | null {
  const id = jobIdentity({
    name: object.name,
    source: object.data,
    outputName: meta.outputName,
    inputs: meta.inputs.map((input) => input.hash),
    ...(meta.fresh === undefined ? {} : { salt: meta.fresh }),
  });
  if (id !== meta.id) {
    return `its name, source, output name and inputs give identity ${id}, not ${meta.id}`;
  }
  if (!probedFrom(object.salt, meta.fresh ?? saltOf(id))) {
    return `salt ${hex(object.salt)} is not its identity's salt or a probe after it`;
  }
  if (objectHash(meta.outputName, meta.outputSalt) !== meta.output) {
    return `its output ${hex(meta.output)} is not at its output name and salt`;
  }
  if (!probedFrom(meta.outputSalt, saltOf(outputIdentity(id)))) {
    return `output salt ${
      hex(meta.outputSalt)
    } is not its output identity's salt or a probe after it`;
  }
  if (meta.state === "leased" && (meta.lease === undefined || !isToken(meta.lease))) {
    return "a leased job carries no lease token";
  }
  if (meta.state === "done" && meta.attempt === 0) return "a job done without being leased";
  return jobResultProblem(meta);
}

/**
 * Why a copy does not fit the object held here that it is tied to (an
 * output and the job that names it as its output), or null: an output's
 * identity derives from its job's; and a finished output that would
 * replace the finished output held here (`replacing`) must hold the result
 * of the finished job held here. (Only then: a job ranks by its own key and
 * its output follows it, so a result that outranks the one here arrives as
 * its job too; and where a job and its output disagree already, for a
 * failure written by two servers, an output copy that replaces nothing is
 * taken.) Objects that do not name each other are not compared.
 */
export function relationProblem(
  copy: StoredObject,
  held: StoredObject | undefined,
  options: { readonly replacing?: boolean } = {},
): string | null {
  if (!held) return null;
  const [job, output] = copy.meta.kind === "job" ? [copy, held] : [held, copy];
  if (job.meta.kind !== "job" || output.meta.kind !== "file") return null;
  if (job.meta.output !== output.hash || output.meta.job !== job.hash) return null;
  if (output.meta.id !== outputIdentity(job.meta.id)) {
    return `the output's identity is not derived from job ${hex(job.hash)}'s`;
  }
  if (
    copy === output && options.replacing && isTerminal(job.meta) && isTerminal(output.meta) &&
    output.meta.report !== job.meta.report
  ) return `it would replace the result of job ${hex(job.hash)} held here with another`;
  return null;
}
