/**
 * The file commands and the reads of any object: ADD and MADD (store a
 * file at the first free salt), BADD (a copy from a peer or an original
 * client), GET and GETM (content, or a chunked file's manifest), STAT (an
 * object's state and details) and WAIT (until an object finishes).
 *
 * @module
 */

import { fileIdentity, saltOf } from "../protocol/digest.ts";
import { formatHash, objectHash } from "../protocol/hash.ts";
import { chunkedIdentity, decodeManifest } from "../protocol/manifest.ts";
import { ack, nack, ProtocolError, type Reply, type Request } from "../protocol/message.ts";
import { inlineBytesMax, saltProbesMax, waitForwardSlackMs, waitRecheckMs } from "../limits.ts";
import { fromBadd } from "./codec.ts";
import { relationProblem } from "./copy_check.ts";
import type { ServerContext } from "./context.ts";
import type { ObjectIndex } from "./object_index.ts";
import { type FileMeta, isTerminal, mergeOutcome, type StoredObject } from "./objects.ts";
import { type Replication, UnavailableError } from "./replication.ts";
import type { Session } from "./session.ts";

const hex = formatHash;
const encoder = new TextEncoder();

/** Files in, content and states out. */
export class FileCommands {
  readonly #ctx: ServerContext;
  readonly #replication: Replication;
  readonly #index: ObjectIndex;

  /** The file commands of one server. */
  constructor(ctx: ServerContext, replication: Replication, index: ObjectIndex) {
    this.#ctx = ctx;
    this.#replication = replication;
    this.#index = index;
  }

