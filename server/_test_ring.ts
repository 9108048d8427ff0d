/**
 * Test helper: a ring of real {@linkcode Node}s in one process, on stores
 * in memory, reaching each other through a transport that hands each
 * request to the peer's `handle` (as text of the wire protocol, both ways)
 * instead of a socket. Servers can be killed (requests to them are refused)
 * and the ring waits until every server sees every other. For the tests of
 * the server's rooms; the seeded simulation (tests/sim.ts) is the thorough
 * version of this.
 *
 * @module
 */

import { ConnectionError } from "../protocol/connection.ts";
import {
  encodeReply,
  encodeRequest,
  nack,
  parseReply,
  parseRequest,
  ProtocolError,
  type Reply,
  type Request,
} from "../protocol/message.ts";
import { framePayloadBytesMax } from "../limits.ts";
import { Node, type NodeOptions } from "./node.ts";
import type { PeerTransport } from "./peers.ts";
import type { Session } from "./session.ts";
import { Store } from "./store.ts";

/** A server of a {@linkcode TestRing}. */
export interface TestServer {
  readonly id: string;
  readonly node: Node;
  readonly store: Store;
  alive: boolean;
}

/** Options of {@linkcode TestRing.start}. */
export interface TestRingOptions {
  readonly replicas?: number;
  readonly vnodes?: number;
  readonly leaseMs?: number;
  /** Passed to every node (a request observer, a log). */
  readonly node?: Partial<NodeOptions>;
}

/** A ring of in-process servers; `await using` stops it. */
export class TestRing {
  readonly servers: TestServer[] = [];
  readonly #options: TestRingOptions;
  /** Peer requests sent, by command, for tests that count them. */
  readonly sent: Request[] = [];
  /**
   * Peers that are not servers of the ring but answer as one (a peer with a
   * bug, or a liar): requests to these ids go to their handler.
   */
  readonly fakes = new Map<string, (request: Request) => Reply>();

  private constructor(options: TestRingOptions) {
    this.#options = options;
  }

  /** Starts `count` servers, each joining through the first. */
  static async start(count: number, options: TestRingOptions = {}): Promise<TestRing> {
    const ring = new TestRing(options);
    for (let i = 0; i < count; i++) await ring.add();
    return ring;
  }

  /** Starts one more server, joining through the first. */
  async add(): Promise<TestServer> {
    const index = this.servers.length;
    const host = `s${index}`;
    const port = 7000 + index;
    const store = new Store(":memory:");
    const first = this.servers[0];
    const node = new Node({
      host,
      port,
      store,
      replicas: this.#options.replicas ?? 2,
      vnodes: this.#options.vnodes ?? 8,
      leaseMs: this.#options.leaseMs ?? 60_000,
      heartbeatMs: 60_000,
      transport: this.#transport(`${host}:${port}`),
      ...(first ? { join: { host: first.id.split(":")[0]!, port: 7000 } } : {}),
      ...this.#options.node,
    });
    const server: TestServer = { id: `${host}:${port}`, node, store, alive: true };
    this.servers.push(server);
    await node.start();
    return server;
  }

  /** The server with id `id`. */
  server(id: string): TestServer {
    const server = this.servers.find((s) => s.id === id);
    if (!server) throw new Error(`No server ${id}`);
    return server;
  }

  /**
   * A client's request to `server`: on a new connection, or on `session`
   * (one connection's state, kept across requests: `{ peer: null }`).
   */
  call(server: TestServer, request: Request, session?: Session): Promise<Reply> {
    return this.#deliver(server, request, null, session);
  }

  /** Kills a server: requests to it are refused, its loops stop. */
  kill(server: TestServer): void {
    server.alive = false;
    server.node.stop();
  }

