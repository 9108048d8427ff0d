/**
 * The hooks through which the bench drives our own system: real `cloud`
 * server and runner processes on loopback, started through `env.procs` (so
 * the bench stops them on errors and Ctrl-C) and stopped before each hook
 * returns. The scenarios, the peers, the statistics and the table do not
 * depend on how a hook does its work.
 *
 * @module
 */

import { ComputeCloud, type FileObject } from "../client/cloud.ts";
import type { ObjectStore } from "./object_store.ts";
import type { ProcessRegistry } from "./procs.ts";
import { bulkTransfer } from "./bulk.ts";
import { measureRepair } from "./repair.ts";
import { BenchRing, startRunner } from "./ring.ts";
import { type DagPlan, trivialJobSource } from "./workloads.ts";

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
export async function startCloudObjectStore(
  env: CloudEnv,
  options: { servers: number; replicaCount: number },
): Promise<ObjectStore> {
  const ring = await BenchRing.start(
    env.procs,
    `${env.tmpDir}/objects-${crypto.randomUUID().slice(0, 8)}`,
    options.servers,
    [
      "--replicas",
      String(options.replicaCount),
    ],
  );
  const preloaded: number[] = [];
  let next = 0;
  // Each driver is one client as a user would write it: it knows the ring
  // (GETS) and sends each request straight to the owner of its object.
  const connect = () => {
    const server = ring.servers[next++ % ring.servers.length]!;
    return ComputeCloud.connect(server.host, server.port, { connections: 1 });
  };
  return {
    label: `cloud, ${options.servers} server${
      options.servers > 1 ? "s" : ""
    }, ${options.replicaCount} cop${options.replicaCount > 1 ? "ies" : "y"}`,
    pids: ring.servers.map((server) => server.process.pid),
    async preload(count, valueBytes) {
      const cloud = await connect();
      try {
        for (let i = 0; i < count; i++) {
          preloaded.push((await cloud.addBytes(`pre-${i}`, valueOf(i, valueBytes, "p"))).hashValue);
        }
      } finally {
        cloud.close();
      }
    },
    async openWriter(valueBytes) {
      const cloud = await connect();
      const tag = crypto.randomUUID().slice(0, 8);
      return {
        async op(i) {
          await cloud.addBytes(`w-${tag}-${i}`, valueOf(i, valueBytes, tag));
        },
        close: () => Promise.resolve(cloud.close()),
      };
    },
    async openReader() {
      const cloud = await connect();
      return {
        async op(i) {
          const data = await cloud.file(preloaded[i % preloaded.length]!).get();
          if (data.length === 0) throw new Error("GET returned no data");
        },
        close: () => Promise.resolve(cloud.close()),
      };
    },
    stop: () => ring.stop(),
  };
}

