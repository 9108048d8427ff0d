/**
 * Starts one server: opens its store, listens, joins the ring and serves
 * until closed.
 *
 * @module
 */

import type { AuthSecrets, Credential } from "../protocol/auth.ts";
import type { TlsOptions } from "../protocol/connection.ts";
import { authHandshakeMs } from "../limits.ts";
import { lockDirectory } from "../lockfile.ts";
import { Store } from "./store.ts";
import { Node } from "./node.ts";
import { type Listening, serve, serveTls, type TlsCertificate } from "./listen.ts";
import { PeerPool } from "./peers.ts";
import type { Request } from "../protocol/message.ts";
import type { Session } from "./session.ts";
import { type HttpServing, startHttp } from "./http.ts";
import type { Authorize } from "./http_routes.ts";
import { bearerAuthorize } from "./http_auth.ts";
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
  /** Connections one remote address may hold (runners and peers aside). */
  readonly connectionsPerAddressMax?: number;
  readonly idleMs?: number;
  readonly frameReadMs?: number;
  /** With `auth`: how long a connection may stay unauthenticated (default `authHandshakeMs`). */
  readonly handshakeMs?: number;
  readonly join?: { readonly host: string; readonly port: number };
  readonly log?: (message: string) => void;
  /** Secrets connections must prove (the auth file); none: an open server. */
  readonly auth?: AuthSecrets;
  /** This server's credential toward its peers (role `server`). */
  readonly credential?: Credential;
  /** Speak TLS to everyone with this certificate. */
  readonly tls?: TlsCertificate;
  /** How to reach peers over TLS (given with `tls`: a TLS ring speaks TLS to its peers too). */
  readonly peerTls?: TlsOptions;
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
    const handler = {
      handle: (request: Request, session: Session) => ref.node!.handle(request, session),
    };
    const serving = {
      hostname: options.listen,
      port: options.port,
      connectionsMax: options.connectionsMax,
      ...(options.connectionsPerAddressMax
        ? { connectionsPerAddressMax: options.connectionsPerAddressMax }
        : {}),
      ...(options.auth ? { handshakeMs: options.handshakeMs ?? authHandshakeMs } : {}),
      ...(options.idleMs ? { idleMs: options.idleMs } : {}),
      ...(options.frameReadMs ? { frameReadMs: options.frameReadMs } : {}),
      ...(options.log ? { log: options.log } : {}),
    };
    listening = options.tls
      ? await serveTls(handler, { ...serving, tls: options.tls })
      : serve(handler, serving);
    const prefix = `[${options.advertise}:${listening.port}]`;
    const log = options.log;
    node = new Node({
      host: options.advertise,
      port: listening.port,
      store,
      replicas: options.replicas,
      vnodes: options.vnodes,
      leaseMs: options.leaseMs,
      transport: new PeerPool({ host: options.advertise, port: listening.port }, {
        ...(options.credential ? { credential: options.credential } : {}),
        ...(options.peerTls ? { tls: options.peerTls } : {}),
      }),
      ...(options.auth ? { auth: options.auth } : {}),
      ...(options.join ? { join: options.join } : {}),
      ...(log ? { log: (message: string) => log(`${prefix} ${message}`) } : {}),
      ...(metrics ? { observe: metrics.observe } : {}),
    });
    ref.node = node;
    let started = false;
    if (options.http && metrics) {
      // Bound before the server joins, so that a taken port stops it before it joins.
      const served = listening;
      // With an auth file, the HTTP side asks for a credential too (a bearer token).
      const authorize = options.http.authorize ??
        (options.auth ? bearerAuthorize(options.auth) : undefined);
      http = startHttp({
        ...options.http,
        ...(authorize ? { authorize } : {}),
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
