/**
 * Connections from this server to its peers: a small pool per peer, each
 * connection authenticated with this server's credential (HELO, AUTH as
 * `server`) when it has one, over TLS when the ring speaks it, and
 * introduced with PEER so the peer serves it locally and never forwards it
 * again.
 *
 * @module
 */

import type { Credential } from "../protocol/auth.ts";
import {
  Connection,
  ConnectionError,
  HandshakeError,
  type TlsOptions,
} from "../protocol/connection.ts";
import type { Reply, Request } from "../protocol/message.ts";
import { peerConnectTimeoutMs, peerIdleConnectionsMax, peerRequestTimeoutMs } from "../limits.ts";

/** Splits `host:port`. */
export function splitId(id: string): { host: string; port: number } {
  const colon = id.lastIndexOf(":");
  return { host: id.slice(0, colon), port: Number(id.slice(colon + 1)) };
}

/**
 * How a server reaches its peers. {@linkcode PeerPool} is the TCP one; the
 * simulation (tests/sim.ts) passes an in-memory network.
 */
export interface PeerTransport {
  /**
   * Sends a request to a peer (by `host:port`) and returns its reply.
   *
   * @throws {ConnectionError} when the peer cannot be reached or fails.
   */
  request(id: string, request: Request, timeoutMs?: number): Promise<Reply>;
  /** Drops what is kept for one peer (it died or left). */
  forget(id: string): void;
  /** Closes every connection; later requests fail. */
  close(): void;
}

/** How a server proves itself to its peers and reaches them. */
export interface PeerSecurity {
  /** This server's credential (role `server`); none against open peers. */
  readonly credential?: Credential;
  /** Speak TLS to peers, verifying their certificates. */
  readonly tls?: TlsOptions;
}

/** A pool of connections to peers, keyed by `host:port`. */
export class PeerPool implements PeerTransport {
  readonly #self: { host: string; port: number };
  readonly #security: PeerSecurity;
  readonly #idle = new Map<string, Connection[]>();
  #closed = false;

  /** `self` is this server's advertised address, sent in PEER. */
  constructor(self: { host: string; port: number }, security: PeerSecurity = {}) {
    this.#self = self;
    this.#security = security;
  }

  /**
   * Sends a request to a peer and returns its reply.
   *
   * @throws {ConnectionError} when the peer cannot be reached or fails.
   */
  async request(id: string, request: Request, timeoutMs = peerRequestTimeoutMs): Promise<Reply> {
    const connection = await this.#take(id);
    try {
      const reply = await connection.request(request, timeoutMs);
      this.#give(id, connection);
      return reply;
    } catch (error) {
      connection.close();
      throw error;
    }
  }

  async #take(id: string): Promise<Connection> {
    if (this.#closed) throw new ConnectionError("closed", "Peer pool is closed");
    const idle = this.#idle.get(id);
    while (idle && idle.length > 0) {
      const connection = idle.pop()!;
      if (!connection.closed) return connection;
    }
    const { host, port } = splitId(id);
    const connection = await this.#open(id, host, port);
    const hello = await connection.request({
      command: "PEER",
      host: this.#self.host,
      port: this.#self.port,
    });
    if (!hello.ok) {
      connection.close();
      throw new ConnectionError(
        "protocol",
        `Peer ${id} refused PEER: ${hello.reason} ${hello.detail}`,
      );
    }
    return connection;
  }

  async #open(id: string, host: string, port: number): Promise<Connection> {
    const { credential, tls } = this.#security;
    try {
      return await Connection.open(host, port, {
        connectTimeoutMs: peerConnectTimeoutMs,
        requestTimeoutMs: peerRequestTimeoutMs,
        ...(credential ? { credential } : {}),
        ...(tls ? { tls } : {}),
      });
    } catch (error) {
      if (!(error instanceof HandshakeError)) throw error;
      throw new ConnectionError("protocol", `Peer ${id} refused this server: ${error.message}`);
    }
  }

  #give(id: string, connection: Connection): void {
    if (this.#closed) return connection.close();
    const idle = this.#idle.get(id) ?? [];
    if (idle.length >= peerIdleConnectionsMax) return connection.close();
    idle.push(connection);
    this.#idle.set(id, idle);
  }

  /** Closes the idle connections to one peer (it died or left). */
  forget(id: string): void {
    for (const connection of this.#idle.get(id) ?? []) connection.close();
    this.#idle.delete(id);
  }

  /** Closes every connection. */
  close(): void {
    this.#closed = true;
    for (const id of [...this.#idle.keys()]) this.forget(id);
  }
}
