/**
 * A framed request/reply connection over TCP or TLS: the one socket edge
 * shared by the client, the runner and server-to-server calls. With a
 * credential, each connection starts with the HELO/AUTH handshake
 * (docs/PROTOCOL.md, 1.6). One request is in flight at a time per
 * connection; callers wanting concurrency open several.
 *
 * @module
 */

import { authProof, type Credential } from "./auth.ts";
import { type Decoded, encodeFrame, FrameDecoder } from "./frame.ts";
import { decodePayload, encodeRequest, parseReply, type Reply, type Request } from "./message.ts";
import { connectTimeoutMs, readChunkBytes, requestTimeoutMs } from "../limits.ts";

/**
 * A peer that could not be reached, went away, or broke the protocol; `tls`:
 * its certificate could not be verified, or it speaks no TLS.
 */
export class ConnectionError extends Error {
  /** `code` is `connect`, `closed`, `timeout`, `protocol` or `tls`. */
  constructor(
    readonly code: "connect" | "closed" | "timeout" | "protocol" | "tls",
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "ConnectionError";
  }
}

/** Writes all of `bytes`, however the socket splits them. */
export async function writeAll(
  conn: { write(bytes: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

/**
 * A server refused a connection's handshake: `reason` is its NACK's reason
 * (`auth` for a credential it does not accept, `busy` at its connection
 * limit, …).
 */
export class HandshakeError extends Error {
  constructor(readonly reason: string, readonly detail: string, message: string) {
    super(message);
    this.name = "HandshakeError";
  }
}

/** How to speak TLS to a server: its certificate is verified against these CAs and the system's. */
export interface TlsOptions {
  /** CA certificates (PEM) trusted besides the system's store. */
  readonly caCerts?: readonly string[];
}

/** Options of {@linkcode Connection.open}. */
export interface ConnectOptions {
  /** Give up connecting after this long. */
  connectTimeoutMs?: number;
  /** Default limit on each request's reply (the handshake's included). */
  requestTimeoutMs?: number;
  /** Authenticate with this credential (HELO, AUTH) before anything else. */
  credential?: Credential;
  /** Speak TLS, verifying the server's certificate and name. */
  tls?: TlsOptions;
}

/**
 * Starts TLS on `tcp` and completes the handshake within `timeoutMs`.
 *
 * @throws {ConnectionError} (`tls`, `timeout`) when the certificate is refused or the handshake fails.
 */
async function startTls(
  tcp: Deno.TcpConn,
  host: string,
  port: number,
  tls: TlsOptions,
  timeoutMs: number,
): Promise<Deno.TlsConn> {
  let conn: Deno.TlsConn | undefined;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    (conn ?? tcp).close();
  }, timeoutMs);
  try {
    conn = await Deno.startTls(tcp, {
      hostname: host,
      ...(tls.caCerts ? { caCerts: [...tls.caCerts] } : {}),
    });
    await conn.handshake();
    return conn;
  } catch (error) {
    try {
      (conn ?? tcp).close();
    } catch {
      // Closed by the timer.
    }
    throw new ConnectionError(
      timedOut ? "timeout" : "tls",
      `Cannot connect to ${host}:${port}: TLS handshake ${
        timedOut ? `timed out after ${timeoutMs} ms` : `failed: ${(error as Error).message}`
      }`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
  }
}

/** A framed connection to one server. */
export class Connection {
  readonly #conn: Deno.Conn;
  readonly #decoder = new FrameDecoder();
  readonly #buffer = new Uint8Array(readChunkBytes);
  readonly #requestTimeoutMs: number;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(conn: Deno.Conn, timeoutMs: number, address: string) {
    this.#conn = conn;
    this.#requestTimeoutMs = timeoutMs;
    this.address = address;
  }

  /** Address this connection was opened to, as `host:port`. */
  readonly address: string;

  /**
   * Opens a connection.
   *
   * @throws {ConnectionError} (`connect`, `timeout`) when the server cannot be reached.
   */
  static async open(host: string, port: number, options: ConnectOptions = {}): Promise<Connection> {
    const timeoutMs = options.connectTimeoutMs ?? connectTimeoutMs;
    let tcp: Deno.TcpConn;
    try {
      tcp = await Deno.connect({ hostname: host, port, signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      const timedOut = error instanceof DOMException && error.name === "TimeoutError";
      throw new ConnectionError(
        timedOut ? "timeout" : "connect",
        `Cannot connect to ${host}:${port}: ${timedOut ? "timed out" : (error as Error).message}`,
        { cause: error },
      );
    }
    tcp.setNoDelay(true);
    const requestMs = options.requestTimeoutMs ?? requestTimeoutMs;
    const conn = options.tls ? await startTls(tcp, host, port, options.tls, requestMs) : tcp;
    const connection = new Connection(conn, requestMs, `${host}:${port}`);
    if (options.credential) {
      try {
        await connection.#authenticate(options.credential, options.tls !== undefined);
      } catch (error) {
        connection.close();
        throw error;
      }
    }
    return connection;
  }

  /**
   * HELO, then AUTH with the proof over its nonce.
   *
   * @throws {HandshakeError} when the server refuses either.
   * @throws {ConnectionError} when it breaks the protocol or goes away.
   */
  async #authenticate(credential: Credential, tls: boolean): Promise<void> {
    let hello: Reply;
    try {
      hello = await this.request({ command: "HELO" });
    } catch (error) {
      if (!(error instanceof ConnectionError) || error.code !== "closed" || tls) throw error;
      throw new ConnectionError(
        "closed",
        `${error.message} (does it speak TLS? then connect with --tls or --tls-ca FILE)`,
        { cause: error },
      );
    }
    if (!hello.ok) {
      throw new HandshakeError(
        hello.reason,
        hello.detail,
        `Cannot connect to ${this.address}: ${hello.reason}: ${hello.detail}`,
      );
    }
    const nonce = hello.fields.length === 1 ? hello.fields[0]! : "";
    if (!/^[0-9a-f]{32}$/.test(nonce)) {
      throw new ConnectionError(
        "protocol",
        `HELO reply from ${this.address} is not ACK:<32 hex digits>`,
      );
    }
    const reply = await this.request({
      command: "AUTH",
      role: credential.role,
      proof: await authProof(credential, nonce),
    });
    if (!reply.ok) {
      throw new HandshakeError(
        reply.reason,
        reply.detail,
        `${this.address} refused AUTH as ${credential.role}: ${reply.detail}`,
      );
    }
  }

  /** True once closed, by either side. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends a request and returns its reply.
   *
   * @throws {ConnectionError} when the connection fails, times out or the reply is not a valid frame.
   */
  request(request: Request | string, timeoutMs = this.#requestTimeoutMs): Promise<Reply> {
    const text = typeof request === "string" ? request : encodeRequest(request);
    const result = this.#queue.then(() => this.#exchange(text, timeoutMs));
    this.#queue = result.catch(() => {});
    return result;
  }

  async #exchange(text: string, timeoutMs: number): Promise<Reply> {
    if (this.#closed) {
      throw new ConnectionError("closed", `Connection to ${this.address} is closed`);
    }
    let frame: Uint8Array;
    try {
      frame = encodeFrame(text);
    } catch (error) {
      throw new ConnectionError("protocol", (error as Error).message);
    }
    const timer = setTimeout(() => this.#abort(), timeoutMs);
    try {
      await writeAll(this.#conn, frame);
      const decoded = await this.#readFrame();
      if (decoded.kind === "bad-checksum") {
        throw new ConnectionError("protocol", `Reply from ${this.address} has a bad checksum`);
      }
      return parseReply(decodePayload(decoded.payload));
    } catch (error) {
      this.close();
      if (error instanceof ConnectionError) throw error;
      if (this.#timedOut) {
        throw new ConnectionError(
          "timeout",
          `No reply from ${this.address} within ${timeoutMs} ms`,
        );
      }
      throw new ConnectionError(
        "closed",
        `Connection to ${this.address} failed: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  #timedOut = false;

  #abort(): void {
    this.#timedOut = true;
    this.close();
  }

  async #readFrame(): Promise<Decoded> {
    for (;;) {
      const decoded = this.#decoder.next();
      if (decoded) return decoded;
      const count = await this.#conn.read(this.#buffer);
      if (count === null) {
        throw new ConnectionError("closed", `Connection to ${this.address} closed by the server`);
      }
      this.#decoder.push(this.#buffer.subarray(0, count));
    }
  }

  /** Sends STOP and closes. Never throws. */
  async stop(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#queue;
      await writeAll(this.#conn, encodeFrame("STOP"));
    } catch {
      // The peer may already be gone; closing is all that is left.
    }
    this.close();
  }

  /** Closes the socket. Never throws. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the runtime.
    }
  }
}
