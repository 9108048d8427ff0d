/**
 * Scenarios 4 and 5 (trivial jobs): 2000 `print(1)` jobs on the cloud, per
 * sandbox backend, and 2000 trivial tasks on a Dask LocalCluster with one
 * single-threaded worker process per core: throughput of the batch and
 * submit-to-result latency of jobs submitted one after another.
 *
 * @module
 */

import { cloudJobs, type JobsRun, type SandboxBackend } from "../cloud.ts";
import { runJson } from "../procs.ts";
import { type Comparison, measure, type Row, statusRows } from "../results.ts";
import {
  type BenchContext,
  classify,
  daskScript,
  measuredRow,
  pythonEnv,
  type Scenario,
  scriptTimeoutMs,
} from "./context.ts";

const scenario = "jobs";
const caseKey = "trivial";

interface System {
  key: string;
  label: string;
  missing?: string;
  /** Set when this system runs a smaller batch than the scenario's (it is too slow for the full one). */
  scaled?: { jobs: number; latencySamples: number };
  run(): Promise<JobsRun[]>;
}

interface DaskTrivialReport {
  workers: number;
  runs: { tasksPerSecond: number; p50Ms: number; p99Ms: number }[];
}

const backends: { backend: SandboxBackend; needs: ("bwrap" | "pypy" | "python")[] }[] = [
  { backend: "bwrap-pypy3", needs: ["bwrap", "pypy"] },
  { backend: "bwrap-python3", needs: ["bwrap", "python"] },
  { backend: "pyodide", needs: [] },
];

/**
 * Pyodide starts a fresh WebAssembly interpreter per job (about 0.2-0.4 s):
 * its batch is cut to this many jobs so that a full run stays within minutes.
 */
const pyodideJobsMax = 100;
const pyodideLatencySamplesMax = 20;

function cloudSystems(context: BenchContext): System[] {
  const { sizes } = context;
  return backends.map(({ backend, needs }) => {
    const absent = needs.filter((tool) => context.tools[tool] === undefined);
    const scaled = backend === "pyodide"
      ? {
        jobs: Math.min(sizes.trivialJobs, pyodideJobsMax),
        latencySamples: Math.min(sizes.latencySamples, pyodideLatencySamplesMax),
      }
      : undefined;
    return {
      key: `cloud-${backend}`,
      label: `cloud, ${backend}`,
      missing: absent.length ? `${absent.join(" and ")} not found` : undefined,
      ...(scaled ? { scaled } : {}),
      run: () =>
        cloudJobs(context, {
          backend,
          runners: context.cores,
          jobs: scaled?.jobs ?? sizes.trivialJobs,
          latencySamples: scaled?.latencySamples ?? sizes.latencySamples,
          runs: context.runs,
        }),
    };
  });
}

function daskSystem(context: BenchContext): System {
  const python = context.tools.daskPython;
  return {
    key: "dask",
    label: python ? `dask ${python.distributed}` : "dask",
    missing: python ? undefined : "no Python that imports distributed",
    run: async () => {
      const { sizes } = context;
      const args = [context.cores, sizes.trivialJobs, context.runs, sizes.latencySamples];
      const report = await runJson<DaskTrivialReport>(
        context.procs,
        [python!.path, daskScript("trivial.py"), ...args.map(String)],
        {
          timeoutMs: scriptTimeoutMs(context),
          cwd: context.tmpDir,
          env: pythonEnv(),
          echoStderr: context.verbose,
        },
      );
      return report.runs.map((run) => ({ ...run, jobsPerSecond: run.tasksPerSecond }));
    },
  };
}

async function measureSystem(context: BenchContext, system: System): Promise<Row> {
  const label = `${context.sizes.trivialJobs} trivial jobs (print(1))`;
  const base = {
    scenario,
    caseLabel: label,
    system: system.label,
    key: `${scenario}/${caseKey}/${system.key}`,
  };
  const cases = [{ key: caseKey, label }];
  if (system.missing) {
    return statusRows(scenario, cases, system, "not installed", system.missing)[0]!;
  }
  context.log(`${system.label}: ${label}`);
  try {
    const runs = await system.run();
    return measuredRow(
      {
        ...base,
        note: system.scaled
          ? `${context.cores} runners; only ${system.scaled.jobs} jobs per batch and latency over ${system.scaled.latencySamples} (a fresh interpreter per job is slow)`
          : `${context.cores} workers/runners; latency over ${context.sizes.latencySamples} sequential jobs`,
      },
      [
        measure("throughput", "jobs/s", "higher", runs.map((run) => run.jobsPerSecond)),
        measure("latency p50", "ms", "lower", runs.map((run) => run.p50Ms)),
        measure("latency p99", "ms", "lower", runs.map((run) => run.p99Ms)),
      ],
    );
  } catch (error) {
    return { ...base, measures: [], ...classify(error) };
  }
}

function comparisons(): Comparison[] {
  return backends.flatMap(({ backend }) => {
    const subject = `${scenario}/${caseKey}/cloud-${backend}`;
    return [
      {
        label: `trivial jobs/s, cloud ${backend} / Dask tasks/s`,
        subject: { key: subject, metric: "throughput" },
        peer: { key: `${scenario}/${caseKey}/dask`, metric: "throughput" },
        target: { op: ">=", value: 1 },
      },
      {
        label: `trivial-job latency p50, cloud ${backend}`,
        subject: { key: subject, metric: "latency p50" },
        target: { op: "<=", value: 20 },
        unit: "ms",
      },
    ] satisfies Comparison[];
  });
}

/** Scenario 4 of the issue, with the Dask peer of scenario 5. */
export const jobsScenario: Scenario = {
  id: scenario,
  issueNumbers: [4, 5],
  title: "Trivial jobs: throughput and latency vs Dask",
  run: async (context) => {
    const rows: Row[] = [];
    for (const system of [...cloudSystems(context), daskSystem(context)]) {
      rows.push(await measureSystem(context, system));
    }
    return rows;
  },
  comparisons: comparisons(),
};
