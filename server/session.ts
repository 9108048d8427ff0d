/**
 * What a server knows about one connection while serving it.
 *
 * @module
 */

/** Per-connection state: whether the other side is a peer server. */
export interface Session {
  /** `host:port` of the peer server on the other side (set by PEER), or null for a client. */
  peer: string | null;
}
