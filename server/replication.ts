/**
 * Replication: who owns an object, writing a copy to all its owners (as
 * the pure replication_plan.ts decides), finding the freshest copy of an
 * object on the ring (with read repair), and forwarding a request to an
 * object's primary. The one room that sends copies and reads between
 * servers; every other room reaches the ring's data through it.
 *
 * @module
 */

import { formatHash } from "../protocol/hash.ts";
import type { Reply, Request } from "../protocol/message.ts";
import { forwardAttemptsMax } from "../limits.ts";
import { fromPullFields, toBadd } from "./codec.ts";
import type { ServerContext } from "./context.ts";
import type { ObjectIndex } from "./object_index.ts";
import { isTerminal, type StoredObject, versionOf } from "./objects.ts";
import {
  afterWrites,
  nextReplicationStep,
  startReplication,
  type WriteOutcome,
} from "./replication_plan.ts";

const hex = formatHash;

/** An operation that could not reach enough servers: `NACK:unavailable`. */
export class UnavailableError extends Error {
  override name = "UnavailableError";
}

/** Options of {@linkcode Replication.replicate}. */
export interface ReplicateOptions {
  /** This server stored the copy already: it is not written again. */
  readonly selfHolds?: boolean;
}

/** Options of {@linkcode Replication.find}. */
export interface FindOptions {
  /** Metadata only: a copy found elsewhere comes without its data (and is not stored here). */
  readonly metaOnly?: boolean;
  /**
   * When no owner holds a copy, ask every other live server too (default
   * true): while the ring moves, a copy may still sit on its old owner.
   */
  readonly everywhere?: boolean;
  /**
   * Throw {@linkcode UnavailableError} rather than answer "none" when no
   * server that answered holds a copy and some did not answer.
   */
  readonly strict?: boolean;
}

/** What a peer answered to PULL. */
export type PulledCopy = StoredObject | "absent" | "unreachable";

/** Copies of objects between this server and the ring. */
export class Replication {
  readonly #ctx: ServerContext;
  readonly #index: ObjectIndex;

  /** Replication for one server, storing its own copies through `index`. */
  constructor(ctx: ServerContext, index: ObjectIndex) {
    this.#ctx = ctx;
    this.#index = index;
  }

  /** The servers that keep `hash`, primary first. */
  owners(hash: number): string[] {
    return this.#ctx.membership.ring.owners(hash, this.#ctx.replicas);
  }

  /** True when this server is the primary of `hash`. */
  isPrimary(hash: number): boolean {
    return this.#ctx.membership.ring.primary(hash) === this.#ctx.id;
  }

