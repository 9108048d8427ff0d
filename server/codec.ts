/**
 * Stored objects on the wire: BADD requests and PULL replies carry an
 * object's name, salt, completeness, metadata (base64 of JSON) and data.
 * Pure.
 *
 * @module
 */

import { formatHash, objectHash, parseHash } from "../protocol/hash.ts";
import { isToken, ProtocolError, type Request, validateName } from "../protocol/message.ts";
import { fileIdentity, sha256Hex } from "../protocol/digest.ts";
import { fileStates, jobStates } from "../protocol/states.ts";
import { jobInputsMax } from "../limits.ts";
import { copyProblem } from "./copy_check.ts";
import { isTerminal, type ObjectMeta, resultKeySpan, type StoredObject } from "./objects.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Metadata as it travels: base64 of its JSON. */
export function encodeMeta(meta: ObjectMeta): string {
  return encoder.encode(JSON.stringify(meta)).toBase64();
}

/**
 * The BADD request that copies `object` to another server. It always
 * carries the metadata, the identity included, which the receiver checks
 * the data against: a copy without metadata (as a server of the original
 * design sends one) could only be checked against itself, so a copy whose
 * data a bug had bent would be taken as another file.
 */
export function toBadd(object: StoredObject): Request {
  return {
    command: "BADD",
    name: object.name,
    salt: object.salt,
    complete: isTerminal(object.meta),
    metadata: encodeMeta(object.meta),
    data: object.data,
  };
}

/**
 * JSON with the keys of every object in sorted order (UTF-16 code units,
 * as JavaScript sorts strings), no whitespace: the same text on every
 * server for equal metadata, whatever order its keys were written in.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort((
      [a],
      [b],
    ) => a < b ? -1 : a > b ? 1 : 0);
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * The proof that a server holds `object` (a HOLD reply): SHA-256 over the
 * nonce the asker chose, then the copy's name, salt, metadata (canonical
 * JSON) and data. Only a server holding the very copy, data and metadata,
 * can compute it for a fresh nonce.
 */
export function copyProof(nonce: string, object: StoredObject): string {
  return sha256Hex(
    `hold\n${nonce}\n${object.name}\n${formatHash(object.salt)}\n${canonicalJson(object.meta)}\n`,
    object.data,
  );
}

/** The ACK fields of a PULL reply (same layout as BADD's fields). */
export function toPullFields(
  object: StoredObject,
  options: { readonly metaOnly: boolean },
): string[] {
  return [
    object.name,
    formatHash(object.salt),
    isTerminal(object.meta) ? "1" : "0",
    encodeMeta(object.meta),
    options.metaOnly ? "" : object.data.toBase64(),
  ];
}

/**
 * Rebuilds an object from BADD fields and checks it is the object its
 * identity names (copy_check.ts). Empty metadata (a BADD from a client of
 * the original design) means a plain file, complete or not as given.
 *
 * @throws {ProtocolError} `metadata` when the metadata is not valid;
 * `mismatch` when the content does not match the identity, or the result
 * key does not follow from what the copy holds.
 */
export function fromBadd(
  badd: { name: string; salt: number; complete: boolean; metadata: string; data: Uint8Array },
  options: { readonly metaOnly?: boolean } = {},
): StoredObject {
  const object = decodeBadd(badd);
  // Empty metadata: the identity was computed from the data just now.
  if (badd.metadata === "") return object;
  const problem = copyProblem(object, options);
  if (problem) {
    throw new ProtocolError(
      "mismatch",
      `Copy of ${object.meta.kind} ${object.name} (${formatHash(object.hash)}) refused: ${problem}`,
    );
  }
  return object;
}

/** An object from BADD fields, its shape checked but not its content. */
function decodeBadd(
  badd: { name: string; salt: number; complete: boolean; metadata: string; data: Uint8Array },
): StoredObject {
  validateName(badd.name);
  const hash = objectHash(badd.name, badd.salt);
  if (badd.metadata === "") {
    return {
      hash,
      name: badd.name,
      salt: badd.salt,
      data: badd.data,
      meta: {
        kind: "file",
        id: fileIdentity(badd.data),
        state: badd.complete ? "complete" : "incomplete",
        size: badd.data.length,
      },
    };
  }
  const meta = decodeMeta(badd.metadata);
  if (isTerminal(meta) !== badd.complete) {
    throw new ProtocolError("metadata", "Invalid BADD: complete bit disagrees with the metadata");
  }
  return { hash, name: badd.name, salt: badd.salt, data: badd.data, meta };
}

