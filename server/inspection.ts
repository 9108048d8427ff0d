/**
 * What a server tells about itself: INFO (what it holds, how it sees the
 * ring) and the observer told of every request served, the hook where
 * statistics and metrics are counted. Reads only: nothing here changes
 * what the server stores or decides.
 *
 * @module
 */

import { formatHash, objectHash } from "../protocol/hash.ts";
import type { Command, Reply, Request } from "../protocol/message.ts";
import { infoScanBatch } from "../limits.ts";
import type { ServerContext } from "./context.ts";
import type { ObjectIndex } from "./object_index.ts";
import type { Replication } from "./replication.ts";
import type { Session } from "./session.ts";

/** One request served, as an observer is told of it. */
export interface RequestEvent {
  readonly command: Command;
  /** True for an ACK. */
  readonly ok: boolean;
  /** The NACK's reason; empty for an ACK. */
  readonly reason: string;
  /** Whether the request came from a peer server (PEER) rather than a client. */
  readonly fromPeer: boolean;
}

/** Told of every request a server serves; what it throws is logged and ignored. */
export type RequestObserver = (event: RequestEvent) => void;

/** The inspection of one server. */
export class Inspection {
  readonly #ctx: ServerContext;
  readonly #replication: Replication;
  readonly #index: ObjectIndex;
  readonly #observer: RequestObserver | undefined;

  /** Inspection over a server's rooms; `observer` is told of each request served. */
  constructor(
    ctx: ServerContext,
    rooms: { replication: Replication; index: ObjectIndex },
    observer?: RequestObserver,
  ) {
    this.#ctx = ctx;
    this.#replication = rooms.replication;
    this.#index = rooms.index;
    this.#observer = observer;
  }

  /** True when someone is told of requests. */
  get observed(): boolean {
    return this.#observer !== undefined;
  }

  /** Tells the observer of a request served. */
  served(request: Request, session: Session, reply: Reply): void {
    if (!this.#observer) return;
    try {
      this.#observer({
        command: request.command,
        ok: reply.ok,
        reason: reply.ok ? "" : reply.reason,
        fromPeer: session.peer !== null,
      });
    } catch (error) {
      this.#ctx.log(`request observer failed: ${(error as Error).message}`);
    }
  }

  /** What this server holds and how it sees the ring (INFO). */
  info(): Record<string, unknown> {
    let owner = 0;
    let replica = 0;
    let stray = 0;
    let after = -1;
    for (;;) {
      const batch = this.#ctx.store.scan(after, infoScanBatch);
      if (batch.length === 0) break;
      after = batch[batch.length - 1]!.hash;
      for (const { hash } of batch) {
        const index = this.#replication.owners(hash).indexOf(this.#ctx.id);
        if (index === 0) owner++;
        else if (index > 0) replica++;
        else stray++;
      }
    }
    const membership = this.#ctx.membership;
    const self = membership.self;
    return {
      id: this.#ctx.id,
      incarnation: self.incarnation,
      replicas: this.#ctx.replicas,
      positions: self.salts.map((salt) => formatHash(objectHash(this.#ctx.id, salt))),
      objects: { owner, replica, stray, ...this.#ctx.store.counts() },
      openJobs: this.#index.openJobCount,
      reconciling: this.#ctx.life.reconciling,
      members: membership.members().map(({ id, incarnation, alive, salts }) => ({
        id,
        incarnation,
        alive,
        vnodes: salts.length,
      })),
      ring: membership.ring.members,
    };
  }
}
