/**
 * The seeded simulation of a ring (tests/sim.ts, tests/sim_workload.ts):
 * the real Node code on in-memory stores, a virtual clock and an in-memory
 * network, under kills and restarts, lost messages, partitions and joins.
 * A run is decided by its seed; a failure prints the seed, what was
 * violated and the events that led there.
 *
 * - `SIM_SEED=<n> deno test -A tests/simulation_test.ts` replays one seed
 *   (and prints its statistics).
 * - `SIM_RUNS=<n>` runs n seeds from `SIM_FIRST` (default 1) instead of the
 *   default count.
 */

import assert from "node:assert/strict";
import { type SimResult, simulate } from "./sim_workload.ts";

/**
 * Seeds that found bugs (each failed on the code before its fix); they keep
 * running as fixed cases. A code or workload change sends a seed's run
 * another way, so tests/sim_scenarios_test.ts also scripts the bugs by
 * hand; the one of two results of one attempt that never converged (found
 * by seed 16 of the first workload) is covered there only.
 */
const regressions: { seed: number; bug: string }[] = [
  {
    seed: 425,
    bug: "a late UPD, decided on a copy read before a 10 s PULL timeout, replaced the result " +
      "accepted meanwhile (also tests/sim_scenarios_test.ts)",
  },
  {
    seed: 137,
    bug: "a UPD arriving while another report of the job was being stored was acknowledged " +
      "before any copy held a result",
  },
  {
    seed: 442,
    bug: "a report's output was stored but its server died before the job's copies; the job " +
      "ran again and kept another result than the output readers had seen",
  },
  {
    seed: 491,
    bug: "the record of a job finished from its output ranked equal to the report's own record " +
      "on the other side of a split brain: two copies of one version that never converged",
  },
];

/** Seeds run by default: about a third of a second each here (the file takes ~25 s). */
const defaultRuns = 60;

function report(result: SimResult): string {
  return [
    `Simulation seed ${result.seed} failed; replay with SIM_SEED=${result.seed} deno test -A tests/simulation_test.ts`,
    ...result.violations.map((violation) => `  ✗ ${violation}`),
    `statistics: ${JSON.stringify(result.stats)}`,
    `events:`,
    ...result.trace.map((line) => `  ${line}`),
  ].join("\n");
}

/** Runs the seeds; throws the first failure's report, naming every failing seed. */
async function check(seeds: readonly number[], verbose = false): Promise<void> {
  const failures: SimResult[] = [];
  for (const seed of seeds) {
    const result = await simulate(seed);
    if (verbose) console.log(`seed ${seed}: ${JSON.stringify(result.stats)}`);
    if (result.violations.length > 0) failures.push(result);
  }
  if (failures.length === 0) return;
  const seedList = failures.map((failure) => failure.seed).join(", ");
  throw new Error(`${report(failures[0]!)}\nFailing seeds: ${seedList}`);
}

Deno.test("simulate() replays a seed: the same run twice", async () => {
  const options = { traceEvents: 1_000_000, traceTail: 1_000_000 };
  const [first, second] = [await simulate(7, options), await simulate(7, options)];
  assert.ok(first.trace.length > 1_000, `${first.trace.length} events`);
  assert.deepEqual(second.stats, first.stats);
  assert.deepEqual(second.trace, first.trace);
});

const only = Deno.env.get("SIM_SEED");
const runs = Number(Deno.env.get("SIM_RUNS") ?? defaultRuns);
const first = Number(Deno.env.get("SIM_FIRST") ?? 1);

if (only !== undefined) {
  Deno.test(`simulate() keeps every invariant with seed ${only}`, async () => {
    await check([Number(only)], true);
  });
} else {
  Deno.test("simulate() keeps every invariant on the seeds that found bugs", async () => {
    await check(regressions.map(({ seed }) => seed));
  });
  Deno.test(`simulate() keeps every invariant on seeds ${first}…${first + runs - 1}`, async () => {
    await check(Array.from({ length: runs }, (_, i) => first + i));
  });
}
