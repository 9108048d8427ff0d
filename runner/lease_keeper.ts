/**
 * Keeping the leases of the jobs a runner runs: every third of a lease (at
 * most every second, so that a cancel is heard soon) it renews all of them in one RNEW (several when it holds more than
 * `renewEntriesMax`), and stops a job whose lease the ring says is lost or
 * that was cancelled, or whose lease it could not renew for a whole lease
 * (a partitioned runner: by then another runner may have the job).
 *
 * @module
 */

import { formatHash } from "../protocol/hash.ts";
import type { Reply, Request } from "../protocol/message.ts";
import { parseRenewReply, type RenewStatus } from "../protocol/renewal.ts";
import {
  leaseMsDefault,
  leaseRenewalsPerLease,
  leaseRenewMsMax,
  leaseRenewMsMin,
  renewEntriesMax,
  renewRequestMs,
} from "../limits.ts";

/** What the keeper needs of the client: sending one request. */
export interface KeeperTransport {
  request(request: Request, timeoutMs?: number): Promise<Reply>;
}

/** Why a kept job was stopped. */
export type StopReason = "lost" | "cancelled";

/** A job whose lease is kept until `release()`. */
export interface KeptJob {
  /** Aborted when the job must stop (its lease is lost, or it was cancelled). */
  readonly signal: AbortSignal;
  /** Why the job was stopped, or null while it may run. */
  readonly stopped: StopReason | null;
  /** The job has ended: its lease is no longer renewed. */
  release(): void;
}

/** Options of {@linkcode LeaseKeeper}. */
export interface LeaseKeeperOptions {
  /** The lease length assumed until a server tells it (default `leaseMsDefault`). */
  readonly leaseMs?: number;
  /** Milliseconds of a monotonic clock (default `performance.now`). */
  readonly now?: () => number;
  readonly log?: (message: string) => void;
}

interface Keeping {
  readonly hash: number;
  readonly lease: string;
  readonly controller: AbortController;
  stopped: StopReason | null;
  /** When the last renewal that the ring took was sent (or the job was taken). */
  renewedMs: number;
}

/** The lease keeper of one runner. */
export class LeaseKeeper {
  readonly #transport: KeeperTransport;
  readonly #now: () => number;
  readonly #log: (message: string) => void;
  readonly #kept = new Map<number, Keeping>();
  #leaseMs: number;
  /** Whether a server told the lease length yet. */
  #learned = false;
  #supported = true;
  #wake: (() => void) | null = null;

  /** A keeper renewing through `transport`. */
  constructor(transport: KeeperTransport, options: LeaseKeeperOptions = {}) {
    this.#transport = transport;
    this.#leaseMs = options.leaseMs ?? leaseMsDefault;
    this.#now = options.now ?? (() => performance.now());
    this.#log = options.log ?? (() => {});
  }

  /** The gap between two renewals now: a third of the lease the ring gives, at most a second. */
  get intervalMs(): number {
    const third = Math.floor(this.#leaseMs / leaseRenewalsPerLease);
    return Math.max(leaseRenewMsMin, Math.min(third, leaseRenewMsMax));
  }

  /** Keeps the lease `lease` of job `hash` (just taken) until `release()`. */
  hold(hash: number, lease: string | undefined): KeptJob {
    const controller = new AbortController();
    const keeping: Keeping = { hash, lease: lease ?? "", controller, stopped: null, renewedMs: 0 };
    keeping.renewedMs = this.#now();
    // Without a token (a server of the original design) there is nothing to renew.
    if (lease !== undefined) this.#kept.set(hash, keeping);
    // The lease may be shorter than assumed: renew at once to learn it.
    if (!this.#learned) this.#wake?.();
    return {
      signal: controller.signal,
      get stopped() {
        return keeping.stopped;
      },
      release: () => {
        if (this.#kept.get(hash) === keeping) this.#kept.delete(hash);
      },
    };
  }

  /** Renews every `intervalMs` until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        sleep(this.intervalMs, signal).then(resolve);
      });
      this.#wake = null;
      if (signal.aborted || !this.#supported) return;
      await this.tick();
    }
  }

  /** One round: renews every kept lease, stops the jobs that must stop. */
  async tick(): Promise<void> {
    const kept = [...this.#kept.values()];
    for (let start = 0; start < kept.length; start += renewEntriesMax) {
      await this.#renew(kept.slice(start, start + renewEntriesMax));
    }
    const now = this.#now();
    for (const keeping of kept) {
      if (now - keeping.renewedMs > this.#leaseMs && this.#supported) {
        this.#stop(keeping, "lost", "its lease could not be renewed for a whole lease");
      }
    }
  }

  async #renew(batch: readonly Keeping[]): Promise<void> {
    const sentMs = this.#now();
    let reply: Reply;
    try {
      reply = await this.#transport.request({
        command: "RNEW",
        leases: batch.map((keeping) => ({ hash: keeping.hash, lease: keeping.lease })),
      }, renewRequestMs);
    } catch (error) {
      this.#log(`cannot renew ${batch.length} leases: ${(error as Error).message}`);
      return;
    }
    if (!reply.ok && reply.reason === "unknown-command") {
      this.#supported = false;
      this.#log("the server does not renew leases (RNEW); jobs must end within its lease");
      return;
    }
    const answer = parseRenewReply(reply, batch.length);
    if (answer === null) {
      this.#log(`cannot renew ${batch.length} leases: ${describe(reply)}`);
      return;
    }
    this.#leaseMs = answer.leaseMs;
    this.#learned = true;
    answer.statuses.forEach((status, i) => this.#apply(batch[i]!, status, sentMs));
  }

  #apply(keeping: Keeping, status: RenewStatus, sentMs: number): void {
    if (status === "ok") keeping.renewedMs = sentMs;
    else if (status === "lost") this.#stop(keeping, "lost", "the ring says its lease is lost");
    else if (status === "cancelled") this.#stop(keeping, "cancelled", "it was cancelled");
  }

  #stop(keeping: Keeping, reason: StopReason, why: string): void {
    if (keeping.stopped !== null) return;
    keeping.stopped = reason;
    this.#kept.delete(keeping.hash);
    this.#log(`job ${formatHash(keeping.hash)}: stopping it, ${why}`);
    keeping.controller.abort();
  }
}

function describe(reply: Reply): string {
  return reply.ok ? "malformed reply" : `${reply.reason}: ${reply.detail}`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
