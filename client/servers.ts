/**
 * The servers a client talks to: the ring's server table (GETS) for
 * fail-over and for sending each object straight to its owner, and a pool
 * of idle connections per server. Requests go to the current server and
 * fail over to the next known one when it cannot be reached.
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
import type { Reply, Request, ServerRecord } from "../protocol/message.ts";
import { Ring, type RingMember } from "../protocol/ring.ts";
import { clientIdleConnectionsMax, connectTimeoutMs } from "../limits.ts";
import { CloudError } from "./errors.ts";

/** Options of {@linkcode Servers}. */
export interface ServersOptions {
  /** Idle connections kept per server (at least `parallel`). */
  readonly connections?: number;
  /** Limit on each request's reply. */
  readonly requestTimeoutMs?: number;
  /** Requests one transfer keeps in flight: as many idle connections are kept. */
  readonly parallel: number;
  /** Authenticate every connection with this credential. */
  readonly credential?: Credential;
  /** Speak TLS to every server. */
  readonly tls?: TlsOptions;
}

/** Errors no other server would answer differently: a broken protocol, a refused certificate. */
function final(error: ConnectionError): boolean {
  return error.code === "protocol" || error.code === "tls";
}

/** Known servers, the ring they form, and connections to them. */
export class Servers {
  readonly #servers: { host: string; port: number }[];
  #current = 0;
  /** Idle connections by server address (`host:port`). */
  readonly #idle = new Map<string, Connection[]>();
  readonly #options: ServersOptions;
  /** The ring as the last GETS described it: where each object lives. */
  #ring: Ring | undefined;
  #closed = false;

  /** Starts from the one server at `host:port`. */
  constructor(host: string, port: number, options: ServersOptions) {
    this.#servers = [{ host, port }];
    this.#options = options;
  }

  /** The server requests go to now, as `host:port`. */
  get current(): string {
    const server = this.#servers[this.#current]!;
    return `${server.host}:${server.port}`;
  }

  /** Adds a server to fall back to (after those known), as `-s a:1,b:2` lists them. */
  add(host: string, port: number): void {
    if (!this.#servers.some((s) => s.host === host && s.port === port)) {
      this.#servers.push({ host, port });
    }
  }

  /** The ring as the last server table described it, if known. */
  get ring(): Ring | undefined {
    return this.#ring;
  }

  /** Remembers every server of a server table for fail-over, and the ring it forms. */
  learn(records: readonly ServerRecord[]): void {
    const members = new Map<string, RingMember & { salts: number[] }>();
    for (const record of records) {
      if (!this.#servers.some((s) => s.host === record.host && s.port === record.port)) {
        this.#servers.push({ host: record.host, port: record.port });
      }
      const id = `${record.host}:${record.port}`;
      const member = members.get(id) ?? { id, salts: [] };
      member.salts.push(record.salt);
      members.set(id, member);
    }
    this.#ring = members.size > 0 ? new Ring([...members.values()]) : undefined;
  }

  /**
   * Sends a request, failing over to the next known server when the current
   * one cannot be reached. Returns the reply, ACK or NACK.
   *
   * @throws {ConnectionError} when no known server answers.
   */
  async request(request: Request, timeoutMs?: number, signal?: AbortSignal): Promise<Reply> {
    let lastError: unknown;
    for (let attempt = 0; attempt < this.#servers.length + 1; attempt++) {
      try {
        return await this.requestAt(this.current, request, timeoutMs, signal);
      } catch (error) {
        if (signal?.aborted) throw new ConnectionError("closed", "Request abandoned");
        if (!(error instanceof ConnectionError) || final(error)) throw error;
        lastError = error;
        if (error.code === "timeout") throw error;
        this.#failOver();
      }
    }
    throw lastError;
  }

  /**
   * Sends a request to the server at `address` only. Aborting `signal`
   * closes the connection, which tells the server the request is abandoned.
   *
   * @throws {ConnectionError} when that server cannot be reached.
   * @throws {CloudError} (`busy`) when it is at its connection limit, (`auth`) when it refuses the credential.
   */
  async requestAt(
    address: string,
    request: Request,
    timeoutMs?: number,
    signal?: AbortSignal,
  ): Promise<Reply> {
    const connection = await this.#take(address);
    const abandon = () => connection.close();
    signal?.addEventListener("abort", abandon, { once: true });
    try {
      if (signal?.aborted) throw new ConnectionError("closed", "Request abandoned");
      const reply = await connection.request(request, timeoutMs ?? this.#options.requestTimeoutMs);
      signal?.removeEventListener("abort", abandon);
      this.#give(address, connection);
      if (!reply.ok && reply.reason === "busy") throw new CloudError("busy", reply.detail);
      return reply;
    } catch (error) {
      signal?.removeEventListener("abort", abandon);
      connection.close();
      throw error;
    }
  }

  /**
   * Sends a request to the server at `address` when given (the owner of
   * what it is about), else or when that server fails, as {@linkcode request} does.
   */
  async requestVia(address: string | undefined, request: Request): Promise<Reply> {
    if (address !== undefined) {
      try {
        return await this.requestAt(address, request);
      } catch (error) {
        const passing = error instanceof ConnectionError
          ? !final(error)
          : error instanceof CloudError && error.reason === "busy";
        if (!passing) throw error;
        this.#ring = undefined;
      }
    }
    return await this.request(request);
  }

  async #take(address: string): Promise<Connection> {
    if (this.#closed) throw new ConnectionError("closed", "Client is closed");
    const idle = this.#idle.get(address);
    while (idle && idle.length > 0) {
      const connection = idle.pop()!;
      if (!connection.closed) return connection;
    }
    const colon = address.lastIndexOf(":");
    const { requestTimeoutMs, credential, tls } = this.#options;
    try {
      return await Connection.open(address.slice(0, colon), Number(address.slice(colon + 1)), {
        // A request's limit bounds its connecting too (`-t 500ms` does not wait the 3 s default).
        ...(requestTimeoutMs
          ? { requestTimeoutMs, connectTimeoutMs: Math.min(requestTimeoutMs, connectTimeoutMs) }
          : {}),
        ...(credential ? { credential } : {}),
        ...(tls ? { tls } : {}),
      });
    } catch (error) {
      // A refused handshake is a refused request: busy, or a credential the server does not take.
      if (error instanceof HandshakeError) throw new CloudError(error.reason, error.message);
      throw error;
    }
  }

  #give(address: string, connection: Connection): void {
    const idle = this.#idle.get(address) ?? [];
    const max = Math.max(
      this.#options.connections ?? clientIdleConnectionsMax,
      this.#options.parallel,
    );
    if (this.#closed || idle.length >= max) return connection.close();
    idle.push(connection);
    this.#idle.set(address, idle);
  }

  #failOver(): void {
    const address = this.current;
    for (const connection of this.#idle.get(address) ?? []) connection.close();
    this.#idle.delete(address);
    this.#current = (this.#current + 1) % this.#servers.length;
  }

  /** Closes every connection; later requests fail. */
  close(): void {
    this.#closed = true;
    for (const idle of this.#idle.values()) for (const connection of idle) void connection.stop();
    this.#idle.clear();
  }
}