/** A value of `bytes` bytes that differs for every `i` (and `tag`). */
function valueOf(i: number, bytes: number, tag: string): Uint8Array {
  const value = new Uint8Array(bytes).fill(0x61);
  value.set(new TextEncoder().encode(`${tag}:${i}:`).subarray(0, bytes));
  return value;
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
export async function cloudBulk(
  env: CloudEnv,
  options: { bytes: number; servers: number; replicaCount: number; runs: number },
): Promise<BulkRun[]> {
  const runs: BulkRun[] = [];
  for (let run = 0; run < options.runs; run++) {
    const tmpDir = `${env.tmpDir}/bulk-${run}`;
    await Deno.mkdir(tmpDir, { recursive: true });
    const result = await bulkTransfer({
      bytes: options.bytes,
      servers: options.servers,
      replicaCount: options.replicaCount,
      jobBytes: 0,
      procs: env.procs,
      tmpDir,
      log: env.log,
    });
    runs.push({
      uploadMBps: result.uploadMBps,
      downloadMBps: result.downloadMBps,
      peakRssBytes: result.peakRssBytes,
    });
    env.log(
      `cloud bulk: up ${result.uploadMBps.toFixed(0)} MB/s, down ${
        result.downloadMBps.toFixed(0)
      } MB/s`,
    );
  }
  return runs;
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
export async function cloudJobs(
  env: CloudEnv,
  options: {
    backend: SandboxBackend;
    runners: number;
    jobs: number;
    latencySamples: number;
    runs: number;
  },
): Promise<JobsRun[]> {
  const ring = await BenchRing.start(
    env.procs,
    `${env.tmpDir}/jobs-${crypto.randomUUID().slice(0, 8)}`,
    1,
  );
  const server = ring.servers[0]!;
  const runner = startRunner(env.procs, server, [
    ...sandboxArgs(options.backend),
    "--jobs",
    String(options.runners),
  ]);
  const cloud = await ComputeCloud.connect(server.host, server.port, { connections: 16 });
  try {
    await runTrivial(cloud, 1, 600_000);
    const runs: JobsRun[] = [];
    for (let run = 0; run < options.runs; run++) {
      const started = performance.now();
      await runTrivial(cloud, options.jobs, 600_000);
      const seconds = (performance.now() - started) / 1000;
      const latencies: number[] = [];
      for (let i = 0; i < options.latencySamples; i++) {
        const begin = performance.now();
        await runTrivial(cloud, 1, 60_000);
        latencies.push(performance.now() - begin);
      }
      latencies.sort((a, b) => a - b);
      runs.push({
        jobsPerSecond: options.jobs / seconds,
        p50Ms: quantile(latencies, 0.5),
        p99Ms: quantile(latencies, 0.99),
      });
      env.log(
        `cloud ${options.backend}: ${runs.at(-1)!.jobsPerSecond.toFixed(0)} jobs/s, p50 ${
          runs.at(-1)!.p50Ms.toFixed(1)
        } ms`,
      );
    }
    return runs;
  } finally {
    cloud.close();
    await runner.stop(5_000);
    await ring.stop();
  }
}

/**
 * Submits `count` distinct `print(1)` jobs (16 submissions in flight, like
 * Dask's client.submit of the whole batch), then gathers every output and
 * checks it is "1\n".
 */
async function runTrivial(cloud: ComputeCloud, count: number, timeoutMs: number): Promise<void> {
  const outputs: FileObject[] = [];
  await inLanes(count, 16, async () => {
    const [, output] = await cloud.addJob("trivial", trivialJobSource, "trivial-out", [], {
      fresh: true,
    });
    outputs.push(output);
  });
  let next = 0;
  await inLanes(outputs.length, 16, async () => {
    const text = await outputs[next++]!.text({ timeoutMs });
    if (text !== "1\n") throw new Error(`Trivial job printed ${JSON.stringify(text)}`);
  });
}

/** Runs `work` `count` times, `lanes` at a time. */
async function inLanes(count: number, lanes: number, work: () => Promise<void>): Promise<void> {
  let started = 0;
  await Promise.all(Array.from({ length: Math.min(lanes, count) }, async () => {
    while (started < count) {
      started++;
      await work();
    }
  }));
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function sandboxArgs(backend: SandboxBackend): string[] {
  switch (backend) {
    case "bwrap-pypy3":
      return ["--sandbox", "bwrap", "--python", "/usr/bin/pypy3"];
    case "bwrap-python3":
      return ["--sandbox", "bwrap", "--python", "/usr/bin/python3"];
    case "pyodide":
      return ["--sandbox", "pyodide"];
  }
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
export async function cloudDag(
  env: CloudEnv,
  options: { backend: SandboxBackend; runners: number; plans: DagPlan[] },
): Promise<DagRun[]> {
  const ring = await BenchRing.start(
    env.procs,
    `${env.tmpDir}/dag-${crypto.randomUUID().slice(0, 8)}`,
    3,
  );
  const server = ring.servers[0]!;
  const runner = startRunner(env.procs, server, [
    ...sandboxArgs(options.backend),
    "--jobs",
    String(options.runners),
  ]);
  const cloud = await ComputeCloud.connect(server.host, server.port, { connections: 16 });
  try {
    const files = new Map<string, FileObject>();
    for (const file of options.plans[0]?.files ?? []) {
      files.set(file.name, await cloud.addFile(file.name, file.path));
    }
    await runTrivial(cloud, 1, 600_000);
    const runs: DagRun[] = [];
    for (const plan of options.plans) {
      const started = performance.now();
      const outputs = new Map(files);
      for (const job of plan.jobs) {
        const inputs = job.inputs.map((name) => {
          const input = outputs.get(name);
          if (!input) throw new Error(`Plan input ${name} is neither a file nor an earlier output`);
          return input;
        });
        const [, output] = await cloud.addJob(job.name, job.source, job.output, inputs);
        outputs.set(job.output, output);
      }
      const result = outputs.get(plan.result)!;
      const output = await result.text({ timeoutMs: 1_800_000 });
      runs.push({ wallSeconds: (performance.now() - started) / 1000, output });
      env.log(
        `cloud ${options.backend} ${plan.workload}: ${runs.at(-1)!.wallSeconds.toFixed(2)} s`,
      );
    }
    return runs;
  } finally {
    cloud.close();
    await runner.stop(5_000);
    await ring.stop();
  }
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
export async function cloudRepair(
  env: CloudEnv,
  options: { objects: number; servers: number; replicaCount: number; runs: number },
): Promise<RepairRun[]> {
  const runs: RepairRun[] = [];
  for (let run = 0; run < options.runs; run++) {
    const result = await measureRepair(env.procs, `${env.tmpDir}/repair-${run}`, {
      objects: options.objects,
      servers: options.servers,
      replicas: options.replicaCount,
    });
    if (result.wrongCopies > 0) {
      throw new Error(
        `${result.wrongCopies} objects without ${options.replicaCount} copies after repair`,
      );
    }
    runs.push({ repairSeconds: result.repairMs / 1000 });
    env.log(
      `cloud repair: ${(result.repairMs / 1000).toFixed(2)} s (detected after ${
        (result.detectMs / 1000).toFixed(2)
      } s)`,
    );
  }
  return runs;
}
