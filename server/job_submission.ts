/**
 * Job submission (JADD): checks a job's inputs, finds free salts for the job
 * and its output (or the identical job stored before), and stores the
 * output (incomplete, or failed when an input failed) then the job on their
 * owners. The job queue (job_queue.ts) hands it out from there.
 *
 * @module
 */

import { jobIdentity, outputIdentity, saltOf } from "../protocol/digest.ts";
import { formatHash, objectHash } from "../protocol/hash.ts";
import { ack, nack, ProtocolError, type Reply, type Request } from "../protocol/message.ts";
import { saltProbesMax, sourceBytesMax } from "../limits.ts";
import type { ServerContext } from "./context.ts";
import { failureText, fileErrorOf, newJobMeta, outputOf, recordTooLarge } from "./job_records.ts";
import { failJob, type InputStatus, readinessOf } from "./jobs.ts";
import type { ObjectIndex } from "./object_index.ts";
import { isFile, isJob, type StoredFile, type StoredJob, type StoredObject } from "./objects.ts";
import type { Replication } from "./replication.ts";

const hex = formatHash;

/** Jobs in. */
export class JobSubmission {
  readonly #ctx: ServerContext;
  readonly #replication: Replication;
  readonly #index: ObjectIndex;

  /** The job submission of one server. */
  constructor(ctx: ServerContext, replication: Replication, index: ObjectIndex) {
    this.#ctx = ctx;
    this.#replication = replication;
    this.#index = index;
  }

  /**
   * JADD: stores a job (and its output, incomplete) at the first free salt,
   * or answers the identical job stored before.
   *
   * @throws {ProtocolError} (`collision`) when no salt is free.
   * @throws {UnavailableError} when the job could not be stored on enough servers.
   */
  async addJob(request: Extract<Request, { command: "JADD" }>): Promise<Reply> {
    if (request.source.length > sourceBytesMax) {
      return nack(
        "too-large",
        `Job source of ${request.source.length} bytes exceeds ${sourceBytesMax}`,
      );
    }
    const inputs: InputStatus[] = [];
    for (
      const object of await Promise.all(
        request.inputs.map((hash) =>
          this.#replication.find(hash, { metaOnly: true, strict: true })
        ),
      )
    ) {
      const hash = request.inputs[inputs.length]!;
      if (!object) return nack("unknown-input", `Input ${hex(hash)} does not exist`);
      if (object.meta.kind !== "file") {
        return nack("not-a-file", `Input ${hex(hash)} is a job, not a file`);
      }
      inputs.push({
        hash,
        name: object.name,
        state: object.meta.state,
        ...fileErrorOf(object.meta),
      });
    }
    const id = jobIdentity(request);
    const slot = await this.#findSlot(
      request.name,
      request.salt ?? saltOf(id),
      (o): o is StoredJob => isJob(o) && o.meta.id === id,
    );
    if (slot.existing) return ack(hex(slot.hash), hex(slot.existing.meta.output));
    const outputId = outputIdentity(id);
    const output = await this.#findSlot(
      request.outputName,
      saltOf(outputId),
      (o): o is StoredFile => isFile(o) && o.meta.id === outputId,
    );
    const readiness = readinessOf(inputs);
    const failed = readiness.kind === "failed" ? readiness.detail : null;
    const meta = newJobMeta({
      id,
      ...(request.salt === undefined ? {} : { fresh: request.salt }),
      inputs,
      output: { hash: output.hash, salt: output.salt, name: request.outputName },
      state: readiness.kind === "failed" ? "waiting" : readiness.kind,
      createdMs: this.#ctx.now(),
    });
    const job: StoredJob = {
      hash: slot.hash,
      name: request.name,
      salt: slot.salt,
      data: request.source,
      // An input already failed: failed at once, as the cascade would.
      meta: failed ? failJob(meta, "input-failed", failed)! : meta,
    };
    const tooLarge = recordTooLarge(job);
    if (tooLarge) return nack("too-large", tooLarge);
    const outputObject = outputOf(
      job,
      failed ? { state: "failed", error: failureText(job) } : { state: "incomplete" },
    );
    if (
      await this.#replication.replicate(outputObject) === "collision" ||
      await this.#replication.replicate(job) === "collision"
    ) {
      return nack("collision", "Another object took the job's hash meanwhile; submit again");
    }
    this.#index.wakeJobWaiters();
    return ack(hex(slot.hash), hex(output.hash));
  }

  /** Probes salts from `salt` until a hash is free or holds the same object. */
  async #findSlot<T extends StoredObject>(
    name: string,
    salt: number,
    same: (object: StoredObject) => object is T,
  ): Promise<{ hash: number; salt: number; existing?: T }> {
    for (let probe = 0; probe < saltProbesMax; probe++, salt = (salt + 1) >>> 0) {
      const hash = objectHash(name, salt);
      const existing = await this.#replication.find(hash, { metaOnly: true, everywhere: false });
      if (!existing) return { hash, salt };
      if (existing.name === name && same(existing)) return { hash, salt, existing };
    }
    throw new ProtocolError("collision", `No free hash for ${name} after ${saltProbesMax} salts`);
  }
}
