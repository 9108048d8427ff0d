/**
 * The runner: takes jobs (GETJ) from any server of the ring, fetches their
 * inputs (cached by hash: objects never change), runs them in a sandbox and
 * reports stdout, stderr, exit status and failure reason (UPD). Without
 * `watch` it stops when no job is left in the ring, as in the original
 * design.
 *
 * @module
 */

import { CloudError, ComputeCloud } from "../client/cloud.ts";
import { ConnectionError } from "../protocol/connection.ts";
import { parseHash } from "../protocol/hash.ts";
import { capStderr, encodeRequest, type Request } from "../protocol/message.ts";
import {
  framePayloadBytesMax,
  inlineBytesMax,
  runnerCacheBytesMax,
  runnerDrainPollMs,
  runnerIdleBackoffMsMax,
  runnerSandboxFailuresMax,
  runnerWatchPollMs,
  stderrBytesMax,
} from "../limits.ts";
import type { FailureReason, Sandbox, SandboxResult } from "./sandbox/sandbox.ts";

/** How a job ended: what the sandbox says, or `input-error` when an input could not be read. */
type JobResult = Omit<SandboxResult, "reason"> & {
  /** `unreachable`: the inputs could not be fetched now (the job is given back, not failed). */
  readonly reason: FailureReason | "input-error" | "unreachable" | null;
};

/** Options of {@linkcode runJobs}. */
export interface RunnerOptions {
  readonly host: string;
  readonly port: number;
  readonly sandbox: Sandbox;
  /** Jobs run at once. */
  readonly jobs: number;
  /** Keep waiting for work instead of stopping when none is left. */
  readonly watch: boolean;
  /** Directory for cached inputs and job outputs (created, and removed at the end). */
  readonly workDir: string;
  /** Aborted: stop taking jobs, give back the ones running. */
  readonly signal?: AbortSignal;
  readonly log?: (message: string) => void;
}

/** What a runner did. */
export interface RunnerSummary {
  readonly done: number;
  readonly failed: number;
  readonly returned: number;
}

/** A job as the runner sees it. */
interface Job {
  readonly hash: string;
  readonly source: string;
  readonly inputs: readonly { readonly hash: string; readonly name: string }[];
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });

/**
 * Runs jobs until none are left (or, with `watch`, until `signal` aborts).
 *
 * @throws {ConnectionError} when no server of the ring can be reached at the start.
 */
