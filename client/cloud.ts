/**
 * The client library: `ComputeCloud` talks to any server of a ring (and
 * fails over to the others), `FileObject` is a file or job stored there.
 * The command line, the runner and the tests all use it.
 *
 * ```ts
 * const cloud = await ComputeCloud.connect("localhost", 11111);
 * const f = await cloud.addString("name1", "contents");
 * const [job, out] = await cloud.addJob("job", 'print(open("/net/name1").read())', "out", [f]);
 * console.log(await out.text());
 * cloud.close();
 * ```
 *
 * @module
 */

import { Connection, ConnectionError } from "../protocol/connection.ts";
import { formatHash, parseHash } from "../protocol/hash.ts";
import {
  parseServers,
  type Reply,
  type Request,
  type ServerRecord,
  validateName,
} from "../protocol/message.ts";
import { waitMsMax } from "../limits.ts";

/** A server refused a request; `reason` is the NACK's reason token. */
export class CloudError extends Error {
  /** `reason` is e.g. `not-found`, `failed`, `incomplete`, `unavailable`. */
  constructor(readonly reason: string, message: string) {
    super(message);
    this.name = "CloudError";
  }
}

/** Options of {@linkcode ComputeCloud}. */
export interface CloudOptions {
  /** Connections kept open to the current server (concurrent requests). */
  readonly connections?: number;
  /** Limit on each request's reply. */
  readonly requestTimeoutMs?: number;
}

/** What a server says of a stored object. */
export interface ObjectStatus {
  readonly hash: string;
  readonly kind: "file" | "job";
  readonly state: string;
  readonly [key: string]: unknown;
}

/** A job as GETJ hands it out. */
export interface LeasedJob {
  readonly hash: string;
  readonly source: string;
  /** The namespace in order: `/net/<name>` reads the last input with that name. */
  readonly inputs: readonly { readonly hash: string; readonly name: string }[];
}

/** Options for adding objects. */
export interface AddOptions {
  /** Store a distinct object even if an identical one exists (random salt). */
  readonly fresh?: boolean;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** A connection to a ring of servers. */
export class ComputeCloud {
  readonly #servers: { host: string; port: number }[];
  #current = 0;
  readonly #idle: Connection[] = [];
  readonly #options: CloudOptions;
  #closed = false;

  /** Creates a client for the server at `host:port`; connects on first use. */
  constructor(host: string, port: number, options: CloudOptions = {}) {
    this.#servers = [{ host, port }];
    this.#options = options;
  }

  /**
   * Connects and learns the ring's other servers, to fail over to them.
   *
   * @throws {ConnectionError} when the server cannot be reached.
   */
  static async connect(
    host: string,
    port: number,
    options: CloudOptions = {},
  ): Promise<ComputeCloud> {
    const cloud = new ComputeCloud(host, port, options);
    await cloud.refreshServers();
    return cloud;
  }

  /** The server requests go to now, as `host:port`. */
  get server(): string {
    const server = this.#servers[this.#current]!;
    return `${server.host}:${server.port}`;
  }

  /** Asks for the ring's server table (GETS) and remembers every server for fail-over. */
  async refreshServers(): Promise<ServerRecord[]> {
    const records = parseServers(await this.call({ command: "GETS" }));
    for (const record of records) {
      if (!this.#servers.some((s) => s.host === record.host && s.port === record.port)) {
        this.#servers.push({ host: record.host, port: record.port });
      }
    }
    return records;
  }

  /**
   * Sends a request, failing over to the next known server when the current
   * one cannot be reached. Returns the reply, ACK or NACK.
   *
   * @throws {ConnectionError} when no known server answers.
   */
  async request(request: Request, timeoutMs?: number): Promise<Reply> {
    let lastError: unknown;
    for (let attempt = 0; attempt < this.#servers.length + 1; attempt++) {
      let connection: Connection;
      try {
        connection = await this.#take();
      } catch (error) {
        lastError = error;
        this.#failOver();
        continue;
      }
      try {
        const reply = await connection.request(
          request,
          timeoutMs ?? this.#options.requestTimeoutMs,
        );
        this.#give(connection);
        if (!reply.ok && reply.reason === "busy") throw new CloudError("busy", reply.detail);
        return reply;
      } catch (error) {
        connection.close();
        if (!(error instanceof ConnectionError) || error.code === "protocol") throw error;
        lastError = error;
        if (error.code === "timeout") throw error;
        this.#failOver();
      }
    }
    throw lastError;
  }

  /**
   * Sends a request and returns the ACK's fields.
   *
   * @throws {CloudError} on a NACK.
   */
  async call(request: Request, timeoutMs?: number): Promise<string[]> {
    const reply = await this.request(request, timeoutMs);
    if (!reply.ok) throw new CloudError(reply.reason, reply.detail || reply.reason);
    return [...reply.fields];
  }

