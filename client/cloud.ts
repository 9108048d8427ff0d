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
import { formatHash, objectHash, parseHash } from "../protocol/hash.ts";
import { fileIdentity, saltOf } from "../protocol/digest.ts";
import { decodeManifest, type Manifest, ManifestError } from "../protocol/manifest.ts";
import {
  parseServers,
  type Reply,
  type Request,
  type ServerRecord,
  validateName,
} from "../protocol/message.ts";
import { Ring, type RingMember } from "../protocol/ring.ts";
import { isFinishedState, isRunningState } from "../protocol/states.ts";
import { chunksInFlight, inlineBytesMax, waitMsMax } from "../limits.ts";
import { exactChunks, type UploadSource } from "./chunks.ts";
import { CloudError } from "./errors.ts";
import {
  type FetchedCopy,
  type ObjectIo,
  readChunks,
  storeChunks,
  type StoredChunks,
} from "./transfer.ts";

export { CloudError } from "./errors.ts";
export type { UploadSource } from "./chunks.ts";
export type { StoredChunks } from "./transfer.ts";

/** Options of {@linkcode ComputeCloud}. */
export interface CloudOptions {
  /** Idle connections kept open per server (concurrent requests open more). */
  readonly connections?: number;
  /** Limit on each request's reply. */
  readonly requestTimeoutMs?: number;
  /** Chunk requests in flight per transfer of a large file (default `chunksInFlight`). */
  readonly parallel?: number;
  /**
   * Send each chunk straight to the server that owns it, as the ring table
   * (GETS) says, instead of through the current server (default true).
   */
  readonly direct?: boolean;
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
  /** Called as a large upload progresses, with the bytes stored so far. */
  readonly onProgress?: (bytes: number) => void;
}

/** Options for reading a file. */
export interface ReadOptions {
  /** How long to wait for the file to complete (default ten minutes). */
  readonly timeoutMs?: number;
  /** Called as a download progresses: bytes read so far and the file's size. */
  readonly onProgress?: (bytes: number, size: number) => void;
}

/** A file opened for reading: its size, and its content as a stream of chunks. */
export interface OpenedFile {
  readonly size: number;
  /** The manifest of a chunked file; undefined for a file in one object. */
  readonly manifest?: Manifest;
  /** The content, in order; for a chunked file checked chunk by chunk and as a whole. */
  readonly chunks: AsyncGenerator<Uint8Array>;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** A connection to a ring of servers. */
export class ComputeCloud {
  readonly #servers: { host: string; port: number }[];
  #current = 0;
  /** Idle connections by server address (`host:port`). */
  readonly #idle = new Map<string, Connection[]>();
  readonly #options: CloudOptions;
  /** The ring as the last GETS described it: where each chunk lives. */
  #ring: Ring | undefined;
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

  /**
   * Asks for the ring's server table (GETS) and remembers every server for
   * fail-over, and the ring's positions to send chunks to their owners.
   */
  async refreshServers(): Promise<ServerRecord[]> {
    const records = parseServers(await this.call({ command: "GETS" }));
    const members = new Map<string, RingMember & { salts: number[] }>();
    for (const record of records) {
      if (!this.#servers.some((s) => s.host === record.host && s.port === record.port)) {
        this.#servers.push({ host: record.host, port: record.port });
      }
      const id = `${record.host}:${record.port}`;
      const member = members.get(id) ?? { id, salts: [] };
      member.salts.push(record.salt);
      members.set(id, member);
    }
    this.#ring = members.size > 0 ? new Ring([...members.values()]) : undefined;
    return records;
  }

  /**
   * Sends a request, failing over to the next known server when the current
   * one cannot be reached. Returns the reply, ACK or NACK.
   *
   * @throws {ConnectionError} when no known server answers.
   */
  async request(request: Request, timeoutMs?: number, signal?: AbortSignal): Promise<Reply> {
    let lastError: unknown;
    for (let attempt = 0; attempt < this.#servers.length + 1; attempt++) {
      const server = this.#servers[this.#current]!;
      try {
        return await this.#requestAt(`${server.host}:${server.port}`, request, timeoutMs, signal);
      } catch (error) {
        if (signal?.aborted) throw new ConnectionError("closed", "Request abandoned");
        if (!(error instanceof ConnectionError) || error.code === "protocol") throw error;
        lastError = error;
        if (error.code === "timeout") throw error;
        this.#failOver();
      }
    }
    throw lastError;
  }

