/**
 * Job reports (UPD): a runner's result reaches the job's primary, which
 * finds the freshest copies of the job and its output, asks the pure
 * report_acceptance.ts which result the job keeps, and stores the output
 * then the job on their owners before it acknowledges. Also where a
 * finished job's records are written for the job queue (a job failed as
 * lost or by its input), and what tells repair not to drop a job whose
 * result is being stored.
 *
 * @module
 */

import { sha256Hex } from "../protocol/digest.ts";
import { formatHash } from "../protocol/hash.ts";
import { decodeManifest, type Manifest } from "../protocol/manifest.ts";
import { ack, nack, type Reply, type Request } from "../protocol/message.ts";
import { inlineBytesMax } from "../limits.ts";
import type { ServerContext } from "./context.ts";
import { finishedOutputOf } from "./job_records.ts";
import { finishFromOutput } from "./jobs.ts";
import type { ObjectIndex } from "./object_index.ts";
import { type FileMeta, isTerminal, type StoredJob } from "./objects.ts";
import { type Replication, UnavailableError } from "./replication.ts";
import { acceptReport } from "./report_acceptance.ts";
import type { Session } from "./session.ts";
import { leaseOf } from "./session_leases.ts";

const hex = formatHash;

/** Results in: which one a job keeps, stored before it is acknowledged. */
export class JobReports {
  readonly #ctx: ServerContext;
  readonly #replication: Replication;
  readonly #index: ObjectIndex;
  /** Results being stored, by job: what storing them resolves to. */
  readonly #completing = new Map<number, Promise<void>>();

  /** The job reports of one server. */
  constructor(ctx: ServerContext, replication: Replication, index: ObjectIndex) {
    this.#ctx = ctx;
    this.#replication = replication;
    this.#index = index;
  }

  /** True while a result of job `hash` is being stored. */
  isStoring(hash: number): boolean {
    return this.#completing.has(hash);
  }

  /**
   * UPD: accepts a runner's report. A client's report goes to the job's
   * primary; the primary acknowledges once the result is on every owner
   * (or, for a duplicate, at once). A report without a lease token, on the
   * connection whose GETJ leased the job, carries the token handed out
   * there (a runner of the original design); the primary refuses a report
   * that is not for the job's current lease (`NACK:lease`).
   *
   * @throws {ManifestError} when the report's manifest is malformed.
   * @throws {UnavailableError} when the result could not be stored on enough servers.
   */
  async update(update: Extract<Request, { command: "UPD" }>, session: Session): Promise<Reply> {
    const lease = update.lease ?? leaseOf(session, update.hash);
    const request = lease === undefined ? update : { ...update, lease };
    if (request.stdout.length > inlineBytesMax) {
      return nack(
        "too-large",
        `Output of ${request.stdout.length} bytes exceeds ${inlineBytesMax}; upload it in chunks and send its manifest`,
      );
    }
    const manifest = request.manifest ? decodeManifest(request.manifest) : undefined;
    if (!session.peer) {
      const forwarded = await this.#replication.forward(request.hash, request);
      if (forwarded) return forwarded;
    }
    const found = await this.#replication.find(request.hash, { strict: true });
    if (!found) return nack("not-found", `No job ${hex(request.hash)}`);
    const output = found.meta.kind === "job" && !isTerminal(found.meta)
      ? await this.#replication.find(found.meta.output, { metaOnly: true })
      : undefined;
    // The job may have moved on while its output was looked up.
    const object = this.#index.fresher(found);
    if (object.meta.kind !== "job") {
      return nack("not-a-job", `${hex(request.hash)} is a file, not a job`);
    }
    const storing = this.#completing.get(request.hash);
    if (storing) {
      // Another report of this job is being stored: acknowledge once it is
      // stored; if storing it fails, this report is taken afresh.
      return await storing.then(() => ack(), () => this.update(request, session));
    }
    const accepted = acceptReport(object.meta, request, output?.meta);
    if (accepted.kind === "duplicate") return ack();
    if (accepted.kind === "refused") {
      return nack(
        "lease",
        `Cannot take the report of job ${hex(request.hash)}: ${accepted.detail}`,
      );
    }
    const stored = accepted.kind === "from-output"
      ? this.#finishFromOutput({ ...object, meta: object.meta }, accepted.output)
      : this.storeFinished(
        { ...object, meta: accepted.job },
        request.manifest ?? request.stdout,
        manifest,
      );
    this.#completing.set(request.hash, stored);
    try {
      await stored;
      return ack();
    } finally {
      this.#completing.delete(request.hash);
    }
  }

  /**
   * Finishes a job from the output an earlier report stored (its data gives
   * the digest the job's record keeps), and stores the job.
   *
   * @throws {UnavailableError} when the output could not be read or the job not stored.
   */
  async #finishFromOutput(job: StoredJob, output: FileMeta): Promise<void> {
    const copy = await this.#replication.find(job.meta.output, { strict: true });
    if (!copy || copy.meta.kind !== "file" || copy.meta.resultKey !== output.resultKey) {
      throw new UnavailableError(
        `Cannot finish job ${hex(job.hash)} from its output: the output could not be read`,
      );
    }
    const finished = finishFromOutput(job.meta, copy.meta, sha256Hex(copy.data));
    if (finished) await this.#replication.replicate({ ...job, meta: finished });
  }

  /**
   * Writes a finished job's output file, then the job, to their owners:
   * the output first, so that no copy of the job says done before its
   * output can be read.
   *
   * @throws {UnavailableError} when either could not be stored on enough servers.
   */
  async storeFinished(
    job: StoredJob,
    stdout: Uint8Array | null,
    manifest?: Manifest,
  ): Promise<void> {
    const output = finishedOutputOf(job, stdout, manifest);
    if (await this.#replication.replicate(output) === "collision") {
      this.#ctx.log(
        `output ${hex(job.meta.output)} of job ${hex(job.hash)} collides with another object`,
      );
    }
    await this.#replication.replicate(job);
  }
}
