/**
 * Stored objects on the wire: BADD requests and PULL replies carry an
 * object's name, salt, completeness, metadata (base64 of JSON) and data.
 * Pure.
 *
 * @module
 */

import { formatHash, objectHash, parseHash } from "../protocol/hash.ts";
import { ProtocolError, type Request, validateName } from "../protocol/message.ts";
import { fileIdentity } from "../protocol/digest.ts";
import { fileStates, jobStates } from "../protocol/states.ts";
import { isTerminal, type ObjectMeta, resultKeySpan, type StoredObject } from "./objects.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Metadata as it travels: base64 of its JSON. */
export function encodeMeta(meta: ObjectMeta): string {
  return encoder.encode(JSON.stringify(meta)).toBase64();
}

/** The BADD request that copies `object` to another server. */
export function toBadd(object: StoredObject): Request {
  return {
    command: "BADD",
    name: object.name,
    salt: object.salt,
    complete: isTerminal(object.meta),
    metadata: isPlainFile(object) ? "" : encodeMeta(object.meta),
    data: object.data,
  };
}

/**
 * True for a small object whose metadata is exactly what empty BADD
 * metadata stands for: an uploaded, complete file and nothing more, its
 * identity the digest of its content (which the receiver computes). Sending
 * it empty saves encoding and decoding JSON twice. Large objects (chunks)
 * keep their metadata: hashing them again would cost more than it saves.
 */
function isPlainFile(object: StoredObject): boolean {
  const meta = object.meta;
  if (meta.kind !== "file" || meta.state !== "complete" || object.data.length > plainBaddBytesMax) {
    return false;
  }
  const keys = Object.keys(meta);
  return keys.length === 4 && keys.every((key) => plainFileKeys.has(key)) &&
    meta.size === object.data.length && meta.id === fileIdentity(object.data);
}

/** Largest object sent with empty metadata: hashing 4 KiB costs a few microseconds. */
const plainBaddBytesMax = 4096;

const plainFileKeys = new Set(["kind", "id", "state", "size"]);

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
 * Rebuilds an object from BADD fields. Empty metadata (a BADD from a client
 * of the original design) means a plain file, complete or not as given.
 *
 * @throws {ProtocolError} (`metadata`) when the metadata is not valid.
 */
export function fromBadd(
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

/** Rebuilds an object from PULL reply fields. */
export function fromPullFields(fields: readonly string[]): StoredObject {
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
  return fromBadd({ name, salt: saltValue, complete: complete === "1", metadata, data: bytes });
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

function isMeta(value: unknown): value is ObjectMeta {
  if (!isRecord(value) || typeof value.id !== "string") return false;
  if (value.kind === "file") {
    return fileStateSet.has(value.state as string) && isCount(value.size) &&
      (value.job === undefined || isCount(value.job)) &&
      (value.attempt === undefined || isCount(value.attempt)) &&
      (value.error === undefined || typeof value.error === "string") &&
      (value.chunked === undefined || typeof value.chunked === "boolean") &&
      isResultKey(value.resultKey);
  }
  if (value.kind === "job") {
    return jobStateSet.has(value.state as string) && isCount(value.output) &&
      typeof value.outputName === "string" && isCount(value.outputSalt) &&
      Array.isArray(value.inputs) &&
      value.inputs.every((input) =>
        isRecord(input) && isCount(input.hash) && typeof input.name === "string"
      ) &&
      isCount(value.attempt) && isCount(value.lost) && isCount(value.leaseUntilMs) &&
      isCount(value.createdMs) &&
      typeof value.stderr === "string" && typeof value.detail === "string" &&
      (value.exitCode === null || Number.isSafeInteger(value.exitCode)) &&
      (value.reason === null || typeof value.reason === "string") &&
      isResultKey(value.resultKey);
  }
  return false;
}
