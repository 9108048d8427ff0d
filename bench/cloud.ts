/**
 * The hooks through which the bench drives our own system. Each one throws
 * NotImplementedError until the server, client and runner exist; the
 * scenarios then report "not implemented yet" for the cloud rows. To wire a
 * scenario up, replace the body of its hook; the scenario code, the peers,
 * the statistics and the table do not change.
 *
 * Every hook gets a CloudEnv and must start every process through
 * `env.procs` (so the bench stops them on errors and Ctrl-C) and stop them
 * before it returns.
 *
 * @module
 */

import type { ObjectStore } from "./object_store.ts";
import type { ProcessRegistry } from "./procs.ts";
import type { DagPlan } from "./workloads.ts";

/** Thrown by a hook whose feature does not exist yet. */
export class NotImplementedError extends Error {
  override name = "NotImplementedError";
  /** The hook to write, e.g. `cloudJobs`. */
  readonly hook: string;
  constructor(hook: string) {
    super(`Not implemented yet: bench/cloud.ts ${hook}()`);
    this.hook = hook;
  }
}

/** What every hook gets from the bench. */
export interface CloudEnv {
  /** Root of the repository (main.ts is there). */
  repoRoot: string;
  /** A scratch directory for this bench run (SQLite files, logs); removed afterwards. */
  tmpDir: string;
  /** Start every process through this registry. */
  procs: ProcessRegistry;
  /** True for `--quick`: smaller sizes are already in the options; use shorter waits. */
  quick: boolean;
  /** Progress messages (stderr). */
  log: (message: string) => void;
}

/** Sandbox backends of the runner, as the jobs and DAG scenarios name them. */
export type SandboxBackend = "bwrap-pypy3" | "bwrap-python3" | "pyodide";

/**
 * Scenario 1. Start `servers` cloud servers on loopback as one ring storing
 * `replicaCount` copies of every object, and return them as an ObjectStore:
 * openWriter() is a client connection doing ADD of a fresh 1 KB object per
 * op (content depends on i), openReader() does GET of a preloaded object.
 * The load generator (load.ts) and the Redis peer use the same interface.
 */
export function startCloudObjectStore(
  _env: CloudEnv,
  _options: { servers: number; replicaCount: number },
): Promise<ObjectStore> {
  // TODO(cloud): start servers via env.procs (`deno run -A main.ts server ...`), wait
  // for the ring, return an ObjectStore whose drivers use client/cloud.ts.
  return Promise.reject(new NotImplementedError("startCloudObjectStore"));
}

/** One run of the bulk scenario. */
export interface BulkRun {
  /** Upload of `bytes` through the ring, MB/s (10^6 bytes per second). */
  uploadMBps: number;
  /** Download of the same object, MB/s, checked against what was uploaded. */
  downloadMBps: number;
  /** Peak RSS (VmHWM, procs.ts peakRssBytes()) of each process, by label: "server 1", "client". */
  peakRssBytes: Record<string, number>;
}

/**
 * Scenario 3. Upload then download `bytes` bytes of generated data through
 * a ring of `servers` servers with `replicaCount` copies, `runs` times.
 */
export function cloudBulk(
  _env: CloudEnv,
  _options: { bytes: number; servers: number; replicaCount: number; runs: number },
): Promise<BulkRun[]> {
  // TODO(cloud): start the ring, stream `bytes` up and down with the client, read
  // VmHWM of every server and of the client before stopping them.
  return Promise.reject(new NotImplementedError("cloudBulk"));
}

/** One run of the jobs scenario. */
export interface JobsRun {
  /** `jobs` trivial jobs submitted at once: jobs / (first submit .. last result read). */
  jobsPerSecond: number;
  /** Submit-to-result latency of `latencySamples` jobs submitted one after another. */
  p50Ms: number;
  p99Ms: number;
}

/**
 * Scenario 4. On one server with `runners` runners (one job at a time each,
 * like Dask's single-threaded workers) using `backend`, run `jobs` trivial
 * jobs (source: workloads.ts trivialJobSource, `print(1)`; check every output
 * is "1\n"), then `latencySamples` jobs one by one; `runs` times.
 */
export function cloudJobs(
  _env: CloudEnv,
  _options: {
    backend: SandboxBackend;
    runners: number;
    jobs: number;
    latencySamples: number;
    runs: number;
  },
): Promise<JobsRun[]> {
  // TODO(cloud): start a server and `runners` runners (`--watch`), submit with the client.
  return Promise.reject(new NotImplementedError("cloudJobs"));
}

/** One run of a DAG workload. */
export interface DagRun {
  /** From the first job submitted to the result's text read back by the client. */
  wallSeconds: number;
  /** The text of the plan's result object (the bench compares its sha256 across systems). */
  output: string;
}

/**
 * Scenario 6. Upload `plans[0].files` (not timed), then for run k submit
 * the jobs of `plans[k]` (each plan's jobs carry a different `run` in their
 * PARAMS so runs do not deduplicate) and read `plans[k].result`. Use
 * `runners` runners with `backend`.
 */
export function cloudDag(
  _env: CloudEnv,
  _options: { backend: SandboxBackend; runners: number; plans: DagPlan[] },
): Promise<DagRun[]> {
  // TODO(cloud): start a ring and runners, upload the files, submit each plan's jobs.
  return Promise.reject(new NotImplementedError("cloudDag"));
}

/** One run of the repair scenario. */
export interface RepairRun {
  /** From SIGKILL of one server to every object back at `replicaCount` copies. */
  repairSeconds: number;
}

/**
 * Scenario 7. Store `objects` small objects on a ring of `servers` servers
 * with `replicaCount` copies, SIGKILL one server, and time until every
 * object has `replicaCount` live copies again; `runs` times.
 */
export function cloudRepair(
  _env: CloudEnv,
  _options: { objects: number; servers: number; replicaCount: number; runs: number },
): Promise<RepairRun[]> {
  // TODO(cloud): start the ring, fill it, kill -9 one server (ManagedProcess.child.kill),
  // poll the survivors until every object is back at replicaCount copies.
  return Promise.reject(new NotImplementedError("cloudRepair"));
}
