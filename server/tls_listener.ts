/**
 * The TLS listener of a server, on node:tls. Deno's own (`Deno.listenTls`)
 * cannot set TCP_NODELAY on the connections it accepts, and then every
 * reply longer than one TLS record (16 KB: a chunk is 60 KB) waited about
 * 40 ms for a delayed ACK (measured: GET of a 60 KB reply, p50 44 ms over
 * Deno's TLS, 0.25 ms over plain TCP and over this listener). Each
 * connection is handed out once its TLS handshake is done, as an object
 * with the `read`, `write` and `close` of a `Deno.Conn`, so the accept
 * loop of listen.ts serves it as any other. Handshakes are bounded: in
 * time (`handshakeMs`) and in number per remote address.
 *
 * @module
 */

import tls from "node:tls";
import type net from "node:net";

/** What listen.ts needs of a connection: a `Deno.Conn`, or a TLS one of this file. */
export type StreamConn = Pick<Deno.Conn, "read" | "write" | "close" | "remoteAddr">;

/** A listener of {@linkcode listenTls}: an async iterable of connections, as `Deno.Listener` is. */
export interface StreamListener extends AsyncIterable<StreamConn> {
  readonly addr: { readonly port: number };
  close(): void;
}

/** Options of {@linkcode listenTls}. */
export interface TlsListenOptions {
  readonly hostname: string;
  readonly port: number;
  /** PEM certificate chain and private key. */
  readonly cert: string;
  readonly key: string;
  /** A connection whose TLS handshake takes longer is closed. */
  readonly handshakeMs: number;
  /** Handshakes one remote address may have under way at once; more are closed at once. */
  readonly pendingPerAddressMax: number;
}

/** Received bytes kept per connection before its socket is paused (the reader is slow). */
const bufferedBytesMax = 256 * 1024;

/** One accepted TLS socket as a `Deno.Conn`-like stream. */
class TlsStream implements StreamConn {
  readonly remoteAddr: Deno.NetAddr;
  readonly #socket: tls.TLSSocket;
  readonly #chunks: Uint8Array[] = [];
  #buffered = 0;
  #ended = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;

  constructor(socket: tls.TLSSocket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    this.remoteAddr = {
      transport: "tcp",
      hostname: (socket.remoteAddress ?? "unknown").replace(/^::ffff:/, ""),
      port: socket.remotePort ?? 0,
    };
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this.#buffered += chunk.byteLength;
      if (this.#buffered > bufferedBytesMax) socket.pause();
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", (error: Error) => {
      this.#error = error;
      this.#notify();
    });
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** Reads into `buffer`: the bytes copied, or null at the end of the stream. */
  async read(buffer: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error) throw new Deno.errors.ConnectionReset(this.#error.message);
      if (this.#ended) return null;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    let count = 0;
    while (count < buffer.length && this.#chunks.length > 0) {
      const chunk = this.#chunks[0]!;
      const taken = Math.min(chunk.length, buffer.length - count);
      buffer.set(chunk.subarray(0, taken), count);
      count += taken;
      if (taken === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(taken);
    }
    this.#buffered -= count;
    if (this.#buffered <= bufferedBytesMax && this.#socket.isPaused()) this.#socket.resume();
    return count;
  }

  /**
   * Writes all of `bytes`, waiting while the socket's buffer is full. The
   * socket may hold on to `bytes` until they are sent: callers hand over
   * buffers they do not change afterwards (listen.ts writes each frame once).
   */
  async write(bytes: Uint8Array): Promise<number> {
    if (this.#error) throw new Deno.errors.ConnectionReset(this.#error.message);
    if (this.#ended || this.#socket.destroyed) throw new Deno.errors.BadResource("Closed");
    if (!this.#socket.write(bytes)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.#socket.off("drain", done);
          this.#socket.off("close", done);
          resolve();
        };
        this.#socket.on("drain", done);
        this.#socket.on("close", done);
      });
    }
    return bytes.length;
  }

  close(): void {
    this.#ended = true;
    this.#socket.destroy();
    this.#notify();
  }
}

/**
 * Listens for TLS connections.
 *
 * @throws {Error} (a Deno error class when one fits: AddrInUse, AddrNotAvailable, PermissionDenied) when it cannot listen.
 */
export async function listenTls(options: TlsListenOptions): Promise<StreamListener> {
  const ready: StreamConn[] = [];
  let waiting: ((conn: IteratorResult<StreamConn>) => void) | null = null;
  let closed = false;
  const pending = new Map<string, number>();
  /** What ends the count of a handshake under way, by remote `address:port`. */
  const releases = new Map<string, () => void>();
  const server = tls.createServer({
    cert: options.cert,
    key: options.key,
    handshakeTimeout: options.handshakeMs,
    minVersion: "TLSv1.2",
  }, (socket) => {
    const conn = new TlsStream(socket);
    releases.get(`${conn.remoteAddr.hostname}:${conn.remoteAddr.port}`)?.();
    if (closed) return conn.close();
    if (waiting) {
      const take = waiting;
      waiting = null;
      take({ value: conn, done: false });
    } else ready.push(conn);
  });
  // Handshakes under way, per address: one host cannot hold every socket before TLS either.
  server.on("connection", (raw: net.Socket) => {
    const address = (raw.remoteAddress ?? "unknown").replace(/^::ffff:/, "");
    const count = (pending.get(address) ?? 0) + 1;
    if (count > options.pendingPerAddressMax) return raw.destroy();
    pending.set(address, count);
    const key = `${address}:${raw.remotePort}`;
    const release = () => {
      if (releases.get(key) !== release) return;
      releases.delete(key);
      const left = (pending.get(address) ?? 1) - 1;
      if (left > 0) pending.set(address, left);
      else pending.delete(address);
    };
    releases.set(key, release);
    raw.once("close", release);
  });
  // A client that speaks no TLS, or too slowly: closed, nothing to log.
  server.on("tlsClientError", (_error: Error, socket: tls.TLSSocket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => reject(listenError(error)));
    server.listen(options.port, options.hostname, () => resolve());
  });
  const address = server.address() as net.AddressInfo;
  return {
    addr: { port: address.port },
    close() {
      closed = true;
      server.close();
      for (const conn of ready.splice(0)) conn.close();
      waiting?.({ value: undefined, done: true });
      waiting = null;
    },
    [Symbol.asyncIterator](): AsyncIterator<StreamConn> {
      return {
        next: () => {
          const conn = ready.shift();
          if (conn) return Promise.resolve({ value: conn, done: false });
          if (closed) return Promise.resolve({ value: undefined, done: true });
          return new Promise((resolve) => (waiting = resolve));
        },
      };
    },
  };
}

function listenError(error: NodeJS.ErrnoException): Error {
  const kind = error.code === "EADDRINUSE"
    ? Deno.errors.AddrInUse
    : error.code === "EADDRNOTAVAIL"
    ? Deno.errors.AddrNotAvailable
    : error.code === "EACCES"
    ? Deno.errors.PermissionDenied
    : Error;
  return new kind(error.message);
}
