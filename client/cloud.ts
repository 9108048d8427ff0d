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

import type { Credential } from "../protocol/auth.ts";
import { credentialFromEnvironment, tlsSettings } from "../protocol/auth_config.ts";
import { ConnectionError, type TlsOptions } from "../protocol/connection.ts";
import { formatHash, objectHash, parseHash } from "../protocol/hash.ts";
import { fileIdentity, saltOf } from "../protocol/digest.ts";
import { decodeManifest, type Manifest, ManifestError } from "../protocol/manifest.ts";
import { parseServers, type Reply, type Request, type ServerRecord } from "../protocol/message.ts";
import {
  chunksInFlight,
  chunkStoreAttemptsMax,
  inlineBytesMax,
  reportRetriesMax,
  reportRetryBaseMs,
  requestTimeoutMs,
} from "../limits.ts";
import { exactChunks, type UploadSource } from "./chunks.ts";
import { CloudError } from "./errors.ts";
import { type AddOptions, checkName, type CloudOptions } from "./options.ts";
import { FileObject, type OpenedFile } from "./file_object.ts";
import { type JobReport, type LeasedJob, parseLease, reportUpdate } from "./job_exchange.ts";
import { Servers } from "./servers.ts";
import {
  type FetchedCopy,
  type ObjectIo,
  readChunks,
  storeChunks,
  type StoredChunks,
} from "./transfer.ts";

export { CloudError } from "./errors.ts";
export { FileObject } from "./file_object.ts";
export type { ObjectStatus, OpenedFile, ReadOptions } from "./file_object.ts";
export type { JobReport, LeasedJob } from "./job_exchange.ts";
export type { UploadSource } from "./chunks.ts";
export type { StoredChunks } from "./transfer.ts";
export { checkName } from "./options.ts";
export type { AddOptions, CloudOptions } from "./options.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** A connection to a ring of servers. */
export class ComputeCloud {
  readonly #servers: Servers;
  readonly #options: CloudOptions;
  readonly #security: { readonly credential: Credential | null; readonly tls: TlsOptions | null };