/**
 * Rebuilds an object from PULL reply fields and checks it as a BADD's
 * copy; `metaOnly` for the reply of `PULL:hash:meta`, whose data is left
 * out (only what metadata alone shows is checked).
 *
 * @throws {ProtocolError} when the fields or the copy are not valid.
 */
export function fromPullFields(
  fields: readonly string[],
  options: { readonly metaOnly?: boolean } = {},
): StoredObject {
  if (fields.length !== 5) {
    throw new ProtocolError("fields", `Invalid PULL reply: ${fields.length} fields`);
  }
  const [name, salt, complete, metadata, data] = fields as [string, string, string, string, string];
  if (complete !== "0" && complete !== "1") {
    throw new ProtocolError(
      "fields",
      `Invalid PULL reply: complete must be 0 or 1 (got "${complete.slice(0, 8)}")`,
    );
  }
  let saltValue: number;
  let bytes: Uint8Array;
  try {
    saltValue = parseHash(salt);
    bytes = Uint8Array.fromBase64(data);
  } catch (error) {
    throw new ProtocolError("fields", `Invalid PULL reply: ${(error as Error).message}`);
  }
  return fromBadd(
    { name, salt: saltValue, complete: complete === "1", metadata, data: bytes },
    options,
  );
}

const fileStateSet = new Set<string>(fileStates);
const jobStateSet = new Set<string>(jobStates);

/**
 * Decodes and checks metadata.
 *
 * @throws {ProtocolError} (`metadata`) when it is not base64 JSON of the right shape.
 */
export function decodeMeta(text: string): ObjectMeta {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(Uint8Array.fromBase64(text)));
  } catch {
    throw new ProtocolError("metadata", "Invalid metadata: not base64 of JSON");
  }
  if (!isMeta(value)) throw new ProtocolError("metadata", "Invalid metadata: wrong shape");
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): boolean {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function isResultKey(value: unknown): boolean {
  return value === undefined || isCount(value) && (value as number) < resultKeySpan;
}

const digestPattern = /^[0-9a-f]{64}$/;

function isDigest(value: unknown): boolean {
  return typeof value === "string" && digestPattern.test(value);
}

function isOptionalDigest(value: unknown): boolean {
  return value === undefined || isDigest(value);
}

function isName(value: unknown): boolean {
  if (typeof value !== "string") return false;
  try {
    validateName(value);
    return true;
  } catch {
    return false;
  }
}

function isSalt(value: unknown): boolean {
  return isCount(value) && (value as number) < 2 ** 32;
}

function isMeta(value: unknown): value is ObjectMeta {
  if (!isRecord(value) || !isDigest(value.id)) return false;
  if (value.kind === "file") {
    return fileStateSet.has(value.state as string) && isCount(value.size) &&
      (value.job === undefined || isSalt(value.job)) &&
      (value.attempt === undefined || isCount(value.attempt)) &&
      (value.error === undefined || typeof value.error === "string") &&
      (value.chunked === undefined || typeof value.chunked === "boolean") &&
      isResultKey(value.resultKey) && isOptionalDigest(value.report);
  }
  if (value.kind === "job") {
    return jobStateSet.has(value.state as string) && isSalt(value.output) &&
      isName(value.outputName) && isSalt(value.outputSalt) &&
      (value.fresh === undefined || isSalt(value.fresh)) &&
      (value.lease === undefined || typeof value.lease === "string" && isToken(value.lease)) &&
      isOptionalDigest(value.outputDigest) && isOptionalDigest(value.report) &&
      Array.isArray(value.inputs) && value.inputs.length <= jobInputsMax &&
      value.inputs.every((input) => isRecord(input) && isSalt(input.hash) && isName(input.name)) &&
      isCount(value.attempt) && isCount(value.lost) && isCount(value.leaseUntilMs) &&
      isCount(value.createdMs) &&
      typeof value.stderr === "string" && typeof value.detail === "string" &&
      (value.exitCode === null || Number.isSafeInteger(value.exitCode)) &&
      (value.reason === null || typeof value.reason === "string") &&
      isResultKey(value.resultKey);
  }
  return false;
}
