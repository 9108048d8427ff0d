/**
 * What a server knows about one connection while serving it.
 *
 * @module
 */

/** Per-connection state: whether the other side is a peer server. */
export interface Session {
  /** `host:port` of the peer server on the other side (set by PEER), or null for a client. */
  peer: string | null;
  /**
   * Aborted when the client hangs up while a request that waits (GETJ with
   * a wait, WAIT) is being served: the server stops waiting, and above all
   * leases no job to a client that is gone.
   */
  hangUp?: AbortSignal;
  /**
   * Lease tokens handed out on this connection (GETJ), by job: a runner of
   * the original design sends UPD and RLSE without one, and the server
   * fills in the token it handed out here (session_leases.ts).
   */
  leases?: Map<number, string>;
}
