/**
 * The accept loop: frames in, replies out, limits on connections, idle time
 * and slow frames. Nothing a client sends can stop the server: every bad
 * frame or request gets a NACK (and, when the stream cannot be trusted any
 * more, a closed connection).
 *
 * @module
 */

import { writeAll } from "../protocol/connection.ts";
import { encodeFrame, FrameDecoder, FrameError } from "../protocol/frame.ts";
import {
  decodePayload,
  encodeReply,
  nack,
  parseRequest,
  ProtocolError,
  type Reply,
} from "../protocol/message.ts";
import {
  connectionsMax,
  deadlineSweepMsMax,
  frameReadMs,
  idleMs,
  readChunkBytes,
} from "../limits.ts";
import type { Request } from "../protocol/message.ts";
import type { Session } from "./session.ts";

/** Whatever serves requests: a server node. */
export interface RequestHandler {
  handle(request: Request, session: Session): Promise<Reply>;
}

/** Options of {@linkcode serve}. */
export interface ServeOptions {
  readonly hostname: string;
  readonly port: number;
  readonly connectionsMax?: number;
  readonly idleMs?: number;
  readonly frameReadMs?: number;
  readonly log?: (message: string) => void;
}

/** A listening server; `close()` stops accepting and drops every connection. */
export interface Listening {
  readonly port: number;
  /** Connections open now. */
  readonly connections: number;
  readonly done: Promise<void>;
  close(): void;
}

/** Listens for connections and serves each with `node`. */
export function serve(node: RequestHandler, options: ServeOptions): Listening {
  let listener: Deno.Listener;
  try {
    listener = Deno.listen({ hostname: options.hostname, port: options.port });
  } catch (error) {
    const why = error instanceof Deno.errors.AddrInUse
      ? "the port is in use (another server on it?)"
      : error instanceof Deno.errors.AddrNotAvailable
      ? "no such address on this machine"
      : error instanceof Deno.errors.PermissionDenied
      ? "permission denied (ports below 1024 need privileges)"
      : (error as Error).message;
    throw new Error(`Cannot listen on ${options.hostname}:${options.port}: ${why}`, {
      cause: error,
    });
  }
  const connections = new Map<Deno.Conn, Deadline>();
  const limit = options.connectionsMax ?? connectionsMax;
  const log = options.log ?? (() => {});
  let closing = false;
  // One timer for every connection's deadline, rather than a timer set and
  // cleared around every read (which cost about a tenth of a GET).
  const shortestMs = Math.min(options.idleMs ?? idleMs, options.frameReadMs ?? frameReadMs);
  const sweeper = setInterval(() => {
    const now = performance.now();
    for (const [conn, deadline] of connections) if (now >= deadline.at) closeQuietly(conn);
  }, Math.min(Math.max(shortestMs / 10, 10), deadlineSweepMsMax));
  const done = (async () => {
    for await (const conn of listener) {
      if (connections.size >= limit) {
        log(`refused a connection from ${addressOf(conn)}: at the limit of ${limit} connections`);
        void refuse(conn, limit);
        continue;
      }
      const deadline = { at: Infinity };
      connections.set(conn, deadline);
      void handleConnection(node, conn, deadline, options, log).finally(() =>
        connections.delete(conn)
      );
    }
  })().catch((error) => {
    if (!closing) log(`accept loop stopped: ${(error as Error).message}`);
  }).finally(() => clearInterval(sweeper));
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get connections() {
      return connections.size;
    },
    done,
    close() {
      closing = true;
      try {
        listener.close();
      } catch {
        // Already closed.
      }
      clearInterval(sweeper);
      for (const conn of connections.keys()) closeQuietly(conn);
    },
  };
}

