/**
 * What every room of a server shares: its identity and settings, its store,
 * its peers and membership, time, its log, and where its life stands
 * (starting, serving, stopped). node.ts makes one per server and hands it to
 * each room; a room holds no other room's state, only a reference to the
 * rooms it calls.
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import type { Membership } from "./membership_service.ts";
import type { PeerTransport } from "./peers.ts";
import type { Store } from "./store.ts";

/** Where a server's life stands. */
export interface ServerLife {
  /** True while start() reconciles this server's copies: no job is handed out yet. */
  readonly reconciling: boolean;
  /** True once stop() was called: loops end, waits return. */
  readonly stopped: boolean;
}

/** A server as its rooms see it. */
export interface ServerContext {
  /** This server's `host:port`. */
  readonly id: string;
  /** Copies kept of every object (on distinct servers). */
  readonly replicas: number;
  /** How long a runner holds a job. */
  readonly leaseMs: number;
  readonly store: Store;
  readonly peers: PeerTransport;
  readonly membership: Membership;
  readonly clock: Clock;
  /** Milliseconds since the epoch, by this server's clock. */
  now(): number;
  /**
   * A fresh unguessable token, 32 lower-case hex digits (128 bits) from the
   * server's random source: lease tokens, HOLD nonces.
   */
  token(): string;
  log(message: string): void;
  /** Where the server's life stands (node.ts moves it on). */
  readonly life: ServerLife;
  /** Runs `work` without waiting for it; a failure is logged, never an unhandled rejection. */
  background(work: Promise<unknown>, what: string): void;
}
