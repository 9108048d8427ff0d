/**
 * What every scenario gets (the bench context), the sizes of a full and a
 * quick run, and helpers shared by the scenarios.
 *
 * @module
 */

import { type CloudEnv, NotImplementedError } from "../cloud.ts";
import type { Tools } from "../machine.ts";
import type { Comparison, Row, RowStatus } from "../results.ts";

/** Sizes of one bench mode. */
export interface Sizes {
  /** Duration of one load run of the object-store scenario. */
  loadMs: number;
  /** Unrecorded load before the first run of each case. */
  warmupMs: number;
  /** Objects stored before the GET cases. */
  preloadObjects: number;
  /** Bytes uploaded and downloaded by the bulk scenario. */
  bulkBytes: number;
  trivialJobs: number;
  /** Jobs submitted one after another for the latency figures, per run. */
  latencySamples: number;
  corpusBytes: number;
  corpusShards: number;
  corpusSeed: number;
  nbodyJobs: number;
  nbodySteps: number;
  repairObjects: number;
  repairServers: number;
}

/** Sizes of a full run (`quick` false) or of `--quick`. */
export function sizesFor(quick: boolean): Sizes {
  const shared = {
    trivialJobs: 2000,
    corpusShards: 16,
    corpusSeed: 20240601,
    nbodyJobs: 16,
    repairServers: 5,
  };
  if (quick) {
    return {
      ...shared,
      loadMs: 500,
      warmupMs: 200,
      preloadObjects: 2000,
      bulkBytes: 100e6,
      latencySamples: 50,
      corpusBytes: 16e6,
      nbodySteps: 50_000,
      repairObjects: 2000,
    };
  }
  return {
    ...shared,
    loadMs: 2000,
    warmupMs: 500,
    preloadObjects: 10_000,
    bulkBytes: 1e9,
    latencySamples: 200,
    corpusBytes: 100e6,
    nbodySteps: 200_000,
    repairObjects: 10_000,
  };
}

/** Everything a scenario needs; extends what the cloud hooks get. */
export interface BenchContext extends CloudEnv {
  /** Runs per figure (the median of these is reported). */
  runs: number;
  /** bench/.cache: survives between bench runs (corpus). */
  cacheDir: string;
  tools: Tools;
  cores: number;
  sizes: Sizes;
  /** Show the peers' own logs. */
  verbose: boolean;
}

/** One scenario of the bench. */
export interface Scenario {
  /** Name for `--only`. */
  id: string;
  /** Numbers of the scenarios in the benchmark issue that this one covers (also accepted by `--only`). */
  issueNumbers: number[];
  title: string;
  /** Measure every system on every case; systems that cannot run get status rows. */
  run(context: BenchContext): Promise<Row[]>;
  comparisons: Comparison[];
}

/** The status and note of a row whose system threw `error`. */
export function classify(error: unknown): { status: Exclude<RowStatus, "ok">; note: string } {
  if (error instanceof NotImplementedError) {
    return { status: "not implemented yet", note: `TODO: bench/cloud.ts ${error.hook}()` };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { status: "failed", note: message.split("\n")[0]!.slice(0, 200) };
}

/** Environment for the Python scripts: module paths, and no __pycache__ in the repository. */
export function pythonEnv(): Record<string, string> {
  const dask = new URL("../dask/", import.meta.url).pathname;
  const workloads = new URL("../workloads/", import.meta.url).pathname;
  return { PYTHONPATH: `${dask}:${workloads}`, PYTHONDONTWRITEBYTECODE: "1" };
}

/** A Python script's path in bench/dask/. */
export function daskScript(name: string): string {
  return new URL(`../dask/${name}`, import.meta.url).pathname;
}

/** Time limit of a peer script: generous, it only guards against a hang. */
export function scriptTimeoutMs(context: BenchContext): number {
  return context.quick ? 180_000 : 900_000;
}

/** A row from a system's per-run values. */
export function measuredRow(
  base: Omit<Row, "status" | "measures">,
  measures: Row["measures"],
): Row {
  return { ...base, status: "ok", measures };
}

/** Rows grouped by case in `caseKeys` order (keys are `scenario/case/system`), stable within a case. */
export function sortByCase(rows: readonly Row[], caseKeys: readonly string[]): Row[] {
  const order = (row: Row) => caseKeys.indexOf(row.key.split("/")[1] ?? "");
  return rows.map((row, index) => ({ row, index }))
    .sort((a, b) => order(a.row) - order(b.row) || a.index - b.index)
    .map(({ row }) => row);
}

/** Bytes in decimal units for labels: 1 GB, 100 MB, 16 kB. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${Number((bytes / 1e9).toPrecision(3))} GB`;
  if (bytes >= 1e6) return `${Number((bytes / 1e6).toPrecision(3))} MB`;
  if (bytes >= 1e3) return `${Number((bytes / 1e3).toPrecision(3))} kB`;
  return `${bytes} B`;
}
