/**
 * The accept loop: frames in, replies out, limits on connections (in all
 * and per remote address), idle time, the handshake and slow frames.
 * Nothing a client sends can stop the server: every bad frame or request
 * gets a NACK (and, when the stream cannot be trusted any more, a closed
 * connection).
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
  connectionsPerAddressMax,
  deadlineSweepMsMax,
  frameReadMs,
  idleMs,
  readChunkBytes,
  refusedLogMs,
} from "../limits.ts";
import type { Request } from "../protocol/message.ts";
import { listenTls, type StreamConn } from "./tls_listener.ts";
import type { Role } from "../protocol/auth.ts";
import type { Session } from "./session.ts";

/** Whatever serves requests: a server node. */
export interface RequestHandler {
  handle(request: Request, session: Session): Promise<Reply>;
}

/** A certificate chain and its private key, PEM. */
export interface TlsCertificate {
  readonly cert: string;
  readonly key: string;
}

/** Options of {@linkcode serve}. */
export interface ServeOptions {
  readonly hostname: string;
  readonly port: number;
  readonly connectionsMax?: number;
  /** Connections one remote address may hold (those authenticated as `runner` or `server` aside). */
  readonly connectionsPerAddressMax?: number;
  readonly idleMs?: number;
  readonly frameReadMs?: number;
  /**
   * When set, a connection that has not authenticated (AUTH) this long
   * after it was accepted is closed: set it on servers with an auth file.
   */
  readonly handshakeMs?: number;
  readonly log?: (message: string) => void;
}

/** Options of {@linkcode serveTls}. */
export interface ServeTlsOptions extends ServeOptions {
  /** Speak TLS with this certificate to everyone. */
  readonly tls: TlsCertificate;
}

/** A listening server; `close()` stops accepting and drops every connection. */
export interface Listening {
  readonly port: number;
  /** Connections open now. */
  readonly connections: number;
  readonly done: Promise<void>;
  close(): void;
}

/** What the accept loop knows of the connections it serves. */
export interface Occupancy {
  /** Connections served now. */
  readonly total: number;
  /** Of those, the ones from the address asking that count against its limit. */
  readonly fromAddress: number;
}

/**
 * Whether a new connection from an address is served: the reply it gets
 * instead (NACK:busy, naming the limit) or null. Pure.
 */
export function admission(
  occupancy: Occupancy,
  limits: { readonly total: number; readonly perAddress: number; readonly address: string },
): Reply | null {
  if (occupancy.total >= limits.total) {
    return nack("busy", `Server is at its limit of ${limits.total} connections`);
  }
  if (occupancy.fromAddress >= limits.perAddress) {
    return nack(
      "busy",
      `Server is at its limit of ${limits.perAddress} connections from ${limits.address}`,
    );
  }
  return null;
}

/**
 * Listens for TCP connections and serves each with `node`.
 *
 * @throws {Error} naming the address and why when it cannot listen.
 */
export function serve(node: RequestHandler, options: ServeOptions): Listening {
  let listener: Deno.Listener;
  try {
    listener = Deno.listen({ hostname: options.hostname, port: options.port });
  } catch (error) {
    throw cannotListen(options, error);
  }
  return acceptLoop(node, {
    port: (listener.addr as Deno.NetAddr).port,
    close: () => listener.close(),
    [Symbol.asyncIterator]: () => listener[Symbol.asyncIterator](),
  }, options);
}

/**
 * Listens for TLS connections and serves each with `node`, once its TLS
 * handshake is done (within `frameReadMs`).
 *
 * @throws {Error} naming the address and why when it cannot listen.
 */
export async function serveTls(node: RequestHandler, options: ServeTlsOptions): Promise<Listening> {
  let listener: Awaited<ReturnType<typeof listenTls>>;
  try {
    listener = await listenTls({
      hostname: options.hostname,
      port: options.port,
      ...options.tls,
      handshakeMs: options.frameReadMs ?? frameReadMs,
      pendingPerAddressMax: options.connectionsPerAddressMax ?? connectionsPerAddressMax,
    });
  } catch (error) {
    throw cannotListen(options, error);
  }
  return acceptLoop(node, {
    port: listener.addr.port,
    close: () => listener.close(),
    [Symbol.asyncIterator]: () => listener[Symbol.asyncIterator](),
  }, options);
}

