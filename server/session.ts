/**
 * What a server knows about one connection while serving it.
 *
 * @module
 */

import type { Role } from "../protocol/auth.ts";

/** Per-connection state: who is on the other side, and where its handshake stands. */
export interface Session {
  /** `host:port` of the peer server on the other side (set by PEER), or null for a client. */
  peer: string | null;
  /**
   * Aborted when the client hangs up while a request that waits (GETJ with
   * a wait, WAIT) is being served: the server stops waiting, and above all
   * leases no job to a client that is gone.
   */
  hangUp?: AbortSignal;
  /** The remote IP address, for per-address limits (absent in the simulation). */
  readonly remote?: string;
  /** The role this connection authenticated as (AUTH); unset before, and after a failed AUTH. */
  role?: Role;
  /** The nonce of the last HELO, until an AUTH uses it up. */
  nonce?: string;
  /** Set when the connection must be closed once the current reply is written. */
  closing?: boolean;
  /**
   * Lease tokens handed out on this connection (GETJ), by job: a runner of
   * the original design sends UPD and RLSE without one, and the server
   * fills in the token it handed out here (session_leases.ts).
   */
  leases?: Map<number, string>;
}
