/**
 * A file or job stored in the cloud, by hash: wait for it, read it (whole,
 * as a stream, or into a local file, with bounded memory), ask its state.
 * {@linkcode ComputeCloud} hands these out.
 *
 * @module
 */

import { formatHash } from "../protocol/hash.ts";
import type { Manifest } from "../protocol/manifest.ts";
import { isFinishedState, isRunningState } from "../protocol/states.ts";
import { clientWaitMsDefault, clientWaitSlackMs, clientWaitSliceMs, waitMsMax } from "../limits.ts";
import type { ComputeCloud } from "./cloud.ts";
import { CloudError } from "./errors.ts";

/** What a server says of a stored object. */
export interface ObjectStatus {
  readonly hash: string;
  readonly kind: "file" | "job";
  readonly state: string;
  readonly [key: string]: unknown;
}

/** Options for reading a file. */
export interface ReadOptions {
  /** How long to wait for the file to complete (default `clientWaitMsDefault`, ten minutes). */
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
  async wait(timeoutMs = clientWaitMsDefault): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const remaining = Math.max(0, deadline - Date.now());
      const slice = Math.min(remaining, waitMsMax, clientWaitSliceMs);
      const [state = ""] = await this.#cloud.call({
        command: "WAIT",
        hash: this.hashValue,
        timeoutMs: slice,
      }, slice + clientWaitSlackMs);
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
    const timeoutMs = options.timeoutMs ?? clientWaitMsDefault;
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
