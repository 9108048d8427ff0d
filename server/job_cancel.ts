/**
 * CNCL: a client cancels a job. The job's primary fails it with reason
 * `cancelled` on every owner (with its output, so its dependents fail
 * naming it, the cascade of jobs.ts); a waiting job is then never handed
 * out, and the runner of a running one learns it from its next lease
 * renewal (RNEW answers `cancelled`) and stops it. A finished job is left
 * as it is, and the reply says how it finished.
 *
 * @module
 */

import { formatHash } from "../protocol/hash.ts";
import { ack, nack, type Reply } from "../protocol/message.ts";
import type { ServerContext } from "./context.ts";
import type { JobReports } from "./job_reports.ts";
import { failJob } from "./jobs.ts";
import type { ObjectIndex } from "./object_index.ts";
import type { Replication } from "./replication.ts";
import type { Session } from "./session.ts";

const hex = formatHash;

/** The reason a cancelled job fails with. */
export const cancelledReason = "cancelled";

/** The cancelling room of one server. */
export class JobCancel {
  readonly #ctx: ServerContext;
  readonly #replication: Replication;
  readonly #index: ObjectIndex;
  readonly #reports: JobReports;

  /** Cancels through the job's primary, storing with `reports`. */
  constructor(
    ctx: ServerContext,
    rooms: { replication: Replication; index: ObjectIndex; reports: JobReports },
  ) {
    this.#ctx = ctx;
    this.#replication = rooms.replication;
    this.#index = rooms.index;
    this.#reports = rooms.reports;
  }

  /**
   * CNCL: `ACK:cancelled` once the job failed as cancelled on its owners,
   * `ACK:done` or `ACK:failed` when it had finished already (unchanged).
   */
  async cancel(hash: number, session: Session): Promise<Reply> {
    if (!session.peer) {
      const forwarded = await this.#replication.forward(hash, { command: "CNCL", hash });
      if (forwarded) return forwarded;
    }
    const object = this.#ctx.store.get(hash);
    if (!object) return nack("not-found", `No job ${hex(hash)}`);
    if (object.meta.kind !== "job") return nack("not-a-job", `${hex(hash)} is a file, not a job`);
    const failed = failJob(object.meta, cancelledReason, "cancelled by a client");
    if (!failed) return ack(object.meta.state);
    const next = { ...object, meta: failed };
    this.#index.apply(next);
    await this.#reports.storeFinished(next, null);
    return ack(cancelledReason);
  }
}
