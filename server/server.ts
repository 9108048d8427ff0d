/**
 * Starts one server: opens its store, listens, joins the ring and serves
 * until closed.
 *
 * @module
 */

import { lockDirectory } from "../lockfile.ts";
import { Store } from "./store.ts";
import { Node } from "./node.ts";
import { type Listening, serve } from "./listen.ts";
import { type HttpServing, startHttp } from "./http.ts";
import type { Authorize } from "./http_routes.ts";
import { RequestMetrics } from "./metrics_server.ts";

/** Options of {@linkcode startServer}. */
export interface ServerOptions {
  /** Port to listen on; 0 picks a free one. */
  readonly port: number;
  /** Address to listen on. */
  readonly listen: string;
  /** Address other servers, runners and clients reach this one at. */
  readonly advertise: string;
  /** Directory of the SQLite store; ":memory:" keeps nothing. */
  readonly dataDir: string;
  readonly replicas: number;
  readonly vnodes: number;
  readonly leaseMs: number;
  readonly connectionsMax: number;
  readonly idleMs?: number;
  readonly frameReadMs?: number;
  readonly join?: { readonly host: string; readonly port: number };
  readonly log?: (message: string) => void;
  /** Serve the dashboard, /metrics and /api over HTTP (`port` 0: a free one). */
  readonly http?: {
    readonly hostname: string;
    readonly port: number;
    readonly authorize?: Authorize;
  };
}

/** A running server. */
export interface RunningServer {
  readonly node: Node;
  readonly port: number;
  /** Where the HTTP side listens (`host:port`), when it is on. */
  readonly http: string | null;
  /** Stops serving and closes the store. */
  close(): Promise<void>;
}

/**
 * Starts a server.
 *
 * @throws {Error} when the port is taken, the data directory is unusable or the ring to join does not answer.
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { store, lock } = options.dataDir === ":memory:"
    ? { store: new Store(":memory:"), lock: null }
    : openStore(options.dataDir);
  let listening: Listening | undefined;
  let node: Node | undefined;
  let http: HttpServing | undefined;
  const metrics = options.http ? new RequestMetrics() : undefined;
  try {
    const ref: { node?: Node } = {};
    listening = serve(
      { handle: (request, session) => ref.node!.handle(request, session) },
      {
        hostname: options.listen,
        port: options.port,
        connectionsMax: options.connectionsMax,
        ...(options.idleMs ? { idleMs: options.idleMs } : {}),
        ...(options.frameReadMs ? { frameReadMs: options.frameReadMs } : {}),
        ...(options.log ? { log: options.log } : {}),
      },
    );
    const prefix = `[${options.advertise}:${listening.port}]`;
    const log = options.log;
    node = new Node({
      host: options.advertise,
      port: listening.port,
      store,
      replicas: options.replicas,
      vnodes: options.vnodes,
      leaseMs: options.leaseMs,
      ...(options.join ? { join: options.join } : {}),
      ...(log ? { log: (message: string) => log(`${prefix} ${message}`) } : {}),
      ...(metrics ? { observe: metrics.observe } : {}),
    });
    ref.node = node;
    let started = false;
    if (options.http && metrics) {
      // Bound before the server joins, so that a taken port stops it before it joins.
      const served = listening;
      http = startHttp({
        ...options.http,
        node,
        metrics,
        connections: () => served.connections,
        ready: () => started,
        ...(log ? { log } : {}),
      });
      const wildcard = ["0.0.0.0", "::", "[::]"].includes(options.http.hostname);
      node.inspection.http = wildcard ? `${options.advertise}:${http.port}` : http.address;
    }
    await node.start();
    started = true;
  } catch (error) {
    await http?.close();
    node?.stop();
    listening?.close();
    store.close();
    lock?.close();
    throw error;
  }
  const started = node;
  const listener = listening;
  const httpServing = http;
  return {
    node: started,
    port: listener.port,
    http: httpServing ? node.inspection.http : null,
    async close() {
      await httpServing?.close();
      listener.close();
      started.stop();
      await listener.done;
      store.close();
      lock?.close();
    },
  };
}

/**
 * Opens the store of a data directory, holding its lock for as long as the
 * server runs: two servers sharing one store would each take the other's
 * objects for their own.
 *
 * @throws {Error} when another process holds the lock.
 */
function openStore(dataDir: string): { store: Store; lock: Deno.FsFile } {
  Deno.mkdirSync(dataDir, { recursive: true });
  const lock = lockDirectory(dataDir);
  if (!lock) {
    throw new Error(
      `Cannot use data directory ${dataDir}: another cloud server is using it (give each server its own --data)`,
    );
  }
  try {
    return { store: new Store(`${dataDir}/store.sqlite`), lock };
  } catch (error) {
    lock.close();
    throw error;
  }
}
