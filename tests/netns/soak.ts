/**
 * `deno task soak --minutes N [--seed S] [--only a,b] [--strict]`: runs scenarios picked at random
 * (each with a seed drawn from S), with the history checker, for about N
 * minutes; prints the seed first, one line per scenario run, and a summary.
 * Exits 1 when a run found a violation not in KNOWN_VIOLATIONS (its first
 * violation and history are printed; with `--strict` known ones count
 * too, with their servers' and runners' logs), 2 on bad usage, 77 when network
 * namespaces cannot be used here.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Random } from "../sim.ts";
import { netnsUnavailable } from "./netns.ts";
import { runScenario, type ScenarioReport } from "./scenario.ts";
import { scenarios } from "./scenarios.ts";
import { classify, reportLine } from "./known.ts";

function usage(message: string): never {
  console.error(
    `soak: ${message}\nusage: deno task soak --minutes N [--seed S] [--only name,…] [--strict]`,
  );
  Deno.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    args: Deno.args,
    options: {
      minutes: { type: "string" },
      seed: { type: "string" },
      only: { type: "string" },
      strict: { type: "boolean" },
    },
  });
} catch (error) {
  usage((error as Error).message);
}
const minutes = Number(parsed.values.minutes ?? "10");
if (!Number.isFinite(minutes) || minutes <= 0) {
  usage(`--minutes must be a positive number (got ${parsed.values.minutes})`);
}
const seed = parsed.values.seed === undefined
  ? crypto.getRandomValues(new Uint32Array(1))[0]! % 1_000_000
  : Number(parsed.values.seed);
if (!Number.isSafeInteger(seed)) usage(`--seed must be an integer (got ${parsed.values.seed})`);
const only = parsed.values.only?.split(",");
const strict = parsed.values.strict ?? false;
const pool = only ? scenarios.filter((s) => only.includes(s.name)) : scenarios;
if (pool.length === 0) usage(`no scenario named ${only?.join(", ")}`);

const unavailable = await netnsUnavailable();
if (unavailable) {
  console.error(`soak: cannot run: ${unavailable}`);
  Deno.exit(77);
}

console.log(`soak: seed ${seed} (--seed ${seed} repeats this schedule), ${minutes} minutes`);
const rng = new Random(seed);
const started = Date.now();
const budgetMs = minutes * 60_000;
const reports: ScenarioReport[] = [];
let failed = 0;
let longestMs = 0;
for (;;) {
  const elapsed = Date.now() - started;
  // Start another run only if one as long as the longest so far still fits.
  if (reports.length > 0 && elapsed + longestMs > budgetMs) break;
  const scenario = rng.pick(pool);
  const runSeed = rng.int(1, 1_000_000);
  const runStart = Date.now();
  const lines: string[] = [];
  let report: ScenarioReport;
  try {
    report = await runScenario(scenario, runSeed, { log: (line) => lines.push(line) });
  } catch (error) {
    console.log(`${scenario.name} seed ${runSeed}: could not run: ${(error as Error).message}`);
    failed++;
    break;
  }
  longestMs = Math.max(longestMs, Date.now() - runStart);
  reports.push(report);
  const { known, unknown } = classify(report);
  console.log(`[${((Date.now() - started) / 60_000).toFixed(1)} min] ${reportLine(report)}`);
  for (const { finding } of known) console.log(`  KNOWN_VIOLATION: ${finding}`);
  if (unknown.length > 0 || (strict && known.length > 0)) {
    failed++;
    console.log(unknown.map((u) => `  NEW: ${u}`).join("\n"));
    console.log(report.text);
    if (strict) console.log(lines.join("\n"));
  }
}

console.log(
  `\nsoak: ${reports.length} runs in ${
    ((Date.now() - started) / 60_000).toFixed(1)
  } min, seed ${seed}`,
);
console.log("scenario            runs  operations  violations  heal ms (median / max)");
for (const scenario of pool) {
  const runs = reports.filter((r) => r.name === scenario.name);
  if (runs.length === 0) continue;
  const heals = runs.map((r) => r.healMs ?? Infinity).sort((a, b) => a - b);
  const operations = runs.reduce((sum, r) => sum + r.result.operations, 0);
  const violations = runs.reduce(
    (sum, r) => sum + r.result.violations.length + r.expectations.length,
    0,
  );
  console.log(
    `${scenario.name.padEnd(20)}${String(runs.length).padStart(4)}${
      String(operations).padStart(12)
    }${String(violations).padStart(12)}  ${heals[Math.floor(heals.length / 2)]} / ${heals.at(-1)}`,
  );
}
if (failed > 0) {
  console.log(`soak: ${failed} run(s) found new violations (seed ${seed})`);
  Deno.exit(1);
}