  /**
   * Creates a client for the server at `host:port`; connects on first use.
   *
   * @throws {CredentialError} when the credential or CA file the environment names cannot be used.
   */
  constructor(host: string, port: number, options: CloudOptions = {}) {
    this.#options = options;
    const credential = options.credential === undefined
      ? credentialFromEnvironment()
      : options.credential ?? undefined;
    const tls = options.tls === undefined ? tlsSettings({}) : options.tls ?? undefined;
    this.#security = { credential: credential ?? null, tls: tls ?? null };
    this.#servers = new Servers(host, port, {
      parallel: this.#parallel,
      ...(credential ? { credential } : {}),
      ...(tls ? { tls } : {}),
      ...(options.connections === undefined ? {} : { connections: options.connections }),
      ...(options.requestTimeoutMs === undefined
        ? {}
        : { requestTimeoutMs: options.requestTimeoutMs }),
    });
    for (const server of options.fallback ?? []) this.#servers.add(server.host, server.port);
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

  /** The credential and TLS settings this client connects with: options for a client of another server. */
  get security(): { readonly credential: Credential | null; readonly tls: TlsOptions | null } {
    return this.#security;
  }

  /** The server requests go to now, as `host:port`. */
  get server(): string {
    return this.#servers.current;
  }

  /**
   * Asks for the ring's server table (GETS) and remembers every server for
   * fail-over, and the ring's positions to send chunks to their owners.
   */
  async refreshServers(): Promise<ServerRecord[]> {
    const records = parseServers(await this.call({ command: "GETS" }));
    this.#servers.learn(records);
    return records;
  }

  /**
   * Sends a request, failing over to the next known server when the current
   * one cannot be reached. Returns the reply, ACK or NACK.
   *
   * @throws {ConnectionError} when no known server answers.
   */
  request(request: Request, timeoutMs?: number, signal?: AbortSignal): Promise<Reply> {
    return this.#servers.request(request, timeoutMs, signal);
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
    checkName(name, "file name");
    const chunks = exactChunks(source, inlineBytesMax);
    const first = await chunks.next();
    const second = first.done ? first : await chunks.next();
    if (second.done) {
      const data = first.done ? new Uint8Array(0) : first.value;
      const salt = this.#salt(options);
      // Straight to the owner of the hash the server will give it (unless a
      // collision makes it probe another salt): one hop instead of two.
      const expected = objectHash(name, salt.salt ?? saltOf(fileIdentity(data)));
      const reply = await this.#servers.requestVia(this.#owner(expected), {
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
    if (this.#servers.ring === undefined && this.#options.direct !== false) {
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
    return this.#options.direct === false ? undefined : this.#servers.ring?.primary(hash);
  }

  readonly #io: ObjectIo = {
    store: async (name, data, hash) => {
      for (let attempt = 0;; attempt++) {
        const reply = await this.#servers.requestVia(this.#owner(hash), {
          command: "ADD",
          name,
          data,
        });
        if (reply.ok) return parseHash(reply.fields[0] ?? "");
        if (reply.reason !== "unavailable" || attempt >= chunkStoreAttemptsMax - 1) {
          throw new CloudError(reply.reason, reply.detail || reply.reason);
        }
        await this.refreshServers().catch(() => {});
      }
    },
    fetch: async (hash, copy): Promise<FetchedCopy> => {
      let address = this.#owner(hash);
      if (copy > 0) {
        const ring = this.#servers.ring;
        address = ring?.owners(hash, ring.members.length)[copy];
        if (address === undefined) return { kind: "end" };
      }
      const reply = await this.#servers.requestVia(address, { command: "GET", hash });
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
    const reply = await this.#servers.requestVia(this.#owner(hash), { command: "GET", hash });
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
    if (this.#servers.ring === undefined && this.#options.direct !== false) {
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
   *
   * @throws {CloudError} (`name`) when a name is not a valid name; whatever the server refuses.
   */
  async addJob(
    name: string,
    code: string,
    outputName: string,
    inputs: readonly (FileObject | string)[] = [],
    options: AddOptions = {},
  ): Promise<[FileObject, FileObject]> {
    checkName(name, "job name");
    checkName(outputName, "output name");
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
        waitMs > 0 ? waitMs + (this.#options.requestTimeoutMs ?? requestTimeoutMs) : undefined,
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
    return parseLease(reply.fields);
  }

  /**
   * Reports a finished job (UPD). A success's stdout goes inline when the
   * whole report fits in one frame; otherwise it is stored as chunks
   * (streamed from `stdoutPath` when it is not in memory) and the report
   * carries their manifest. A report that cannot be delivered is sent
   * again, up to `retries` times (default `reportRetriesMax`), waiting
   * twice as long each time.
   *
   * `job` is the job as {@linkcode takeJob} handed it out (its report then
   * carries its lease token), or a job's hash alone (for a server that
   * remembers the lease of this connection only).
   *
   * @throws {CloudError} `output-not-stored` when stdout could not be read
   * or stored (nothing was reported: give the job back); `lease` when the
   * job's lease is over (it ran out and the job went to another runner);
   * whatever the last try threw when the report could not be delivered.
   */
  async reportJob(
    job: LeasedJob | number,
    report: JobReport,
    options: { readonly retries?: number } = {},
  ): Promise<void> {
    const [hash, lease] = typeof job === "number" ? [job, undefined] : [job.hashValue, job.lease];
    const update = await reportUpdate(hash, report, (source) => this.storeChunks(source), lease);
    const retries = options.retries ?? reportRetriesMax;
    for (let attempt = 0;; attempt++) {
      try {
        await this.call(update);
        return;
      } catch (error) {
        // NACK:lease says the lease is over: sending the report again cannot help.
        const passing = error instanceof ConnectionError ||
          error instanceof CloudError && error.reason !== "lease";
        if (attempt >= retries || !passing) throw error;
        await new Promise((resolve) => setTimeout(resolve, reportRetryBaseMs * 2 ** attempt));
      }
    }
  }

  /**
   * Gives a leased job back unrun (RLSE): the ring hands it out again.
   * `job` as for {@linkcode reportJob}.
   *
   * @throws {CloudError} on a NACK (`not-found`, `not-a-job`, `lease`).
   */
  async releaseJob(job: LeasedJob | number): Promise<void> {
    const [hash, lease] = typeof job === "number" ? [job, undefined] : [job.hashValue, job.lease];
    await this.call({ command: "RLSE", hash, ...(lease === undefined ? {} : { lease }) });
  }

  /**
   * Cancels a job (CNCL): a waiting one never runs, a running one is
   * stopped by its runner within 2 s; it fails with reason `cancelled`,
   * and its dependents fail naming it. Returns `cancelled`, or how the job
   * had finished already (`done`, `failed`: then nothing changed).
   *
   * @throws {CloudError} on a NACK (`not-found`, `not-a-job`).
   */
  async cancel(job: FileObject | number): Promise<"cancelled" | "done" | "failed"> {
    const hash = typeof job === "number" ? job : job.hashValue;
    const [outcome] = await this.call({ command: "CNCL", hash });
    return outcome as "cancelled" | "done" | "failed";
  }

  /** Per-server inspection (INFO) of the server requests go to now. */
  async info(): Promise<Record<string, unknown>> {
    const [encoded] = await this.call({ command: "INFO" });
    return JSON.parse(decoder.decode(Uint8Array.fromBase64(encoded!)));
  }

  /** Closes every connection. */
  close(): void {
    this.#servers.close();
  }
}

async function* once(
  data: Uint8Array,
  onProgress?: (bytes: number, size: number) => void,
): AsyncGenerator<Uint8Array> {
  onProgress?.(data.length, data.length);
  if (data.length > 0) yield data;
}

function randomSalt(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}
