/**
 * Scenarios 5 and 6 (DAG workloads): word count over a generated corpus (16
 * map jobs, 1 reduce) and a CPU-bound n-body kernel (16 jobs, 1 combine),
 * on the cloud per sandbox interpreter, on Dask, and in one plain CPython
 * (and PyPy) process. All run the step functions of bench/workloads/ and
 * print the sha256 of the final output, which must agree.
 *
 * @module
 */

import { cloudDag, type SandboxBackend } from "../cloud.ts";
import { runJson } from "../procs.ts";
import { type Comparison, measure, type Row, statusRows } from "../results.ts";
import {
  type Corpus,
  type DagPlan,
  digestOf,
  ensureCorpus,
  nbodyPlan,
  wordcountPlan,
} from "../workloads.ts";
import {
  type BenchContext,
  classify,
  daskScript,
  formatBytes,
  measuredRow,
  pythonEnv,
  type Scenario,
  scriptTimeoutMs,
  sortByCase,
} from "./context.ts";

const scenario = "dag";

type Workload = "wordcount" | "nbody";

interface Case {
  key: Workload;
  label: string;
}

/** What one system measured on one workload. */
interface Measured {
  wallSeconds: number[];
  digests: string[];
  note?: string;
}

interface System {
  key: string;
  label: string;
  missing?: string;
  run(workload: Workload): Promise<Measured>;
}

interface ScriptReport {
  loadSeconds: number;
  runs: { wallSeconds: number; digest: string }[];
}

function cases(context: BenchContext): Case[] {
  const { sizes } = context;
  const thousands = Math.round(sizes.nbodySteps / 1000);
  return [
    {
      key: "wordcount",
      label: `word count ${formatBytes(sizes.corpusBytes)}: ${sizes.corpusShards} maps + reduce`,
    },
    { key: "nbody", label: `n-body: ${sizes.nbodyJobs} × ${thousands}k steps + combine` },
  ];
}

function workloadArgs(context: BenchContext, workload: Workload, corpus?: Corpus): string[] {
  if (workload === "wordcount") return [corpus!.dir];
  return [String(context.sizes.nbodyJobs), String(context.sizes.nbodySteps)];
}

async function runScript(context: BenchContext, command: string[]): Promise<Measured> {
  const report = await runJson<ScriptReport>(context.procs, command, {
    timeoutMs: scriptTimeoutMs(context),
    cwd: context.tmpDir,
    env: pythonEnv(),
    echoStderr: context.verbose,
  });
  const load = report.loadSeconds > 0
    ? `inputs loaded in ${report.loadSeconds.toFixed(2)} s (not timed)`
    : undefined;
  return {
    wallSeconds: report.runs.map((run) => run.wallSeconds),
    digests: report.runs.map((run) => run.digest),
    note: load,
  };
}

async function cloudPlans(
  context: BenchContext,
  workload: Workload,
  corpus?: Corpus,
): Promise<DagPlan[]> {
  const runs = Array.from({ length: context.runs }, (_, run) => run);
  const kernel = { jobs: context.sizes.nbodyJobs, steps: context.sizes.nbodySteps };
  return await Promise.all(
    runs.map((run) =>
      workload === "wordcount" ? wordcountPlan(corpus!, { run }) : nbodyPlan(kernel, { run })
    ),
  );
}

function systems(context: BenchContext, corpus?: Corpus): System[] {
  const { tools } = context;
  const cloud = (backend: SandboxBackend, interpreter: "pypy" | "python"): System => ({
    key: `cloud-${backend}`,
    label: `cloud, ${backend}`,
    missing: !tools.bwrap || !tools[interpreter] ? `bwrap or ${interpreter} not found` : undefined,
    run: async (workload) => {
      const plans = await cloudPlans(context, workload, corpus);
      const runs = await cloudDag(context, { backend, runners: context.cores, plans });
      return {
        wallSeconds: runs.map((run) => run.wallSeconds),
        digests: await Promise.all(runs.map((run) => digestOf(run.output))),
      };
    },
  });
  const dask = tools.daskPython;
  const plain = (key: string, name: string, path?: string, version?: string): System => ({
    key,
    label: path ? `${name} ${version}, 1 process` : `${name}, 1 process`,
    missing: path ? undefined : `${name} not found`,
    run: (workload) =>
      runScript(context, [
        path!,
        daskScript("plain.py"),
        String(context.runs),
        workload,
        ...workloadArgs(context, workload, corpus),
      ]),
  });
  return [
    cloud("bwrap-pypy3", "pypy"),
    cloud("bwrap-python3", "python"),
    {
      key: "dask",
      label: dask ? `dask ${dask.distributed}, ${context.cores} workers` : "dask",
      missing: dask ? undefined : "no Python that imports distributed",
      run: (workload) =>
        runScript(context, [
          dask!.path,
          daskScript("dag.py"),
          String(context.cores),
          String(context.runs),
          workload,
          ...workloadArgs(context, workload, corpus),
        ]),
    },
    plain("python", "python", tools.python?.path, tools.python?.version),
    plain("pypy", "pypy", tools.pypy?.path, tools.pypy?.version),
  ];
}