  /**
   * Sends a request to the server at `address` only. Aborting `signal`
   * closes the connection, which tells the server the request is abandoned.
   */
  async #requestAt(
    address: string,
    request: Request,
    timeoutMs?: number,
    signal?: AbortSignal,
  ): Promise<Reply> {
    const connection = await this.#take(address);
    const abandon = () => connection.close();
    signal?.addEventListener("abort", abandon, { once: true });
    try {
      if (signal?.aborted) throw new ConnectionError("closed", "Request abandoned");
      const reply = await connection.request(request, timeoutMs ?? this.#options.requestTimeoutMs);
      signal?.removeEventListener("abort", abandon);
      this.#give(address, connection);
      if (!reply.ok && reply.reason === "busy") throw new CloudError("busy", reply.detail);
      return reply;
    } catch (error) {
      signal?.removeEventListener("abort", abandon);
      connection.close();
      throw error;
    }
  }

  /**
   * Sends a request to the server at `address` when given (the owner of
   * what it is about), else or when that server fails, as {@linkcode request} does.
   */
  async #requestVia(address: string | undefined, request: Request): Promise<Reply> {
    if (address !== undefined) {
      try {
        return await this.#requestAt(address, request);
      } catch (error) {
        const passing = error instanceof ConnectionError
          ? error.code !== "protocol"
          : error instanceof CloudError && error.reason === "busy";
        if (!passing) throw error;
        this.#ring = undefined;
      }
    }
    return await this.request(request);
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

  async #take(address: string): Promise<Connection> {
    if (this.#closed) throw new ConnectionError("closed", "Client is closed");
    const idle = this.#idle.get(address);
    while (idle && idle.length > 0) {
      const connection = idle.pop()!;
      if (!connection.closed) return connection;
    }
    const colon = address.lastIndexOf(":");
    return await Connection.open(address.slice(0, colon), Number(address.slice(colon + 1)), {
      ...(this.#options.requestTimeoutMs
        ? { requestTimeoutMs: this.#options.requestTimeoutMs }
        : {}),
    });
  }

  #give(address: string, connection: Connection): void {
    const idle = this.#idle.get(address) ?? [];
    const max = Math.max(this.#options.connections ?? 8, this.#parallel);
    if (this.#closed || idle.length >= max) return connection.close();
    idle.push(connection);
    this.#idle.set(address, idle);
  }

  #failOver(): void {
    const server = this.#servers[this.#current]!;
    const address = `${server.host}:${server.port}`;
    for (const connection of this.#idle.get(address) ?? []) connection.close();
    this.#idle.delete(address);
    this.#current = (this.#current + 1) % this.#servers.length;
  }

  get #parallel(): number {
    return Math.max(1, this.#options.parallel ?? chunksInFlight);
  }

  /** Uploads a string (UTF-8). */
  addString(name: string, text: string, options: AddOptions = {}): Promise<FileObject> {
    return this.addBytes(name, encoder.encode(text), options);
  }

  /**
   * Uploads bytes: in one object (ADD) when they fit in `inlineBytesMax`,
   * else as a chunked file (chunks, index objects, MADD).
   */
  addBytes(name: string, data: Uint8Array, options: AddOptions = {}): Promise<FileObject> {
    return this.addStream(name, data, options);
  }

  /** Uploads a local file, streaming it from disk (never whole in memory). */
  addFile(name: string, path: string, options: AddOptions = {}): Promise<FileObject> {
    return this.addStream(name, { path }, options);
  }

  /**
   * Uploads whatever `source` yields, holding at most a few chunks in
   * memory: in one object when it ends within `inlineBytesMax` bytes, else
   * as a chunked file. Identical content under the same name is stored once
   * unless `fresh` is set.
   *
   * @throws {CloudError} when a server refuses a chunk or the manifest;
   * chunks stored before the failure are not removed.
   */
  async addStream(
    name: string,
    source: UploadSource,
    options: AddOptions = {},
  ): Promise<FileObject> {
    validateName(name);
    const chunks = exactChunks(source, inlineBytesMax);
    const first = await chunks.next();
    const second = first.done ? first : await chunks.next();
    if (second.done) {
      const data = first.done ? new Uint8Array(0) : first.value;
      const salt = this.#salt(options);
      // Straight to the owner of the hash the server will give it (unless a
      // collision makes it probe another salt): one hop instead of two.
      const expected = objectHash(name, salt.salt ?? saltOf(fileIdentity(data)));
      const reply = await this.#requestVia(this.#owner(expected), {
        command: "ADD",
        name,
        data,
        ...salt,
      });
      if (!reply.ok) throw new CloudError(reply.reason, reply.detail || reply.reason);
      options.onProgress?.(data.length);
      return new FileObject(this, parseHash(reply.fields[0]!), name);
    }
    async function* all(): AsyncGenerator<Uint8Array> {
      yield first.value!;
      yield second.value!;
      yield* chunks;
    }
    const stored = await this.#storeExact(all(), options);
    const [hash] = await this.call({
      command: "MADD",
      name,
      manifest: stored.manifest,
      ...this.#salt(options),
    });
    return new FileObject(this, parseHash(hash!), name);
  }

  /**
   * Stores `source` as chunks and index objects, always chunked, and
   * returns the manifest without storing a file for it: MADD it, or send it
   * with UPD as a job's output.
   */
  storeChunks(
    source: UploadSource,
    options: { onProgress?: (bytes: number) => void } = {},
  ): Promise<StoredChunks> {
    return this.#storeExact(exactChunks(source, inlineBytesMax), options);
  }

  /** Stores chunks already cut to `inlineBytesMax` (see {@linkcode storeChunks}). */
  async #storeExact(
    chunks: AsyncIterable<Uint8Array>,
    options: { onProgress?: (bytes: number) => void },
  ): Promise<StoredChunks> {
    if (this.#ring === undefined && this.#options.direct !== false) {
      await this.refreshServers().catch(() => {});
    }
    return await storeChunks(this.#io, chunks, {
      chunkSize: inlineBytesMax,
      parallel: this.#parallel,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
  }

  #salt(options: AddOptions): { salt?: number } {
    return options.fresh ? { salt: randomSalt() } : {};
  }