function cannotListen(options: ServeOptions, error: unknown): Error {
  const why = error instanceof Deno.errors.AddrInUse
    ? "the port is in use (another server on it?)"
    : error instanceof Deno.errors.AddrNotAvailable
    ? "no such address on this machine"
    : error instanceof Deno.errors.PermissionDenied
    ? "permission denied (ports below 1024 need privileges)"
    : (error as Error).message;
  return new Error(`Cannot listen on ${options.hostname}:${options.port}: ${why}`, {
    cause: error,
  });
}

/** Where connections come from: a listening socket, TCP or TLS. */
interface Source extends AsyncIterable<StreamConn> {
  readonly port: number;
  close(): void;
}

/** Serves every connection of `listener` until closed. */
function acceptLoop(node: RequestHandler, listener: Source, options: ServeOptions): Listening {
  const connections = new Map<StreamConn, Slot>();
  /** Connections per remote address, those that count against its limit. */
  const perAddress = new Map<string, number>();
  const uncount = (slot: Slot) => {
    if (!slot.counted) return;
    slot.counted = false;
    const left = (perAddress.get(slot.remote) ?? 1) - 1;
    if (left > 0) perAddress.set(slot.remote, left);
    else perAddress.delete(slot.remote);
  };
  const limit = options.connectionsMax ?? connectionsMax;
  const perAddressLimit = options.connectionsPerAddressMax ?? connectionsPerAddressMax;
  const log = options.log ?? (() => {});
  // Refusals are logged, but at most one line per refusedLogMs: a host
  // opening thousands of connections must not fill the log.
  let refusedSince = -Infinity;
  let refusedQuiet = 0;
  const refusedLog = (remote: string, refusal: Reply) => {
    const now = performance.now();
    if (now - refusedSince < refusedLogMs) {
      refusedQuiet++;
      return;
    }
    const more = refusedQuiet > 0 ? ` (and ${refusedQuiet} more refused since the last line)` : "";
    const why = refusal.ok ? "" : `: ${refusal.detail}`;
    log(`refused a connection from ${remote}${why}${more}`);
    refusedSince = now;
    refusedQuiet = 0;
  };
  let closing = false;
  // One timer for every connection's deadline, rather than a timer set and
  // cleared around every read (which cost about a tenth of a GET).
  const shortestMs = Math.min(
    options.idleMs ?? idleMs,
    options.frameReadMs ?? frameReadMs,
    options.handshakeMs ?? Infinity,
  );
  const sweeper = setInterval(() => {
    const now = performance.now();
    for (const [conn, slot] of connections) if (now >= slot.at) closeQuietly(conn);
  }, Math.min(Math.max(shortestMs / 10, 10), deadlineSweepMsMax));
  const done = (async () => {
    for await (const conn of listener) {
      const remote = remoteAddress(conn);
      const refusal = admission(
        { total: connections.size, fromAddress: perAddress.get(remote) ?? 0 },
        { total: limit, perAddress: perAddressLimit, address: remote },
      );
      if (refusal) {
        refusedLog(remote, refusal);
        void refuse(conn, refusal, options.frameReadMs ?? frameReadMs);
        continue;
      }
      const slot: Slot = { at: Infinity, remote, counted: true };
      perAddress.set(remote, (perAddress.get(remote) ?? 0) + 1);
      connections.set(conn, slot);
      void handleConnection(node, conn, slot, { ...options, log, uncount }).finally(() => {
        connections.delete(conn);
        uncount(slot);
      });
    }
  })().catch((error) => {
    if (!closing) log(`accept loop stopped: ${(error as Error).message}`);
  }).finally(() => clearInterval(sweeper));
  return {
    port: listener.port,
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

/** The IP address on the other side of `conn`. */
function remoteAddress(conn: StreamConn): string {
  const address = conn.remoteAddr;
  return address.transport === "tcp" ? address.hostname : "local";
}

/**
 * Writes `reply` and closes; within `timeoutMs` whatever happens (over TLS
 * the write waits for a handshake a hostile client may never finish).
 */
async function refuse(conn: StreamConn, reply: Reply, timeoutMs: number): Promise<void> {
  const timer = setTimeout(() => closeQuietly(conn), timeoutMs);
  try {
    await writeAll(conn, encodeFrame(encodeReply(reply)));
  } catch {
    // The client went away first, or the timer closed the connection.
  } finally {
    clearTimeout(timer);
  }
  closeQuietly(conn);
}

function closeQuietly(conn: StreamConn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/** One connection as the accept loop tracks it. */
interface Slot {
  /** When the connection is closed unless it makes progress (`performance.now()` ms). */
  at: number;
  /** Its remote address. */
  readonly remote: string;
  /** Whether it counts against its address's limit (until it authenticates as a server). */
  counted: boolean;
}

/**
 * Whether a connection of `role` counts against its address's limit: those
 * of the machines the operator runs (peers keep pools of connections to
 * each other; a runner holds one per lane and more) do not.
 */
export function countsPerAddress(role: Role): boolean {
  return role === "client";
}

/** Errors of a connection that say only that the other side went away or spoke no TLS. */
function quietError(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.InvalidData ||
    error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.BrokenPipe;
}

async function handleConnection(
  node: RequestHandler,
  conn: StreamConn,
  slot: Slot,
  options: ServeOptions & {
    log: (message: string) => void;
    uncount: (slot: Slot) => void;
  },
): Promise<void> {
  const decoder = new FrameDecoder();
  const buffer = new Uint8Array(readChunkBytes);
  const session: Session = { peer: null, remote: slot.remote };
  const idleLimitMs = options.idleMs ?? idleMs;
  const frameLimitMs = options.frameReadMs ?? frameReadMs;
  const acceptedAt = performance.now();
  /** When the last useful request was served: requests refused or unparsed keep nothing alive. */
  const activity = { usefulAt: acceptedAt };
  /** When the frame now arriving started: a frame must arrive whole within `frameLimitMs`. */
  let partialSince: number | null = null;
  const arm = () => {
    const handshakeDue = options.handshakeMs !== undefined && session.role === undefined
      ? acceptedAt + options.handshakeMs
      : Infinity;
    slot.at = partialSince === null
      ? Math.min(handshakeDue, activity.usefulAt + idleLimitMs)
      : Math.min(handshakeDue, partialSince + frameLimitMs);
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
      slot.at = Infinity;
      if (count === null) return;
      decoder.push(bytes.subarray(0, count));
      const pendingBefore = decoder.pendingBytes;
      const open = await drain(node, conn, decoder, { session, reads, activity });
      if (session.role !== undefined && !countsPerAddress(session.role)) options.uncount(slot);
      if (!open) return;
      if (decoder.pendingBytes === 0) partialSince = null;
      else if (partialSince === null || decoder.pendingBytes < pendingBefore) {
        partialSince = performance.now();
      }
    }
  } catch (error) {
    if (!quietError(error) && !isHangUp(error)) {
      options.log(`connection from ${remoteAddress(conn)} failed: ${(error as Error).message}`);
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
  conn: StreamConn,
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

/** NACK reasons of requests that did nothing: they do not count as activity for the idle limit. */
const uselessReasons: ReadonlySet<string> = new Set(["auth", "forbidden", "unknown-command"]);

/** Serves every complete frame received; false when the connection must close. */
async function drain(
  node: RequestHandler,
  conn: StreamConn,
  decoder: FrameDecoder,
  state: { session: Session; reads: Reads; activity: { usefulAt: number } },
): Promise<boolean> {
  const { session, reads, activity } = state;
  for (;;) {
    let reply: Reply;
    let useful = false;
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
        useful = reply.ok || !uselessReasons.has(reply.reason);
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
    if (useful) activity.usefulAt = performance.now();
    if (session.closing) return false;
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
