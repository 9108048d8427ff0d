/**
 * A framed request/reply connection over TCP: the one socket edge shared by
 * the client, the runner and server-to-server calls. One request is in
 * flight at a time per connection; callers wanting concurrency open several.
 *
 * @module
 */

import { type Decoded, encodeFrame, FrameDecoder } from "./frame.ts";
import { decodePayload, encodeRequest, parseReply, type Reply, type Request } from "./message.ts";
import { connectTimeoutMs, readChunkBytes, requestTimeoutMs } from "../limits.ts";

/** A peer that could not be reached, went away, or broke the protocol. */
export class ConnectionError extends Error {
  /** `code` is `connect`, `closed`, `timeout` or `protocol`. */
  constructor(
    readonly code: "connect" | "closed" | "timeout" | "protocol",
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "ConnectionError";
  }
}

/** Writes all of `bytes`, however the socket splits them. */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

/** Options of {@linkcode Connection.open}. */
export interface ConnectOptions {
  /** Give up connecting after this long. */
  connectTimeoutMs?: number;
  /** Default limit on each request's reply. */
  requestTimeoutMs?: number;
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
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({ hostname: host, port, signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      const timedOut = error instanceof DOMException && error.name === "TimeoutError";
      throw new ConnectionError(
        timedOut ? "timeout" : "connect",
        `Cannot connect to ${host}:${port}: ${timedOut ? "timed out" : (error as Error).message}`,
        { cause: error },
      );
    }
    conn.setNoDelay(true);
    return new Connection(conn, options.requestTimeoutMs ?? requestTimeoutMs, `${host}:${port}`);
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
