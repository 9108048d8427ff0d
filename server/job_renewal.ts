/**
 * RNEW: a runner renews the leases of the jobs it runs, all in one
 * request. The server asked sends each owner of those jobs (primary and
 * replicas) one RNEW with the leases it keeps, so that whichever owner
 * hands the job out next knows the runner lives; each owner renews what it
 * stores (lease_renewals.ts). The reply gives the lease length and, per
 * lease, what came of it: a runner stops a job whose lease is lost or
 * that was cancelled.
 *
 * @module
 */

import { ack, type HeldLease, type Reply } from "../protocol/message.ts";
import type { ServerContext } from "./context.ts";
import { parseRenewReply, type RenewStatus } from "../protocol/renewal.ts";
import { combineRenewals, type LeaseRenewals } from "./lease_renewals.ts";
import type { ObjectIndex } from "./object_index.ts";
import type { Replication } from "./replication.ts";
import type { Session } from "./session.ts";

/** How long an owner has to answer a renewal: well inside a third of a lease. */
const ownerAnswerMs = 2_000;

/** The lease-renewal room of one server. */
export class JobRenewal {
  readonly #ctx: ServerContext;
  readonly #replication: Replication;
  readonly #index: ObjectIndex;
  readonly #renewals: LeaseRenewals;

  /** Renewals through `replication`'s owners, kept in `renewals`. */
  constructor(
    ctx: ServerContext,
    rooms: { replication: Replication; index: ObjectIndex; renewals: LeaseRenewals },
  ) {
    this.#ctx = ctx;
    this.#replication = rooms.replication;
    this.#index = rooms.index;
    this.#renewals = rooms.renewals;
  }

  /**
   * RNEW: renews `leases`. From a peer, renews what this server stores;
   * from a runner, asks every owner of each job and combines their answers.
   * `ACK:leasems{:status}*`, one status per lease in the request's order.
   */
  async renew(leases: readonly HeldLease[], session: Session): Promise<Reply> {
    if (session.peer) {
      return ack(String(this.#ctx.leaseMs), ...leases.map((held) => this.#renewHere(held)));
    }
    const owners = leases.map((held) => this.#replication.owners(held.hash));
    const byOwner = new Map<string, number[]>();
    owners.forEach((ids, i) => {
      for (const id of ids) {
        const indexes = byOwner.get(id) ?? [];
        indexes.push(i);
        byOwner.set(id, indexes);
      }
    });
    const answers = new Map<string, RenewStatus>();
    let leaseMs = this.#ctx.leaseMs;
    await Promise.all([...byOwner].map(async ([id, indexes]) => {
      const asked = indexes.map((i) => leases[i]!);
      const answer = id === this.#ctx.id
        ? { leaseMs, statuses: asked.map((held) => this.#renewHere(held)) }
        : await this.#askOwner(id, asked);
      if (answer === null) return;
      leaseMs = Math.min(leaseMs, answer.leaseMs);
      indexes.forEach((i, k) => answers.set(`${id} ${i}`, answer.statuses[k]!));
    }));
    const statuses = owners.map((ids, i) =>
      combineRenewals(ids.map((id) => answers.get(`${id} ${i}`) ?? "unknown"))
    );
    return ack(String(leaseMs), ...statuses);
  }

  #renewHere(held: HeldLease): RenewStatus {
    // Running jobs are open: their records are in memory; a finished one is read from the store.
    let job = this.#index.openJob(held.hash);
    if (job === undefined) {
      const object = this.#ctx.store.get(held.hash);
      job = object?.meta.kind === "job" ? object.meta : undefined;
    }
    return this.#renewals.renew(held.hash, held.lease, job, this.#ctx.now());
  }

  /** One owner's answers, or null when it did not give any it could be held to. */
  async #askOwner(
    id: string,
    leases: readonly HeldLease[],
  ): Promise<{ leaseMs: number; statuses: RenewStatus[] } | null> {
    let reply: Reply;
    try {
      reply = await this.#ctx.peers.request(id, { command: "RNEW", leases }, ownerAnswerMs);
    } catch (error) {
      await this.#ctx.membership.peerFailed(id, error);
      return null;
    }
    return parseRenewReply(reply, leases.length);
  }
}