export async function runJobs(options: RunnerOptions): Promise<RunnerSummary> {
  const cloud = await ComputeCloud.connect(options.host, options.port, {
    connections: options.jobs + 2,
  });
  const cache = new InputCache(cloud, `${options.workDir}/inputs`);
  await Deno.mkdir(`${options.workDir}/outputs`, { recursive: true });
  const summary = { done: 0, failed: 0, returned: 0 };
  let sandboxFailures = 0;
  let lastSandboxFailure = "";
  const log = options.log ?? (() => {});
  try {
    await Promise.all(Array.from({ length: options.jobs }, (_, lane) => worker(lane)));
  } finally {
    cloud.close();
  }
  return summary;

  async function worker(lane: number): Promise<void> {
    let backoffMs = 0;
    while (!options.signal?.aborted) {
      let taken: Awaited<ReturnType<ComputeCloud["takeJob"]>>;
      try {
        // A long poll: the server answers as soon as a job is ready.
        taken = await cloud.takeJob(
          options.watch ? runnerWatchPollMs : runnerDrainPollMs,
          options.signal,
        );
        backoffMs = 0;
      } catch (error) {
        if (!(error instanceof ConnectionError || error instanceof CloudError)) throw error;
        log(`cannot take a job: ${error.message}; retrying`);
        taken = "wait";
        backoffMs = Math.min(Math.max(backoffMs * 2, 250), runnerIdleBackoffMsMax);
        await sleep(backoffMs, options.signal);
      }
      if (taken === "none" && !options.watch) return;
      if (taken === "none" || taken === "wait") continue;
      // A job that arrived as the runner was stopped is given back unrun.
      if (options.signal?.aborted) {
        await giveBack(taken);
        summary.returned++;
        return;
      }
      const outcome = await runOne(taken, `${options.workDir}/outputs/${lane}.out`);
      summary[outcome]++;
      if (outcome === "returned" && sandboxFailures >= runnerSandboxFailuresMax) {
        throw new Error(
          `The sandbox failed ${sandboxFailures} times in a row (last: ${lastSandboxFailure}); stopping`,
        );
      }
    }
  }

  /** The job's inputs on local disk, or the result that ends the job without running it. */
  async function fetchInputs(job: Job): Promise<{ name: string; path: string }[] | JobResult> {
    try {
      return await Promise.all(job.inputs.map(async (input) => ({
        name: input.name,
        path: await cache.path(input.hash),
      })));
    } catch (error) {
      // An input that is gone or damaged fails the job; a server that does
      // not answer is a passing trouble (the job is given back).
      return error instanceof CloudError && permanentInputErrors.has(error.reason)
        ? inputError(`cannot read an input: ${error.message}`)
        : unreachable(`cannot fetch the inputs: ${(error as Error).message}`);
    }
  }

  async function runOne(job: Job, stdoutPath: string): Promise<"done" | "failed" | "returned"> {
    const started = performance.now();
    const inputs = await fetchInputs(job);
    const result: JobResult = "reason" in inputs ? inputs : await options.sandbox.run({
      source: job.source,
      inputs,
      stdoutPath,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (result.reason === "killed" && options.signal?.aborted) {
      await giveBack(job);
      return "returned";
    }
    if (result.reason === "unreachable") {
      log(`job ${job.hash}: ${result.detail}; giving it back`);
      await giveBack(job);
      return "returned";
    }
    if (result.reason === "sandbox-error") {
      // The sandbox failed, not the job: another runner (or this one, once
      // its sandbox recovers) runs it again.
      sandboxFailures++;
      lastSandboxFailure = result.detail;
      log(`job ${job.hash}: sandbox failed (${result.detail}); giving it back`);
      await giveBack(job);
      return "returned";
    }
    sandboxFailures = 0;
    const reported = await report(job, result, stdoutPath);
    const ms = Math.round(performance.now() - started);
    if (!reported) {
      await giveBack(job);
      return "returned";
    }
    log(`job ${job.hash} ${reported.reason ? `failed (${reported.reason})` : "done"} in ${ms} ms`);
    return reported.reason ? "failed" : "done";
  }

  /**
   * Reports a finished job (UPD). Its stdout goes inline when the whole UPD
   * fits in one frame; otherwise it is stored as chunks straight from the
   * stdout file and the UPD carries the manifest. Returns what was reported,
   * or null when the output could not be stored (the job is then given
   * back, to run again).
   */
  async function report(
    job: Job,
    result: JobResult,
    stdoutPath: string,
  ): Promise<JobResult | null> {
    const base = {
      command: "UPD" as const,
      hash: parseHash(job.hash),
      stdout: new Uint8Array(0),
      stderr: capStderr(result.stderr, stderrBytesMax),
      ...(result.exitCode === null ? {} : { exitCode: result.exitCode }),
      ...(result.reason === null ? {} : { reason: result.reason }),
      ...(result.detail ? { detail: result.detail.slice(0, 2000) } : {}),
    };
    let update: Request = base;
    if (result.reason === null && result.stdoutBytes > 0) {
      // Kept in memory by the sandbox (a short job), else in the stdout file.
      const inline = result.stdoutBytes <= inlineBytesMax
        ? { ...base, stdout: result.stdout ?? await Deno.readFile(stdoutPath) }
        : undefined;
      if (inline && fits(inline)) update = inline;
      else {
        try {
          const stored = await cloud.storeChunks(result.stdout ?? { path: stdoutPath });
          update = { ...base, manifest: stored.manifest };
        } catch (error) {
          log(`cannot store the output of job ${job.hash}: ${(error as Error).message}`);
          return null;
        }
      }
    }
    if (!fits(update) && base.detail !== undefined) {
      update = { ...update, detail: base.detail.slice(0, 200) } as Request;
    }
    for (let attempt = 0;; attempt++) {
      try {
        await cloud.call(update);
        return result;
      } catch (error) {
        if (attempt >= 5 || !(error instanceof ConnectionError || error instanceof CloudError)) {
          log(`cannot report job ${job.hash}: ${(error as Error).message}; its lease will expire`);
          return result;
        }
        await sleep(200 * 2 ** attempt);
      }
    }
  }

  async function giveBack(job: Job): Promise<void> {
    try {
      await cloud.call({ command: "RLSE", hash: parseHash(job.hash) });
      log(`job ${job.hash} given back`);
    } catch (error) {
      log(`cannot give back job ${job.hash}: ${(error as Error).message}; its lease will expire`);
    }
  }
}

/** True when the request fits in one frame. */
function fits(request: Request): boolean {
  return encodeRequest(request).length <= framePayloadBytesMax;
}

/** Input errors that fetching again cannot mend: the job fails. */
const permanentInputErrors = new Set([
  "not-found",
  "failed",
  "chunk-missing",
  "chunk-corrupt",
  "corrupt",
]);

function unreachable(detail: string): JobResult {
  return {
    exitCode: null,
    reason: "unreachable",
    detail,
    stdoutBytes: 0,
    stderr: new Uint8Array(0),
    wallMs: 0,
  };
}

function inputError(detail: string): JobResult {
  return {
    exitCode: null,
    reason: "input-error",
    detail,
    stdoutBytes: 0,
    stderr: new Uint8Array(0),
    wallMs: 0,
  };
}

/** Inputs on local disk, by hash: stored objects never change, so a hash is fetched once. */
class InputCache {
  readonly #cloud: ComputeCloud;
  readonly #dir: string;
  readonly #pending = new Map<string, Promise<string>>();
  readonly #sizes = new Map<string, number>();
  #bytes = 0;

  constructor(cloud: ComputeCloud, dir: string) {
    this.#cloud = cloud;
    this.#dir = dir;
  }

  /** The local path of input `hash`, fetching it when not cached. */
  path(hash: string): Promise<string> {
    let pending = this.#pending.get(hash);
    if (!pending) {
      pending = this.#fetch(hash);
      this.#pending.set(hash, pending);
      pending.catch(() => this.#pending.delete(hash));
    }
    return pending;
  }

  /** Streams the input to disk (checked chunk by chunk when chunked), then renames it into place. */
  async #fetch(hash: string): Promise<string> {
    await Deno.mkdir(this.#dir, { recursive: true });
    const path = `${this.#dir}/${hash}`;
    const partial = `${path}.part`;
    const size = await this.#cloud.file(hash).download(partial, { timeoutMs: 60_000 });
    await Deno.rename(partial, path);
    this.#sizes.set(hash, size);
    this.#bytes += size;
    this.#evict(hash);
    return path;
  }

  /** Drops the oldest inputs while the cache is over its limit (never the one just fetched). */
  #evict(keep: string): void {
    for (const [hash, size] of this.#sizes) {
      if (this.#bytes <= runnerCacheBytesMax) return;
      if (hash === keep) continue;
      this.#sizes.delete(hash);
      this.#pending.delete(hash);
      this.#bytes -= size;
      Deno.remove(`${this.#dir}/${hash}`).catch(() => {});
    }
  }
}
