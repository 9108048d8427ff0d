/**
 * `deno task bench [--quick] [--only <scenarios>]`: start what each scenario
 * needs, measure it several times, stop everything it started (also on
 * errors and Ctrl-C), print the table, write bench/results/<time>-<mode>.json
 * with the machine description, and (full runs of every scenario) put the
 * table into bench/README.md. It reports; it never fails on a figure.
 *
 * @module
 */

import { Command } from "commander";
import { describeMachine, findTools, type Machine } from "./machine.ts";
import { ProcessRegistry } from "./procs.ts";
import { renderMarkdown, renderText, replaceBetweenMarks } from "./report.ts";
import { compare, type ComparisonResult, type Row } from "./results.ts";
import { type BenchContext, type Scenario, sizesFor } from "./scenarios/context.ts";
import { scenarios, selectScenarios } from "./scenarios/registry.ts";

const benchDir = new URL(".", import.meta.url).pathname.replace(/\/$/, "");
const repoRoot = benchDir.replace(/\/bench$/, "");

interface Options {
  quick: boolean;
  only?: string;
  runs?: number;
  readme?: boolean;
  verbose: boolean;
  list: boolean;
}

/** The results file: everything measured, and where. */
interface Results {
  mode: "quick" | "full";
  startedAt: string;
  durationSeconds: number;
  runsPerFigure: number;
  scenarios: string[];
  sizes: BenchContext["sizes"];
  /** Load averages when the bench finished (the machine has them at the start). */
  loadAverageAtEnd: number[];
  machine: Machine;
  rows: Row[];
  comparisons: ComparisonResult[];
}

function parseOptions(argv: string[]): Options {
  const program = new Command()
    .name("bench")
    .description("Benchmarks of cloud against Redis, Dask and plain Python, on this machine.")
    .option("--quick", "short smoke run: fewer runs and smaller sizes", false)
    .option(
      "--only <scenarios>",
      `comma-separated: ${scenarios.map((s) => s.id).join(", ")}, or issue numbers 1-7`,
    )
    .option("--runs <count>", "runs per figure (default 5, quick 3)", (value) => {
      const count = Number(value);
      if (!Number.isInteger(count) || count < 1) {
        throw new Error(`Cannot use --runs: ${value} is no count`);
      }
      return count;
    })
    .option(
      "--readme",
      "write the table into bench/README.md (default: full runs of all scenarios)",
    )
    .option("--no-readme", "leave bench/README.md alone")
    .option("--verbose", "show the logs of Dask and the other peers", false)
    .option("--list", "list the scenarios and exit", false);
  program.parse(argv, { from: "user" });
  return program.opts<Options>();
}

function makeLogger(started: number): (message: string) => void {
  return (message) => {
    const seconds = ((performance.now() - started) / 1000).toFixed(1).padStart(6);
    console.error(`[bench ${seconds}s] ${message}`);
  };
}

async function runScenarios(context: BenchContext, selected: Scenario[]): Promise<Row[]> {
  const rows: Row[] = [];
  for (const scenario of selected) {
    context.log(`— ${scenario.id}: ${scenario.title}`);
    rows.push(...await scenario.run(context));
    await settle();
  }
  return rows;
}

/**
 * Writes out what a scenario left in the page cache (the bulk scenario
 * leaves gigabytes), so that the kernel's writeback of it does not take CPU
 * from the next scenario.
 */
async function settle(): Promise<void> {
  try {
    await new Deno.Command("sync", { stdout: "null", stderr: "null" }).output();
  } catch {
    // No sync(1): the next scenario may share the CPU with writeback.
  }
}

async function writeResults(results: Results): Promise<string> {
  await Deno.mkdir(`${benchDir}/results`, { recursive: true });
  const stamp = results.startedAt.replace(/[:]/g, "-").replace(/\.\d+Z$/, "Z");
  const path = `${benchDir}/results/${stamp}-${results.mode}.json`;
  await Deno.writeTextFile(path, JSON.stringify(results, null, 2) + "\n");
  return path;
}