async function refuse(conn: Deno.Conn, limit: number): Promise<void> {
  try {
    await writeAll(
      conn,
      encodeFrame(encodeReply(nack("busy", `Server is at its limit of ${limit} connections`))),
    );
  } catch {
    // The client went away first.
  }
  closeQuietly(conn);
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/** When a connection is closed unless it makes progress (`performance.now()` ms). */
interface Deadline {
  at: number;
}

async function handleConnection(
  node: RequestHandler,
  conn: Deno.Conn,
  deadline: Deadline,
  options: ServeOptions,
  log: (message: string) => void,
): Promise<void> {
  const decoder = new FrameDecoder();
  const buffer = new Uint8Array(readChunkBytes);
  const session: Session = { peer: null };
  const idleLimitMs = options.idleMs ?? idleMs;
  const frameLimitMs = options.frameReadMs ?? frameReadMs;
  /** When the frame now arriving started: a frame must arrive whole within `frameLimitMs`. */
  let partialSince: number | null = null;
  const arm = () => {
    deadline.at = partialSince === null
      ? performance.now() + idleLimitMs
      : partialSince + frameLimitMs;
  };
  const reads: Reads = { pending: null, spare: null };
  try {
    (conn as Deno.TcpConn).setNoDelay?.(true);
    for (;;) {
      arm();
      const pending = reads.pending;
      reads.pending = null;
      const bytes = pending?.bytes ?? buffer;
      const count = await (pending?.count ?? conn.read(buffer));
      // No deadline while requests are served: a long WAIT is not idleness.
      deadline.at = Infinity;
      if (count === null) return;
      decoder.push(bytes.subarray(0, count));
      const pendingBefore = decoder.pendingBytes;
      if (!await drain(node, conn, decoder, session, reads)) return;
      if (decoder.pendingBytes === 0) partialSince = null;
      else if (partialSince === null || decoder.pendingBytes < pendingBefore) {
        partialSince = performance.now();
      }
    }
  } catch (error) {
    if (!isHangUp(error)) {
      log(`connection from ${addressOf(conn)} failed: ${(error as Error).message}`);
    }
  } finally {
    closeQuietly(conn);
  }
}

/**
 * True for the ways a connection ends that are nobody's error: the client
 * hung up (reset, broken pipe, end of stream) or this server closed it
 * (idle, shutting down: a read in progress is then interrupted).
 */
function isHangUp(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.Interrupted ||
    error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.ConnectionAborted;
}

/** The other end of a connection, for log lines. */
function addressOf(conn: Deno.Conn): string {
  const address = conn.remoteAddr as Deno.NetAddr;
  return address.hostname === undefined ? "?" : `${address.hostname}:${address.port}`;
}

/**
 * A read of the connection started while a request was being served (to
 * notice the client hanging up), whose bytes the next turn of the read loop
 * takes.
 */
interface Reads {
  pending: { readonly bytes: Uint8Array; readonly count: Promise<number | null> } | null;
  /** The buffer such reads use, allocated on the first. */
  spare: Uint8Array | null;
}

/**
 * Bytes read while a request waits: usually nothing arrives then (the read
 * only notices a hang-up), and whatever does is read on by the loop
 * afterwards, so a small buffer keeps waiting connections cheap.
 */
const watchReadBytes = 4096;

/** Requests that may wait a long time for something to happen. */
function mayWait(request: Request): boolean {
  return (request.command === "GETJ" && (request.waitMs ?? 0) > 0) || request.command === "WAIT";
}

/**
 * Serves one request. While a request that waits is served, the connection
 * is read too: a client that hangs up aborts `session.hangUp`, so that a
 * GETJ stops waiting instead of leasing a job to nobody. Bytes that arrive
 * meanwhile (a pipelined request) are kept for the read loop.
 */
function handleWatching(
  node: RequestHandler,
  request: Request,
  conn: Deno.Conn,
  session: Session,
  reads: Reads,
): Promise<Reply> {
  if (!mayWait(request) || reads.pending) return node.handle(request, session);
  const hangUp = new AbortController();
  const bytes = reads.spare ??= new Uint8Array(watchReadBytes);
  const count = conn.read(bytes).then((count) => {
    if (count === null) hangUp.abort();
    return count;
  }, (error) => {
    hangUp.abort();
    throw error;
  });
  // Awaited by the read loop, unless the connection closes first.
  count.catch(() => {});
  reads.pending = { bytes, count };
  return node.handle(request, { ...session, hangUp: hangUp.signal });
}

/** Serves every complete frame received; false when the connection must close. */
async function drain(
  node: RequestHandler,
  conn: Deno.Conn,
  decoder: FrameDecoder,
  session: Session,
  reads: Reads,
): Promise<boolean> {
  for (;;) {
    let reply: Reply;
    try {
      const decoded = decoder.next();
      if (decoded === null) return true;
      if (decoded.kind === "bad-checksum") {
        reply = nack(
          "checksum",
          `Checksum mismatch (header says ${hex2(decoded.expected)}, payload sums to ${
            hex2(decoded.actual)
          })`,
        );
      } else {
        const request = parseRequest(decodePayload(decoded.payload));
        if (request.command === "STOP") return false;
        reply = await handleWatching(node, request, conn, session, reads);
      }
    } catch (error) {
      if (error instanceof FrameError) {
        await writeAll(conn, encodeFrame(encodeReply(nack("frame", error.message))));
        return false;
      }
      if (!(error instanceof ProtocolError)) throw error;
      reply = nack(error.reason, error.message);
    }
    await writeAll(conn, replyFrame(reply));
  }
}

function hex2(value: number): string {
  return value.toString(16).padStart(2, "0");
}

/** The frame of a reply; one too large for a frame becomes a NACK saying so (never a crash). */
function replyFrame(reply: Reply): Uint8Array {
  try {
    return encodeFrame(encodeReply(reply));
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    return encodeFrame(encodeReply(nack("too-large", "Reply does not fit in one frame")));
  }
}