/** Note of a row: its digest, and whether it disagrees with its own runs or with the reference. */
function digestNote(measured: Measured, reference: string | undefined): string {
  const distinct = new Set(measured.digests);
  const digest = measured.digests[0] ?? "";
  const parts = [`sha256 ${digest.slice(0, 12)}`];
  if (distinct.size > 1) parts.push("RUNS DISAGREE");
  if (reference !== undefined && digest !== reference) {
    parts.push(`DIFFERS from plain python's ${reference.slice(0, 12)}`);
  }
  if (measured.note) parts.push(measured.note);
  return parts.join("; ");
}

async function runCase(context: BenchContext, c: Case, list: System[]): Promise<Row[]> {
  const results = new Map<string, Measured | Row>();
  for (const system of list) {
    const base = {
      scenario,
      caseLabel: c.label,
      system: system.label,
      key: `${scenario}/${c.key}/${system.key}`,
    };
    if (system.missing) {
      results.set(
        system.key,
        statusRows(scenario, [c], system, "not installed", system.missing)[0]!,
      );
      continue;
    }
    context.log(`${system.label}: ${c.label}`);
    try {
      results.set(system.key, await system.run(c.key));
    } catch (error) {
      results.set(system.key, { ...base, measures: [], ...classify(error) });
    }
  }
  const plainPython = results.get("python");
  const reference = plainPython && "digests" in plainPython ? plainPython.digests[0] : undefined;
  return list.map((system) => {
    const result = results.get(system.key)!;
    if (!("digests" in result)) return result;
    const base = {
      scenario,
      caseLabel: c.label,
      system: system.label,
      key: `${scenario}/${c.key}/${system.key}`,
    };
    return measuredRow({ ...base, note: digestNote(result, reference) }, [
      measure("wall time", "s", "lower", result.wallSeconds),
    ]);
  });
}

async function corpusFor(context: BenchContext): Promise<Corpus | undefined> {
  const generator = context.tools.pypy?.path ?? context.tools.python?.path;
  if (!generator) return undefined;
  const { sizes } = context;
  context.log(
    `corpus: ${
      sizes.corpusBytes / 1e6
    } MB in ${sizes.corpusShards} shards (cached in ${context.cacheDir})`,
  );
  return await ensureCorpus(context.cacheDir, {
    totalBytes: sizes.corpusBytes,
    shardCount: sizes.corpusShards,
    seed: sizes.corpusSeed,
    python: generator,
  });
}

function comparisons(): Comparison[] {
  const list: Comparison[] = [];
  for (const workload of ["nbody", "wordcount"] as const) {
    const name = workload === "nbody" ? "n-body DAG" : "word-count DAG";
    for (const backend of ["bwrap-pypy3", "bwrap-python3"]) {
      list.push({
        label: `${name} speed-up, cloud ${backend} vs Dask`,
        subject: { key: `${scenario}/${workload}/cloud-${backend}`, metric: "wall time" },
        peer: { key: `${scenario}/${workload}/dask`, metric: "wall time" },
        target: workload === "nbody" && backend === "bwrap-pypy3"
          ? { op: ">=", value: 3 }
          : undefined,
      });
    }
    list.push({
      label: `${name} speed-up, Dask vs 1 plain python process`,
      subject: { key: `${scenario}/${workload}/dask`, metric: "wall time" },
      peer: { key: `${scenario}/${workload}/python`, metric: "wall time" },
    });
  }
  return list;
}

/** Scenario 6 of the issue, with the Dask peer of scenario 5 and the plain-process baselines. */
export const dagScenario: Scenario = {
  id: scenario,
  issueNumbers: [5, 6],
  title: "DAG workloads: word count and n-body vs Dask and one plain process",
  run: async (context) => {
    const list = cases(context);
    let corpus: Corpus | undefined;
    try {
      corpus = await corpusFor(context);
    } catch (error) {
      return list.map((c) => ({
        scenario,
        caseLabel: c.label,
        system: "all",
        key: `${scenario}/${c.key}/all`,
        measures: [],
        ...classify(error),
      }));
    }
    const rows: Row[] = [];
    for (const c of list) {
      if (c.key === "wordcount" && !corpus) {
        rows.push(
          ...statusRows(scenario, [c], { key: "all", label: "all" }, "not installed", "no Python"),
        );
        continue;
      }
      rows.push(...await runCase(context, c, systems(context, corpus)));
    }
    return sortByCase(rows, list.map((c) => c.key));
  },
  comparisons: comparisons(),
};
