/**
 * The runner: takes jobs (GETJ) from any server of the ring, fetches their
 * inputs (cached by hash: objects never change, input_cache.ts), runs them
 * in a sandbox and reports stdout, stderr, exit status and failure reason
 * (the client's reportJob, UPD), or gives them back (releaseJob, RLSE). Without
 * `watch` it stops when no job is left in the ring, as in the original
 * design.
 *
 * @module
 */

import { CloudError, type CloudOptions, ComputeCloud, type LeasedJob } from "../client/cloud.ts";
import { ConnectionError } from "../protocol/connection.ts";
import {
  runnerCacheBytesMax,
  runnerDrainPollMs,
  runnerIdleBackoffMsMax,
  runnerIdleBackoffMsMin,
  runnerInputFetchMs,
  runnerSandboxFailuresMax,
  runnerWatchPollMs,
} from "../limits.ts";
import { deliverReport, giveBack as giveBackJob } from "./hand_back.ts";
import { type HeldInputs, InputCache } from "./input_cache.ts";
import { type KeptJob, LeaseKeeper } from "./lease_keeper.ts";
import { type HeldJob, Presence } from "./presence.ts";
import config from "../deno.json" with { type: "json" };
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
  /** The credential and TLS settings to reach the ring with (the environment's by default). */
  readonly security?: Pick<CloudOptions, "credential" | "tls">;
}

/** What a runner did. */
export interface RunnerSummary {
  readonly done: number;
  readonly failed: number;
  readonly returned: number;
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
    ...options.security,
    connections: options.jobs + 2,
  });
  const cache = new InputCache({
    dir: `${options.workDir}/inputs`,
    bytesMax: runnerCacheBytesMax,
    fetch: (hash, path) => cloud.file(hash).download(path, { timeoutMs: runnerInputFetchMs }),
  });
  await Deno.mkdir(`${options.workDir}/outputs`, { recursive: true });
  const summary = { done: 0, failed: 0, returned: 0 };
  let sandboxFailures = 0;
  let lastSandboxFailure = "";
  const log = options.log ?? (() => {});
  const presence = presenceOf(cloud, options);
  const present = new AbortController();
  const presenting = presence.run(present.signal);
  // Renews the leases of the running jobs; stops those whose lease is lost.
  const keeper = new LeaseKeeper(cloud, { log });
  const keeping = keeper.run(present.signal);
  try {
    await Promise.all(Array.from({ length: options.jobs }, (_, lane) => worker(lane)));
  } finally {
    present.abort();
    await Promise.all([presenting, keeping]);
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
        if (
          error instanceof CloudError && (error.reason === "forbidden" || error.reason === "auth")
        ) {
          // Retrying cannot help: the ring will not give this credential jobs.
          throw new Error(
            `Cannot take jobs: the ring refused this runner's credential (${error.reason}: ${error.message}); fix: give the runner a runner token (--token-file runner.token, or $CLOUD_TOKEN_FILE)`,
          );
        }
        log(`cannot take a job: ${error.message}; retrying`);
        taken = "wait";
        backoffMs = Math.min(
          Math.max(backoffMs * 2, runnerIdleBackoffMsMin),
          runnerIdleBackoffMsMax,
        );
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

  /** The job's inputs on local disk, held until released, or the result that ends the job unrun. */
  async function fetchInputs(job: LeasedJob): Promise<HeldInputs | JobResult> {
    try {
      return await cache.acquire(job.inputs.map((input) => input.hash));
    } catch (error) {
      // An input that is gone or damaged fails the job; a server that does
      // not answer is a passing trouble (the job is given back).
      return error instanceof CloudError && permanentInputErrors.has(error.reason)
        ? inputError(`cannot read an input: ${error.message}`)
        : unreachable(`cannot fetch the inputs: ${(error as Error).message}`);
    }
  }

  /** Runs a job on inputs held for it, then lets them go. */
  async function runHeld(
    job: LeasedJob,
    stdoutPath: string,
    watch: { seen: HeldJob; kept: KeptJob },
  ): Promise<JobResult> {
    const held = await fetchInputs(job);
    if ("reason" in held) return held;
    const signals = options.signal ? [options.signal, watch.kept.signal] : [watch.kept.signal];
    try {
      return await options.sandbox.run({
        source: job.source,
        inputs: job.inputs.map((input, i) => ({ name: input.name, path: held.paths[i]! })),
        stdoutPath,
        signal: AbortSignal.any(signals),
        onStderr: watch.seen.stderr,
      });
    } finally {
      held.release();
    }
  }

  async function runOne(
    job: LeasedJob,
    stdoutPath: string,
  ): Promise<"done" | "failed" | "returned"> {
    const seen = presence.hold(job.hashValue);
    const kept = keeper.hold(job.hashValue, job.lease);
    try {
      return await runSeen(job, stdoutPath, { seen, kept });
    } finally {
      kept.release();
      seen.release();
    }
  }

  async function runSeen(
    job: LeasedJob,
    stdoutPath: string,
    watch: { seen: HeldJob; kept: KeptJob },
  ): Promise<"done" | "failed" | "returned"> {
    const started = performance.now();
    const result = await runHeld(job, stdoutPath, watch);
    if (watch.kept.stopped !== null) {
      // Lost: another runner may have it now; cancelled: the ring failed it already.
      log(`job ${job.hash} stopped (${watch.kept.stopped}); not reported`);
      return watch.kept.stopped === "cancelled" ? "failed" : "returned";
    }
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
    if (!reported) return "returned";
    log(`job ${job.hash} ${result.reason ? `failed (${result.reason})` : "done"} in ${ms} ms`);
    return result.reason ? "failed" : "done";
  }

  /** Reports a finished job; false when it is given back instead (hand_back.ts). */
  async function report(job: LeasedJob, result: JobResult, stdoutPath: string): Promise<boolean> {
    const outcome = await deliverReport(cloud, job, {
      stdoutBytes: result.stdoutBytes,
      ...(result.stdout ? { stdout: result.stdout } : { stdoutPath }),
      stderr: result.stderr,
      exitCode: result.exitCode,
      reason: result.reason,
      detail: result.detail,
    }, { log });
    if (outcome === "not-stored") await giveBack(job);
    return outcome === "reported";
  }

  async function giveBack(job: LeasedJob): Promise<void> {
    await giveBackJob(cloud, job, { log });
  }
}

/**
 * Who this runner is (its host and process), and its presence on the
 * ring: RUNR every few seconds, PROG with running jobs' stderr.
 */
function presenceOf(cloud: ComputeCloud, options: RunnerOptions): Presence {
  const host = Deno.hostname();
  return new Presence(cloud, {
    id: `${host}-${Deno.pid}`,
    host,
    sandbox: options.sandbox.name,
    lanes: options.jobs,
    version: config.version,
    pid: Deno.pid,
  }, options.log ? { log: options.log } : {});
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