  /** The owner of `hash` when sending straight to owners. */
  #owner(hash: number): string | undefined {
    return this.#options.direct === false ? undefined : this.#ring?.primary(hash);
  }

  readonly #io: ObjectIo = {
    store: async (name, data, hash) => {
      for (let attempt = 0;; attempt++) {
        const reply = await this.#requestVia(this.#owner(hash), { command: "ADD", name, data });
        if (reply.ok) return parseHash(reply.fields[0] ?? "");
        if (reply.reason !== "unavailable" || attempt >= 2) {
          throw new CloudError(reply.reason, reply.detail || reply.reason);
        }
        await this.refreshServers().catch(() => {});
      }
    },
    fetch: async (hash, copy): Promise<FetchedCopy> => {
      let address = this.#owner(hash);
      if (copy > 0) {
        address = this.#ring?.owners(hash, this.#ring.members.length)[copy];
        if (address === undefined) return { kind: "end" };
      }
      const reply = await this.#requestVia(address, { command: "GET", hash });
      if (reply.ok) return { kind: "data", data: Uint8Array.fromBase64(reply.fields[0] ?? "") };
      if (reply.reason === "unavailable") throw new CloudError(reply.reason, reply.detail);
      return { kind: "missing", detail: `${reply.reason}: ${reply.detail}` };
    },
  };

  /**
   * Opens a finished file for reading: one GET for a file in one object;
   * for a chunked file its manifest (GETM), its chunks then fetched as the
   * returned generator is read, up to `parallel` ahead.
   *
   * @throws {CloudError} `not-found`, `incomplete`, `failed` as GET answers;
   * `corrupt` when the manifest is malformed.
   */
  async open(
    hash: number,
    options: { onProgress?: (bytes: number, size: number) => void } = {},
  ): Promise<OpenedFile> {
    const reply = await this.#requestVia(this.#owner(hash), { command: "GET", hash });
    if (reply.ok) {
      const data = Uint8Array.fromBase64(reply.fields[0] ?? "");
      return { size: data.length, chunks: once(data, options.onProgress) };
    }
    if (reply.reason !== "chunked") {
      throw new CloudError(reply.reason, reply.detail || reply.reason);
    }
    const [encoded] = await this.call({ command: "GETM", hash });
    let manifest: Manifest;
    try {
      manifest = decodeManifest(Uint8Array.fromBase64(encoded ?? ""));
    } catch (error) {
      if (!(error instanceof ManifestError || error instanceof SyntaxError)) throw error;
      throw new CloudError(
        "corrupt",
        `Cannot read file ${formatHash(hash)}: its manifest is malformed: ${
          (error as Error).message
        }`,
      );
    }
    if (this.#ring === undefined && this.#options.direct !== false) {
      await this.refreshServers().catch(() => {});
    }
    const onProgress = options.onProgress;
    const chunks = readChunks(this.#io, formatHash(hash), manifest, {
      parallel: this.#parallel,
      ...(onProgress ? { onProgress: (bytes: number) => onProgress(bytes, manifest.size) } : {}),
    });
    return { size: manifest.size, manifest, chunks };
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

  /**
   * Takes a job to run (GETJ): the job, or "wait" (others are not ready
   * yet) or "none" (no jobs left). With `waitMs`, the server holds the
   * request until a job is ready or the time is up (long poll). Aborting
   * `signal` abandons the request (the server then leases nothing to this
   * client) and returns "wait".
   */
  async takeJob(waitMs = 0, signal?: AbortSignal): Promise<LeasedJob | "wait" | "none"> {
    const request = waitMs > 0
      ? { command: "GETJ" as const, waitMs }
      : { command: "GETJ" as const };
    let reply: Reply;
    try {
      reply = await this.request(
        request,
        waitMs > 0 ? waitMs + (this.#options.requestTimeoutMs ?? 30_000) : undefined,
        signal,
      );
    } catch (error) {
      if (signal?.aborted) return "wait";
      throw error;
    }
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
    for (const idle of this.#idle.values()) for (const connection of idle) void connection.stop();
    this.#idle.clear();
  }
}

async function* once(
  data: Uint8Array,
  onProgress?: (bytes: number, size: number) => void,
): AsyncGenerator<Uint8Array> {
  onProgress?.(data.length, data.length);
  if (data.length > 0) yield data;
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
      const [state = ""] = await this.#cloud.call({
        command: "WAIT",
        hash: this.hashValue,
        timeoutMs: slice,
      }, slice + 15_000);
      if (!isRunningState(state)) return state;
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
  async get(options: ReadOptions = {}): Promise<Uint8Array> {
    const opened = await this.open(options);
    if (!opened.manifest) {
      const result = await opened.chunks.next();
      return result.done ? new Uint8Array(0) : result.value;
    }
    const data = new Uint8Array(opened.size);
    let offset = 0;
    for await (const chunk of opened.chunks) {
      data.set(chunk, offset);
      offset += chunk.length;
    }
    return data;
  }

  /**
   * Like {@linkcode get}, decoded as UTF-8. A chunked file is assembled in
   * memory: for large files use {@linkcode stream} or {@linkcode download}.
   */
  async text(options: ReadOptions = {}): Promise<string> {
    return decoder.decode(await this.get(options));
  }

  /**
   * Waits for the file to complete and opens it: its size, and its content
   * as chunks (see {@linkcode ComputeCloud.open}).
   *
   * @throws {CloudError} as {@linkcode get} does.
   */
  async open(options: ReadOptions = {}): Promise<OpenedFile> {
    const progress = options.onProgress ? { onProgress: options.onProgress } : {};
    try {
      return await this.#cloud.open(this.hashValue, progress);
    } catch (error) {
      if (!(error instanceof CloudError) || error.reason !== "incomplete") throw error;
    }
    const timeoutMs = options.timeoutMs ?? getTimeoutMsDefault;
    const state = await this.wait(timeoutMs);
    if (!isFinishedState(state)) {
      throw new CloudError("timeout", `${this.hash} is still ${state} after ${timeoutMs} ms`);
    }
    return await this.#cloud.open(
      this.hashValue,
      options.onProgress ? { onProgress: options.onProgress } : {},
    );
  }

  /**
   * The content as a stream, with bounded memory: chunks are fetched a few
   * ahead of the reader and checked one by one; the stream errors (after
   * its last chunk) when the whole content does not match its SHA-256, so
   * a consumer must discard what it read when the stream errors.
   */
  stream(options: ReadOptions = {}): ReadableStream<Uint8Array> {
    let chunks: AsyncGenerator<Uint8Array> | undefined;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        chunks ??= (await this.open(options)).chunks;
        const next = await chunks.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      cancel: async () => {
        await chunks?.return(undefined);
      },
    }, { highWaterMark: 0 });
  }

  /**
   * Writes the content to a local file (created or truncated) or a
   * writable stream, with bounded memory. A file is removed again when the
   * download fails. Returns the number of bytes written.
   *
   * @throws {CloudError} as {@linkcode get} does, and `chunk-missing`,
   * `chunk-corrupt` or `corrupt` when a chunked file cannot be read intact.
   */
  async download(
    target: string | WritableStream<Uint8Array>,
    options: ReadOptions = {},
  ): Promise<number> {
    const opened = await this.open(options);
    if (typeof target !== "string") {
      const writer = target.getWriter();
      try {
        for await (const chunk of opened.chunks) await writer.write(chunk);
        await writer.close();
      } catch (error) {
        await writer.abort(error).catch(() => {});
        throw error;
      }
      return opened.size;
    }
    const file = await Deno.open(target, { write: true, create: true, truncate: true });
    try {
      for await (const chunk of opened.chunks) {
        let offset = 0;
        while (offset < chunk.length) offset += await file.write(chunk.subarray(offset));
      }
    } catch (error) {
      file.close();
      await Deno.remove(target).catch(() => {});
      throw error;
    }
    file.close();
    return opened.size;
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
