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

/**
 * Something a room did that the inspection counts (metrics, the dashboard's
 * repair panel, the log); told through {@linkcode ServerContext.note}.
 */
export type ServerEvent =
  | { readonly kind: "repair-pass"; readonly phase: "start" | "end" }
  /**
   * A repair copy sent to an owner: at its start, and at its end with
   * whether the owner took it; `short` when the owner had no copy at all.
   */
  | {
    readonly kind: "repair-send";
    readonly phase: "start" | "end";
    readonly ok: boolean;
    readonly short: boolean;
  }
  /** A repair pass fetched a newer copy from an owner. */
  | { readonly kind: "repair-fetched" }
  /** A repair pass dropped copies no longer owned here. */
  | { readonly kind: "repair-dropped"; readonly count: number };

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
  /** Tells the inspection of an event (absent: nobody counts). */
  readonly note?: (event: ServerEvent) => void;
}