function loadText(loadAverage: number[]): string {
  return loadAverage.map((value) => value.toFixed(2)).join(" / ");
}

function machineLine(results: Results): string {
  const { machine } = results;
  const { tools } = machine;
  const found = (version: string | undefined) => version ?? "not found";
  const memory = (machine.memoryBytes / 2 ** 30).toFixed(0);
  return [
    `Machine: ${machine.cores} cores (${machine.cpuModel}), ${memory} GiB, ${machine.os},`,
    `Linux ${machine.kernel}; Deno ${machine.deno.deno}, PyPy ${found(tools.pypy?.version)},`,
    `Python ${found(tools.python?.version)}, Redis ${found(tools.redisServer?.version)},`,
    `Dask ${found(tools.daskPython?.dask)} / distributed ${found(tools.daskPython?.distributed)}.`,
    `Load average ${loadText(machine.loadAverage)} at the start,`,
    `${
      loadText(results.loadAverageAtEnd)
    } at the end (other work on the machine widens the spread).`,
  ].join(" ");
}

async function updateReadme(results: Results, resultsPath: string): Promise<void> {
  const path = `${benchDir}/README.md`;
  const when = results.startedAt.slice(0, 16).replace("T", " ");
  const runLine = `Measured ${when} UTC, ${results.mode} run (${results.runsPerFigure} runs per ` +
    `figure, ${Math.round(results.durationSeconds)} s); results in ` +
    `\`bench/results/${resultsPath.split("/").pop()}\`.`;
  const table = renderMarkdown(results.rows, results.comparisons);
  const readme = await Deno.readTextFile(path);
  const generated = `${runLine}\n\n${machineLine(results)}\n\n${table}`;
  await Deno.writeTextFile(path, replaceBetweenMarks(readme, generated));
  // Leave the README as `deno fmt` wants it, so the project's format check stays clean.
  await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", path], stdin: "null" })
    .output();
}

async function main(argv: string[]): Promise<void> {
  const options = parseOptions(argv);
  if (options.list) {
    for (const s of scenarios) {
      console.log(`${s.id.padEnd(8)} issue ${s.issueNumbers.join("+")}: ${s.title}`);
    }
    return;
  }
  const selected = selectScenarios(options.only);
  const startedAt = new Date();
  const started = performance.now();
  const log = makeLogger(started);
  const procs = new ProcessRegistry();
  const tmpDir = await Deno.makeTempDir({ prefix: "cloud-bench-" });
  const onSignal = () => {
    console.error("\n[bench] interrupted: stopping every process it started");
    procs.killAllNow();
    Deno.removeSync(tmpDir, { recursive: true });
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    const tools = await findTools();
    const machine = await describeMachine(repoRoot, tools);
    const context: BenchContext = {
      repoRoot,
      tmpDir,
      procs,
      quick: options.quick,
      log,
      runs: options.runs ?? (options.quick ? 3 : 5),
      cacheDir: `${benchDir}/.cache`,
      tools,
      cores: machine.cores,
      sizes: sizesFor(options.quick),
      verbose: options.verbose,
    };
    log(
      `${
        options.quick ? "quick" : "full"
      } run, ${context.runs} runs per figure, ${machine.cores} cores`,
    );
    const rows = await runScenarios(context, selected);
    const comparisons = compare(rows, selected.flatMap((s) => s.comparisons));
    console.log(renderText(rows, comparisons));
    const results: Results = {
      mode: options.quick ? "quick" : "full",
      startedAt: startedAt.toISOString(),
      durationSeconds: (performance.now() - started) / 1000,
      runsPerFigure: context.runs,
      scenarios: selected.map((s) => s.id),
      sizes: context.sizes,
      machine,
      rows,
      comparisons,
      loadAverageAtEnd: Deno.loadavg(),
    };
    const path = await writeResults(results);
    log(`results written to ${path}`);
    if (options.readme ?? (!options.quick && options.only === undefined)) {
      await updateReadme(results, path);
      log("table written into bench/README.md");
    }
  } finally {
    await procs.stopAll();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    await Deno.remove(tmpDir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  await main(Deno.args);
}