  #transport(from: string): PeerTransport {
    let closed = false;
    return {
      request: (id, request) => {
        if (closed) return Promise.reject(new ConnectionError("closed", "Peer pool is closed"));
        this.sent.push(request);
        const fake = this.fakes.get(id);
        if (fake) {
          return Promise.resolve(
            parseReply(encodeReply(fake(parseRequest(encodeRequest(request))))),
          );
        }
        const target = this.servers.find((s) => s.id === id);
        if (!target || !target.alive) {
          return Promise.reject(new ConnectionError("connect", `Cannot connect to ${id}: refused`));
        }
        return this.#deliver(target, request, from);
      },
      forget: () => {},
      close: () => {
        closed = true;
      },
    };
  }

  async #deliver(
    target: TestServer,
    request: Request,
    peer: string | null,
    session: Session = { peer },
  ): Promise<Reply> {
    let parsed: Request;
    try {
      const text = encodeRequest(request);
      // As a connection does: a request that does not fit in a frame is not sent.
      if (encoder.encode(text).length > framePayloadBytesMax) {
        throw new ConnectionError(
          "protocol",
          `Request of ${text.length} bytes does not fit a frame`,
        );
      }
      parsed = parseRequest(text);
    } catch (error) {
      if (error instanceof ProtocolError) return nack(error.reason, error.message);
      throw error;
    }
    const reply = await target.node.handle(parsed, session);
    if (!target.alive) throw new ConnectionError("closed", `Connection to ${target.id} closed`);
    const text = encodeReply(reply);
    // As listen.ts does: a reply that does not fit in a frame becomes NACK:too-large.
    if (encoder.encode(text).length > framePayloadBytesMax) {
      return nack("too-large", "Reply does not fit in one frame");
    }
    return parseReply(text);
  }

  /** Stops every server and closes the stores. */
  async [Symbol.asyncDispose](): Promise<void> {
    for (const server of this.servers) {
      if (server.alive) server.node.stop();
      server.alive = false;
    }
    // Let work in flight see the stop before the stores close.
    await new Promise((resolve) => setTimeout(resolve, 10));
    for (const server of this.servers) server.store.close();
  }
}

/** The fields of an ACK; fails the test on a NACK. */
export function fieldsOf(reply: Reply): readonly string[] {
  if (!reply.ok) throw new Error(`Expected ACK, got NACK:${reply.reason}:${reply.detail}`);
  return reply.fields;
}

const encoder = new TextEncoder();

/** Stores a small file through `server`; its hash. */
export async function addFile(
  ring: TestRing,
  server: TestServer,
  name: string,
  text: string,
): Promise<number> {
  const [hash] = fieldsOf(
    await ring.call(server, { command: "ADD", name, data: encoder.encode(text) }),
  );
  return Number.parseInt(hash!, 16);
}

/** Submits a job through `server`; its hash and its output's. */
export async function addJob(
  ring: TestRing,
  server: TestServer,
  name: string,
  options: { source?: string; inputs?: readonly number[]; outputName?: string } = {},
): Promise<{ job: number; output: number }> {
  const [job, output] = fieldsOf(
    await ring.call(server, {
      command: "JADD",
      name,
      source: encoder.encode(options.source ?? `print("${name}")`),
      outputName: options.outputName ?? `${name}.out`,
      inputs: options.inputs ?? [],
    }),
  );
  return { job: Number.parseInt(job!, 16), output: Number.parseInt(output!, 16) };
}

/** The servers whose stores hold `hash`, by id. */
export function holders(ring: TestRing, hash: number): string[] {
  return ring.servers.filter((s) => s.alive && s.store.get(hash)).map((s) => s.id).sort();
}

/** Resolves once `check` is true (polling), or fails after `ms`. */
export async function eventually(check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error("Condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A job taken with GETJ: its hash, its lease token, and the reply's fields. */
export interface TakenJob {
  readonly hash: number;
  readonly lease: string;
  readonly fields: readonly string[];
}

/** Takes a job through `server` (GETJ); fails the test when none is handed out. */
export async function takeJob(ring: TestRing, server: TestServer): Promise<TakenJob> {
  const fields = fieldsOf(await ring.call(server, { command: "GETJ" }));
  const last = fields[fields.length - 1] ?? "";
  if (fields.length % 2 === 0 || !last.startsWith("lease=")) {
    throw new Error(`GETJ handed out no lease token: ${fields.join(":").slice(0, 80)}`);
  }
  return { hash: Number.parseInt(fields[1]!, 16), lease: last.slice(6), fields };
}