  /** ADD: stores a file of at most `inlineBytesMax` bytes. */
  async addFile(name: string, data: Uint8Array, forcedSalt?: number): Promise<Reply> {
    if (data.length > inlineBytesMax) {
      return nack(
        "too-large",
        `File of ${data.length} bytes exceeds ${inlineBytesMax}; upload it in chunks`,
      );
    }
    const id = fileIdentity(data);
    return await this.#storeFile(name, data, {
      kind: "file",
      id,
      state: "complete",
      size: data.length,
    }, forcedSalt);
  }

  /**
   * MADD: stores a chunked file: its manifest is the file object's data.
   * The chunks and index objects were stored before (ADD); they are not
   * checked here.
   *
   * @throws {ManifestError} when the manifest is malformed.
   */
  async addChunked(name: string, bytes: Uint8Array, forcedSalt?: number): Promise<Reply> {
    const manifest = decodeManifest(bytes);
    const meta: FileMeta = {
      kind: "file",
      id: chunkedIdentity(manifest.sha256, manifest.chunkSize),
      state: "complete",
      size: manifest.size,
      chunked: true,
    };
    return await this.#storeFile(name, bytes, meta, forcedSalt);
  }

  /** Stores a complete file at the first free salt from its identity's (or `forcedSalt`). */
  async #storeFile(
    name: string,
    data: Uint8Array,
    meta: FileMeta,
    forcedSalt?: number,
  ): Promise<Reply> {
    let salt = forcedSalt ?? saltOf(meta.id);
    for (let probe = 0; probe < saltProbesMax; probe++, salt = (salt + 1) >>> 0) {
      const hash = objectHash(name, salt);
      if (await this.#replication.replicate({ hash, name, salt, data, meta }) === "stored") {
        return ack(hex(hash));
      }
    }
    return nack("collision", `No free hash for ${name} after ${saltProbesMax} salts`);
  }

  /**
   * BADD: merges a copy into the store here, once it is checked to be the
   * object its identity names (codec.ts, copy_check.ts); a copy refused is
   * logged with its sender.
   *
   * @throws {ProtocolError} (`mismatch`, `metadata`, `name`) when the copy is refused.
   */
  copy(request: Extract<Request, { command: "BADD" }>, session: Session): Reply {
    let object: StoredObject;
    try {
      object = fromBadd(request);
      const related = object.meta.kind === "job" ? object.meta.output : object.meta.job;
      const stored = this.#ctx.store.get(object.hash);
      const replacing = stored !== undefined && isTerminal(stored.meta) &&
        mergeOutcome(stored, object) === "advanced";
      const problem = related === undefined
        ? null
        : relationProblem(object, this.#ctx.store.get(related), { replacing });
      if (problem) {
        throw new ProtocolError(
          "mismatch",
          `Copy of ${object.meta.kind} ${object.name} (${hex(object.hash)}) refused: ${problem}`,
        );
      }
    } catch (error) {
      if (error instanceof ProtocolError && error.reason === "mismatch") {
        this.#ctx.log(`BADD from ${session.peer ?? "a connection without PEER"}: ${error.message}`);
      }
      throw error;
    }
    const outcome = this.#index.apply(object);
    if (outcome === "collision") {
      return nack("collision", `A different object is stored at ${hex(object.hash)}`);
    }
    return ack();
  }

  /** GET: a file's content, or a finished job's stderr. */
  async get(hash: number): Promise<Reply> {
    const object = await this.#replication.find(hash, { strict: true });
    if (!object) return nack("not-found", `No object ${hex(hash)}`);
    const meta = object.meta;
    if (meta.kind === "job") {
      if (!isTerminal(meta)) return nack("incomplete", `Job ${hex(hash)} is ${meta.state}`);
      return ack(meta.stderr);
    }
    if (meta.state === "incomplete") {
      return nack("incomplete", `File ${hex(hash)} is not complete yet`);
    }
    if (meta.state === "failed") return nack("failed", meta.error ?? "the job producing it failed");
    if (meta.chunked) {
      return nack("chunked", `File ${hex(hash)} has ${meta.size} bytes; read it in chunks (GETM)`);
    }
    return ack(object.data.toBase64());
  }

  /** GETM: the manifest of a chunked file. */
  async getManifest(hash: number): Promise<Reply> {
    const object = await this.#replication.find(hash, { strict: true });
    if (!object) return nack("not-found", `No object ${hex(hash)}`);
    const meta = object.meta;
    if (meta.kind === "job") return nack("not-a-file", `${hex(hash)} is a job, not a file`);
    if (meta.state === "incomplete") {
      return nack("incomplete", `File ${hex(hash)} is not complete yet`);
    }
    if (meta.state === "failed") return nack("failed", meta.error ?? "the job producing it failed");
    if (!meta.chunked) {
      return nack("not-chunked", `File ${hex(hash)} has ${meta.size} bytes in one object (GET)`);
    }
    return ack(object.data.toBase64());
  }

  /** STAT: an object's kind, state and details. */
  async stat(hash: number): Promise<Reply> {
    const object = await this.#replication.find(hash, { metaOnly: true, strict: true });
    if (!object) return nack("not-found", `No object ${hex(hash)}`);
    const summary = summaryOf(object);
    return ack(
      object.meta.kind,
      object.meta.state,
      encoder.encode(JSON.stringify(summary)).toBase64(),
    );
  }

  /**
   * WAIT: until the object finishes or `timeoutMs` passes; answers its
   * state then. A client's WAIT is served by the object's primary, which
   * learns of the result first.
   */
  async wait(hash: number, timeoutMs: number, session: Session): Promise<Reply> {
    if (!session.peer) {
      try {
        const forwarded = await this.#replication.forward(
          hash,
          { command: "WAIT", hash, timeoutMs },
          timeoutMs + waitForwardSlackMs,
        );
        if (forwarded) return forwarded;
      } catch (error) {
        if (!(error instanceof UnavailableError)) throw error;
      }
    }
    const deadline = this.#ctx.now() + timeoutMs;
    for (;;) {
      const object = await this.#replication.find(hash, { metaOnly: true, strict: true });
      if (!object) return nack("not-found", `No object ${hex(hash)}`);
      const remaining = deadline - this.#ctx.now();
      if (
        isTerminal(object.meta) || remaining <= 0 || this.#ctx.life.stopped ||
        session.hangUp?.aborted
      ) return ack(object.meta.state);
      await this.#index.waitFor(hash, Math.min(remaining, waitRecheckMs));
    }
  }
}

/** What STAT says of an object beyond its kind and state. */
function summaryOf(object: StoredObject): Record<string, unknown> {
  const meta = object.meta;
  return meta.kind === "file"
    ? {
      name: object.name,
      size: meta.size,
      ...(meta.job === undefined ? {} : { job: hex(meta.job) }),
      ...(meta.error ? { error: meta.error } : {}),
      ...(meta.chunked ? { chunked: true } : {}),
    }
    : {
      name: object.name,
      output: hex(meta.output),
      outputName: meta.outputName,
      inputs: meta.inputs.map((input) => ({ hash: hex(input.hash), name: input.name })),
      attempt: meta.attempt,
      lost: meta.lost,
      exitCode: meta.exitCode,
      reason: meta.reason,
      detail: meta.detail,
      createdMs: meta.createdMs,
      ...(meta.state === "leased" ? { leaseUntilMs: meta.leaseUntilMs } : {}),
    };
}