  async #take(): Promise<Connection> {
    if (this.#closed) throw new ConnectionError("closed", "Client is closed");
    while (this.#idle.length > 0) {
      const connection = this.#idle.pop()!;
      if (!connection.closed) return connection;
    }
    const server = this.#servers[this.#current]!;
    return await Connection.open(server.host, server.port, {
      ...(this.#options.requestTimeoutMs
        ? { requestTimeoutMs: this.#options.requestTimeoutMs }
        : {}),
    });
  }

  #give(connection: Connection): void {
    if (this.#closed || this.#idle.length >= (this.#options.connections ?? 8)) connection.close();
    else this.#idle.push(connection);
  }

  #failOver(): void {
    for (const connection of this.#idle.splice(0)) connection.close();
    this.#current = (this.#current + 1) % this.#servers.length;
  }

  /** Uploads a string (UTF-8). */
  addString(name: string, text: string, options: AddOptions = {}): Promise<FileObject> {
    return this.addBytes(name, encoder.encode(text), options);
  }

  /** Uploads bytes that fit in one frame. */
  async addBytes(name: string, data: Uint8Array, options: AddOptions = {}): Promise<FileObject> {
    validateName(name);
    const [hash] = await this.call({
      command: "ADD",
      name,
      data,
      ...(options.fresh ? { salt: randomSalt() } : {}),
    });
    return new FileObject(this, parseHash(hash!), name);
  }

  /** Uploads a local file. */
  async addFile(name: string, path: string, options: AddOptions = {}): Promise<FileObject> {
    return await this.addBytes(name, await Deno.readFile(path), options);
  }

  /**
   * Submits a job: Python `code`, run with `inputs` readable at
   * `/net/<name>`; its stdout becomes the file `outputName`. Returns the
   * job and its output file. Submitting the identical job again returns
   * the same job unless `fresh` is set.
   */
  async addJob(
    name: string,
    code: string,
    outputName: string,
    inputs: readonly (FileObject | string)[] = [],
    options: AddOptions = {},
  ): Promise<[FileObject, FileObject]> {
    const [jobHash, outputHash] = await this.call({
      command: "JADD",
      name,
      source: encoder.encode(code),
      outputName,
      inputs: inputs.map((input) => typeof input === "string" ? parseHash(input) : input.hashValue),
      ...(options.fresh ? { salt: randomSalt() } : {}),
    });
    return [
      new FileObject(this, parseHash(jobHash!), name),
      new FileObject(this, parseHash(outputHash!), outputName),
    ];
  }

  /** A handle on an object already stored, by hash. */
  file(hash: string | number, name?: string): FileObject {
    return new FileObject(this, typeof hash === "number" ? hash : parseHash(hash), name);
  }

  /** Takes a job to run (GETJ): the job, or "wait" (others are not ready yet) or "none" (no jobs left). */
  async takeJob(): Promise<LeasedJob | "wait" | "none"> {
    const reply = await this.request({ command: "GETJ" });
    if (!reply.ok) {
      if (reply.reason === "wait" || reply.reason === "none") return reply.reason;
      throw new CloudError(reply.reason, reply.detail);
    }
    const [source, hash, ...namespace] = reply.fields;
    const inputs = [];
    for (let i = 0; i + 1 < namespace.length; i += 2) {
      inputs.push({ hash: namespace[i]!, name: namespace[i + 1]! });
    }
    return { hash: hash!, source: decoder.decode(Uint8Array.fromBase64(source!)), inputs };
  }

  /** Per-server inspection (INFO) of the server requests go to now. */
  async info(): Promise<Record<string, unknown>> {
    const [encoded] = await this.call({ command: "INFO" });
    return JSON.parse(decoder.decode(Uint8Array.fromBase64(encoded!)));
  }

  /** Closes every connection. */
  close(): void {
    this.#closed = true;
    for (const connection of this.#idle.splice(0)) void connection.stop();
  }
}

/** How long {@linkcode FileObject.get} waits by default: ten minutes. */
const getTimeoutMsDefault = 600_000;

/** A file or job stored in the cloud. */
export class FileObject {
  readonly #cloud: ComputeCloud;
  readonly hashValue: number;
  readonly name: string | undefined;

  /** Wraps a stored object's hash. */
  constructor(cloud: ComputeCloud, hash: number, name?: string) {
    this.#cloud = cloud;
    this.hashValue = hash;
    this.name = name;
  }

  /** The hash as 8 hex digits. */
  get hash(): string {
    return formatHash(this.hashValue);
  }

  /**
   * Waits until the object is finished (complete, done or failed) or the
   * timeout passes; returns its state then.
   */
  async wait(timeoutMs = getTimeoutMsDefault): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const remaining = Math.max(0, deadline - Date.now());
      const slice = Math.min(remaining, waitMsMax, 30_000);
      const [state] = await this.#cloud.call({
        command: "WAIT",
        hash: this.hashValue,
        timeoutMs: slice,
      }, slice + 15_000);
      if (
        state !== "incomplete" && state !== "waiting" && state !== "ready" && state !== "leased" &&
        state !== "released"
      ) return state!;
      if (remaining === 0) return state;
    }
  }

  /**
   * Returns the content, waiting for the file to complete. For a job, its
   * stderr once finished.
   *
   * @throws {CloudError} `failed` when the job producing it failed,
   * `timeout` when it is not complete in time, `not-found` when it does not exist.
   */
  async get(options: { timeoutMs?: number } = {}): Promise<Uint8Array> {
    const timeoutMs = options.timeoutMs ?? getTimeoutMsDefault;
    const state = await this.wait(timeoutMs);
    if (!["complete", "done", "failed"].includes(state)) {
      throw new CloudError("timeout", `${this.hash} is still ${state} after ${timeoutMs} ms`);
    }
    const [data] = await this.#cloud.call({ command: "GET", hash: this.hashValue });
    return Uint8Array.fromBase64(data ?? "");
  }

  /** Like {@linkcode get}, decoded as UTF-8. */
  async text(options: { timeoutMs?: number } = {}): Promise<string> {
    return decoder.decode(await this.get(options));
  }

  /** What the server says of this object now (STAT). */
  async status(): Promise<ObjectStatus> {
    const [kind, state, summary] = await this.#cloud.call({
      command: "STAT",
      hash: this.hashValue,
    });
    const details = JSON.parse(decoder.decode(Uint8Array.fromBase64(summary ?? ""))) as Record<
      string,
      unknown
    >;
    return { hash: this.hash, kind: kind as "file" | "job", state: state!, ...details };
  }
}

function randomSalt(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}
