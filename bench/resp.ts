/**
 * A minimal RESP2 client over Deno.connect, for the Redis peer: one request
 * in flight per connection (no pipelining), as the cloud client works.
 *
 * @module
 */

import type { LoadDriver } from "./load.ts";

/** A decoded RESP2 reply (arrays are not needed by the bench and are rejected). */
export type RespReply = string | number | Uint8Array | null | RespError;

/** An error reply (`-ERR ...`) from the server. */
export class RespError extends Error {
  override name = "RespError";
}

const encoder = new TextEncoder();
const crlf = encoder.encode("\r\n");

/** Encode a command as a RESP2 array of bulk strings. */
export function encodeCommand(parts: readonly (string | Uint8Array)[]): Uint8Array {
  const chunks: Uint8Array[] = [encoder.encode(`*${parts.length}\r\n`)];
  for (const part of parts) {
    const bytes = typeof part === "string" ? encoder.encode(part) : part;
    chunks.push(encoder.encode(`$${bytes.length}\r\n`), bytes, crlf);
  }
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

function lineEnd(buffer: Uint8Array, start: number, end: number): number {
  for (let i = start; i + 1 < end; i++) {
    if (buffer[i] === 13 && buffer[i + 1] === 10) return i;
  }
  return -1;
}

/**
 * Decode one reply from `buffer[start..end)`. Returns the reply and the
 * offset after it, or undefined when the reply is not complete yet.
 *
 * @throws {Error} on a malformed reply or an array reply.
 */
export function decodeReply(
  buffer: Uint8Array,
  start: number,
  end: number,
): { reply: RespReply; next: number } | undefined {
  const eol = lineEnd(buffer, start, end);
  if (eol < 0) return undefined;
  const type = buffer[start];
  const line = new TextDecoder().decode(buffer.subarray(start + 1, eol));
  switch (type) {
    case 43: // +
      return { reply: line, next: eol + 2 };
    case 45: // -
      return { reply: new RespError(line), next: eol + 2 };
    case 58: // :
      return { reply: Number(line), next: eol + 2 };
    case 36: { // $
      const length = Number(line);
      if (length === -1) return { reply: null, next: eol + 2 };
      if (!Number.isInteger(length) || length < 0) {
        throw new Error(`Cannot decode RESP reply: bad bulk length ${JSON.stringify(line)}`);
      }
      const dataEnd = eol + 2 + length;
      if (dataEnd + 2 > end) return undefined;
      return { reply: buffer.slice(eol + 2, dataEnd), next: dataEnd + 2 };
    }
    default:
      throw new Error(`Cannot decode RESP reply: unsupported type byte ${type}`);
  }
}

/** One TCP connection to a Redis server, one command at a time. */
export class RespConnection {
  #conn: Deno.TcpConn;
  #buffer = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  /** Connect to a Redis server (TCP_NODELAY on). */
  static async connect(hostname: string, port: number): Promise<RespConnection> {
    const conn = await Deno.connect({ hostname, port });
    conn.setNoDelay(true);
    return new RespConnection(conn);
  }

  /**
   * Send one encoded command and wait for its reply.
   *
   * @throws {RespError} on an error reply; {Error} when the server closes the connection.
   */
  async request(command: Uint8Array): Promise<RespReply> {
    for (let written = 0; written < command.length;) {
      written += await this.#conn.write(command.subarray(written));
    }
    while (true) {
      const decoded = decodeReply(this.#buffer, this.#start, this.#end);
      if (decoded) {
        this.#start = decoded.next;
        if (decoded.reply instanceof RespError) throw decoded.reply;
        return decoded.reply;
      }
      await this.#fill();
    }
  }

  async #fill(): Promise<void> {
    if (this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end === this.#buffer.length) {
      const pending = this.#buffer.subarray(this.#start, this.#end);
      const bigger = new Uint8Array(Math.max(this.#buffer.length, pending.length * 2));
      bigger.set(pending);
      this.#buffer = bigger;
      this.#end = pending.length;
      this.#start = 0;
    }
    const count = await this.#conn.read(this.#buffer.subarray(this.#end));
    if (count === null) throw new Error("Cannot read RESP reply: connection closed by server");
    this.#end += count;
  }

  /** Close the connection. */
  close(): void {
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** A LoadDriver whose op(i) is `SET <prefix>i mod keyCount <value>`. */
export async function openSetDriver(
  address: { hostname: string; port: number },
  options: { prefix: string; keyCount: number; value: Uint8Array },
): Promise<LoadDriver> {
  const connection = await RespConnection.connect(address.hostname, address.port);
  return {
    op: async (i) => {
      const key = options.prefix + (i % options.keyCount);
      const reply = await connection.request(encodeCommand(["SET", key, options.value]));
      if (reply !== "OK") throw new Error(`Cannot SET ${key}: reply ${String(reply)}`);
    },
    close: () => Promise.resolve(connection.close()),
  };
}

/** A LoadDriver whose op(i) is `GET <prefix>i mod keyCount`, checking the value's length. */
export async function openGetDriver(
  address: { hostname: string; port: number },
  options: { prefix: string; keyCount: number; valueBytes: number },
): Promise<LoadDriver> {
  const connection = await RespConnection.connect(address.hostname, address.port);
  return {
    op: async (i) => {
      const key = options.prefix + (i % options.keyCount);
      const reply = await connection.request(encodeCommand(["GET", key]));
      if (!(reply instanceof Uint8Array) || reply.length !== options.valueBytes) {
        throw new Error(`Cannot GET ${key}: expected ${options.valueBytes} bytes`);
      }
    },
    close: () => Promise.resolve(connection.close()),
  };
}