  /**
   * Stores `object` on its owners: the primary first (it decides a
   * collision), then the replicas together. Dead owners are replaced by the
   * next servers of the ring.
   *
   * @throws {UnavailableError} when fewer copies than required could be written.
   */
  async replicate(
    object: StoredObject,
    options: ReplicateOptions = {},
  ): Promise<"stored" | "collision"> {
    let state = startReplication({ self: this.#ctx.id, selfHolds: options.selfHolds ?? false });
    for (;;) {
      const step = nextReplicationStep(state, this.owners(object.hash));
      if (step.kind === "stored" || step.kind === "collision") return step.kind;
      if (step.kind === "unavailable") {
        throw new UnavailableError(
          `Cannot store ${hex(object.hash)}: wrote ${step.written} of ${step.owners} copies`,
        );
      }
      const outcomes = step.primary
        ? [await this.#writeTo(step.targets[0]!, object)]
        : await Promise.all(step.targets.map((id) => this.#writeTo(id, object)));
      for (const [i, id] of step.targets.entries()) {
        if (!step.primary && outcomes[i] === "collision") {
          this.#ctx.log(`replica ${id} holds a different object at ${hex(object.hash)}`);
        }
      }
      state = afterWrites(state, step, outcomes);
    }
  }

  async #writeTo(id: string, object: StoredObject): Promise<WriteOutcome> {
    if (id === this.#ctx.id) return this.#index.apply(object) === "collision" ? "collision" : "ok";
    let reply: Reply;
    try {
      reply = await this.#ctx.peers.request(id, toBadd(object));
    } catch (error) {
      await this.#ctx.membership.peerFailed(id, error);
      return "unreachable";
    }
    if (reply.ok) return "ok";
    if (reply.reason === "collision") return "collision";
    throw new UnavailableError(
      `Peer ${id} refused a copy of ${hex(object.hash)}: ${reply.reason} ${reply.detail}`,
    );
  }

  /**
   * Finds the freshest copy of an object: here, then on its owners, then
   * (while the ring is moving, unless `everywhere` is false) on every other
   * server. A copy fetched by an owner that lacked it is stored (read repair).
   *
   * @throws {UnavailableError} with `strict`, when no copy was found and some server did not
   * answer, or every owner of the hash on the ring of all members (the dead too) is declared dead.
   */
  async find(hash: number, options: FindOptions = {}): Promise<StoredObject | undefined> {
    const metaOnly = options.metaOnly ?? false;
    const store = this.#ctx.store;
    const local = store.get(hash);
    if (local && isTerminal(local.meta)) return local;
    let best = local;
    let unreachable = 0;
    const owners = this.owners(hash);
    const ask = async (ids: string[]): Promise<void> => {
      for (const id of ids) {
        const remote = await this.pullFrom(id, hash, { metaOnly });
        if (remote === "unreachable") unreachable++;
        else if (remote !== "absent" && (!best || versionOf(remote.meta) > versionOf(best.meta))) {
          best = remote;
        }
        if (best && isTerminal(best.meta)) return;
      }
    };
    await ask(owners.filter((id) => id !== this.#ctx.id));
    if (!best && (options.everywhere ?? true)) {
      await ask(this.#ctx.membership.alivePeers().filter((id) => !owners.includes(id)));
    }
    // Asking peers can take long (a lost reply waits for the timeout): what
    // was stored here meanwhile (a job's result) is fresher than `local`.
    const now = store.get(hash);
    if (now && (!best || versionOf(now.meta) > versionOf(best.meta))) best = now;
    if (best && best !== local && best !== now && !metaOnly && owners.includes(this.#ctx.id)) {
      this.#index.apply(best);
    }
    if (!best && options.strict && unreachable > 0) {
      throw new UnavailableError(
        `${hex(hash)} is on none of the servers that answered; ${unreachable} could not be reached`,
      );
    }
    if (!best && options.strict && this.#ctx.membership.ownersDead(hash, this.#ctx.replicas)) {
      // Its copies may be on them (a split, two servers down): not-found would be a lie.
      throw new UnavailableError(
        `${
          hex(hash)
        } is on none of the live servers, and every server that kept it is declared dead`,
      );
    }
    return best;
  }

  /** A peer's copy of `hash`; "absent" when it has none, "unreachable" when it does not answer. */
  async pullFrom(
    id: string,
    hash: number,
    options: { readonly metaOnly: boolean },
  ): Promise<PulledCopy> {
    let reply: Reply;
    try {
      reply = await this.#ctx.peers.request(id, {
        command: "PULL",
        hash,
        metaOnly: options.metaOnly,
      });
    } catch (error) {
      await this.#ctx.membership.peerFailed(id, error);
      return "unreachable";
    }
    if (!reply.ok) return reply.reason === "not-found" ? "absent" : "unreachable";
    try {
      return fromPullFields(reply.fields, options);
    } catch (error) {
      // Ignored, as if that server held none (PROTOCOL.md 5.19).
      this.#ctx.log(`peer ${id} sent a bad copy of ${hex(hash)}: ${(error as Error).message}`);
      return "absent";
    }
  }

  /**
   * Forwards a request to the primary of `hash`, failing over to the next
   * owner; null when this server is the primary (or the ring is empty).
   *
   * @throws {UnavailableError} when no primary could be reached.
   */
  async forward(hash: number, request: Request, timeoutMs?: number): Promise<Reply | null> {
    for (let round = 0; round < forwardAttemptsMax; round++) {
      const primary = this.#ctx.membership.ring.primary(hash);
      if (primary === undefined || primary === this.#ctx.id) return null;
      try {
        return await this.#ctx.peers.request(primary, request, timeoutMs);
      } catch (error) {
        await this.#ctx.membership.peerFailed(primary, error);
      }
    }
    throw new UnavailableError(`Cannot reach the owner of ${hex(hash)}`);
  }
}
