/**
 * The Python workloads as the cloud will run them: the cached corpus, and
 * DAG plans (files to upload, jobs with their sources, the result's name)
 * built from the very step files that the Dask driver and the plain baseline
 * import (bench/workloads/*.py).
 *
 * @module
 */

import { commandOutput } from "./procs.ts";

/** Directory of the step programs and the corpus generator. */
export const workloadsDir: string = new URL("./workloads/", import.meta.url).pathname;

/** The source of the trivial job of the jobs scenario. */
export const trivialJobSource = "print(1)\n";

/** One shard of a generated corpus, as listed in its manifest. */
export interface CorpusShard {
  name: string;
  bytes: number;
  sha256: string;
  /** Absolute path of the shard file. */
  path: string;
}

/** A generated word-count corpus, cut into shards. */
export interface Corpus {
  dir: string;
  seed: number;
  totalBytes: number;
  shards: CorpusShard[];
}

/** Options of ensureCorpus(). */
export interface CorpusOptions {
  totalBytes: number;
  shardCount: number;
  seed: number;
  /** Interpreter that runs corpus.py (any CPython or PyPy writes the same bytes). */
  python: string;
}

async function readCorpus(dir: string): Promise<Corpus | undefined> {
  try {
    const manifest = JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`));
    const shards = (manifest.shards as Omit<CorpusShard, "path">[]).map((shard) => ({
      ...shard,
      path: `${dir}/${shard.name}`,
    }));
    return { dir, seed: manifest.seed, totalBytes: manifest.totalBytes, shards };
  } catch {
    return undefined;
  }
}

/**
 * The corpus for these options, from `cacheDir` when it was generated before,
 * else generated there by bench/workloads/corpus.py (deterministic).
 *
 * @throws {Error} when the generator fails.
 */
export async function ensureCorpus(cacheDir: string, options: CorpusOptions): Promise<Corpus> {
  const dir = `${cacheDir}/corpus-v1-${options.totalBytes}-${options.shardCount}-${options.seed}`;
  const cached = await readCorpus(dir);
  if (cached) return cached;
  const partial = `${dir}.partial-${Deno.pid}`;
  await Deno.remove(partial, { recursive: true }).catch(() => {});
  const args = [options.totalBytes, options.shardCount, options.seed].map(String);
  const output = await commandOutput(options.python, [
    `${workloadsDir}corpus.py`,
    partial,
    ...args,
  ]);
  if (output === undefined) {
    throw new Error(`Cannot generate corpus: ${options.python} corpus.py failed`);
  }
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.rename(partial, dir);
  const corpus = await readCorpus(dir);
  if (!corpus) throw new Error(`Cannot generate corpus: no manifest in ${dir}`);
  return corpus;
}

/** Parameters of a step program: JSON that is also a Python literal (no booleans or null). */
export type StepParams = Record<string, string | number | string[]>;

/** The step programs in bench/workloads/. */
export type StepName = "wc_map" | "wc_reduce" | "nbody" | "nbody_combine";

/**
 * The source of a cloud job running step `step` with `params`: one line
 * `PARAMS = {...}` and then the step file, unchanged.
 */
export async function stepSource(step: StepName, params: StepParams): Promise<string> {
  const text = await Deno.readTextFile(`${workloadsDir}${step}.py`);
  return `PARAMS = ${JSON.stringify(params)}\n${text}`;
}

/** A local file a plan uploads under `name` before it runs (not timed). */
export interface DagFile {
  name: string;
  path: string;
  bytes: number;
}

/** One job of a plan: reads its inputs at <netDir>/<input name>, its stdout becomes `output`. */
export interface DagJob {
  name: string;
  source: string;
  /** Names of files or earlier jobs' outputs: the job's namespace. */
  inputs: string[];
  output: string;
}

/** A workload as a DAG of cloud jobs; `jobs` is in an order where inputs come first. */
export interface DagPlan {
  workload: "wordcount" | "nbody";
  files: DagFile[];
  jobs: DagJob[];
  /** Name of the output whose text is the answer (its sha256 is the digest every system prints). */
  result: string;
}

/** Options shared by the plan builders. */
export interface PlanOptions {
  /** Where jobs find their inputs: "/net" on the cloud, a directory for runPlanLocally(). */
  netDir?: string;
  /**
   * Goes into every job's PARAMS (the steps ignore it) so that the jobs of
   * run k are not identical to, and deduplicated with, those of run k-1.
   */
  run?: number;
}

const pad = (index: number) => String(index).padStart(2, "0");

/** Word count: one wc_map job per shard, one wc_reduce job over their outputs. */
export async function wordcountPlan(corpus: Corpus, options: PlanOptions = {}): Promise<DagPlan> {
  const net = options.netDir ?? "/net";
  const run = options.run ?? 0;
  const files = corpus.shards.map((shard, index) => ({
    name: `wc-shard-${pad(index)}`,
    path: shard.path,
    bytes: shard.bytes,
  }));
  const maps = await Promise.all(files.map(async (file, index) => ({
    name: `wc-map-${pad(index)}`,
    source: await stepSource("wc_map", { input: `${net}/${file.name}`, run }),
    inputs: [file.name],
    output: `wc-counts-${pad(index)}`,
  })));
  const counts = maps.map((job) => job.output);
  const reduce = {
    name: "wc-reduce",
    source: await stepSource("wc_reduce", { inputs: counts.map((name) => `${net}/${name}`), run }),
    inputs: counts,
    output: "wc-total",
  };
  return { workload: "wordcount", files, jobs: [...maps, reduce], result: reduce.output };
}

/** CPU kernel: `jobs` nbody jobs of `steps` steps each, one nbody_combine job over their outputs. */
export async function nbodyPlan(
  kernel: { jobs: number; steps: number },
  options: PlanOptions = {},
): Promise<DagPlan> {
  const net = options.netDir ?? "/net";
  const run = options.run ?? 0;
  const indexes = Array.from({ length: kernel.jobs }, (_, index) => index);
  const simulations = await Promise.all(indexes.map(async (index) => ({
    name: `nbody-${pad(index)}`,
    source: await stepSource("nbody", { index, steps: kernel.steps, run }),
    inputs: [],
    output: `nbody-out-${pad(index)}`,
  })));
  const outputs = simulations.map((job) => job.output);
  const combine = {
    name: "nbody-combine",
    source: await stepSource("nbody_combine", {
      inputs: outputs.map((name) => `${net}/${name}`),
      run,
    }),
    inputs: outputs,
    output: "nbody-result",
  };
  return { workload: "nbody", files: [], jobs: [...simulations, combine], result: combine.output };
}

/**
 * Run a plan without the cloud, one job after another with `python`, files
 * and outputs kept in `netDir` (the plan must have been built with it).
 * Returns the result's text. A stand-in that checks plans and step programs.
 *
 * @throws {Error} when a job fails.
 */
export async function runPlanLocally(
  plan: DagPlan,
  options: { python: string; netDir: string },
): Promise<string> {
  await Deno.mkdir(options.netDir, { recursive: true });
  for (const file of plan.files) await Deno.copyFile(file.path, `${options.netDir}/${file.name}`);
  for (const job of plan.jobs) {
    const output = await new Deno.Command(options.python, {
      args: ["-c", job.source],
      stdin: "null",
    }).output();
    if (!output.success) {
      const stderr = new TextDecoder().decode(output.stderr);
      throw new Error(`Cannot run job ${job.name}: exit code ${output.code}\n${stderr}`);
    }
    await Deno.writeFile(`${options.netDir}/${job.output}`, output.stdout);
  }
  return await Deno.readTextFile(`${options.netDir}/${plan.result}`);
}

/** sha256 of the UTF-8 bytes of `text`, in hex: the digest every system reports for its answer. */
export async function digestOf(text: string): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return new Uint8Array(hash).toHex();
}
