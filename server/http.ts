/**
 * The HTTP side of a server (`cloud server --http <port>`): serves
 * http_routes.ts with `Deno.serve`. Secure by default: without an
 * `authorize` function (authentication off) it listens only on loopback
 * addresses, and refuses to start on any other.
 *
 * @module
 */

import { type Authorize, httpHandler } from "./http_routes.ts";
import type { RequestMetrics } from "./metrics_server.ts";
import type { Node } from "./node.ts";

/** Options of {@linkcode startHttp}. */
export interface HttpOptions {
  /** Address to listen on (default 127.0.0.1). */
  readonly hostname: string;
  /** Port; 0 picks a free one. */
  readonly port: number;
  readonly node: Node;
  readonly metrics: RequestMetrics;
  /** Connections the protocol listener holds open now. */
  readonly connections: () => number;
  /**
   * Checks a request's credential (a bearer token) when authentication is
   * on; absent, the HTTP side serves loopback addresses only.
   */
  readonly authorize?: Authorize;
  /** False while the server starts: every route answers 503 until then. */
  readonly ready?: () => boolean;
  readonly log?: (message: string) => void;
}

/** The HTTP side, serving. */
export interface HttpServing {
  /** `host:port` it listens on (the port chosen when 0 was asked). */
  readonly address: string;
  readonly port: number;
  /** Stops serving (connections in flight are cut). */
  close(): Promise<void>;
}

/** True for an address only this machine can reach. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host === "::1" || /^127\.[0-9]+\.[0-9]+\.[0-9]+$/.test(host);
}

/**
 * Starts the HTTP side.
 *
 * @throws {Error} when the address is not loopback and no `authorize` is given, or the port is taken.
 */
export function startHttp(options: HttpOptions): HttpServing {
  if (!options.authorize && !isLoopback(options.hostname)) {
    throw new Error(
      `Cannot serve HTTP on ${options.hostname}: without authentication the dashboard, /metrics and /api listen on loopback only (127.0.0.1, ::1, localhost); use --http-listen 127.0.0.1 and reach it through an SSH tunnel or a proxy, or turn authentication on`,
    );
  }
  const handler = httpHandler({
    node: options.node,
    metrics: options.metrics,
    connections: options.connections,
    ...(options.authorize ? { authorize: options.authorize } : {}),
    ...(options.ready ? { ready: options.ready } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: options.hostname,
      port: options.port,
      onListen: () => {},
      onError: (error) => {
        options.log?.(`http: ${(error as Error).message}`);
        return new Response("Internal error", { status: 500 });
      },
    }, handler);
  } catch (error) {
    const why = error instanceof Deno.errors.AddrInUse
      ? "the port is in use"
      : (error as Error).message;
    throw new Error(`Cannot serve HTTP on ${options.hostname}:${options.port}: ${why}`, {
      cause: error,
    });
  }
  const port = server.addr.port;
  const host = options.hostname.includes(":") ? `[${options.hostname}]` : options.hostname;
  return {
    address: `${host}:${port}`,
    port,
    async close() {
      await server.shutdown().catch(() => {});
    },
  };
}
