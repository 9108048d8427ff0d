/**
 * Prints a digest of the whole trace and of the statistics of simulated
 * runs (tests/sim_workload.ts), one seed a line: a refactoring that must not
 * change behaviour keeps every line the same. Every message sent, every
 * reply, every server's log line and every kill is in the trace, in order,
 * so a change in what the servers do (or in the order they do it) shows.
 *
 * ```sh
 * deno run -A tests/sim_digest.ts            # seeds 1…20 and the regression seeds
 * deno run -A tests/sim_digest.ts 100 5      # seeds 100…104
 * deno run -A tests/sim_digest.ts > before.txt  # then diff against a later run
 * ```
 *
 * @module
 */

import { sha256Hex } from "../protocol/digest.ts";
import { simulate } from "./sim_workload.ts";

/** Seeds tests/simulation_test.ts keeps as regressions. */
const regressionSeeds = [425, 137, 442, 491];

/** Events kept: more than any run has, so the digest covers the whole trace. */
const everyEvent = 10_000_000;

/** One line for `seed`: its events, a digest of the trace, a digest of the statistics. */
export async function digestLine(seed: number): Promise<string> {
  const result = await simulate(seed, { traceEvents: everyEvent, traceTail: everyEvent });
  const trace = sha256Hex(result.trace.join("\n")).slice(0, 16);
  const stats = sha256Hex(JSON.stringify(Object.entries(result.stats).sort())).slice(0, 16);
  const verdict = result.violations.length === 0 ? "ok" : `${result.violations.length} violations`;
  return `seed ${seed}: ${result.trace.length} events, trace ${trace}, stats ${stats}, ${verdict}`;
}

if (import.meta.main) {
  const [first, count] = Deno.args.map(Number);
  const seeds = first === undefined
    ? [...Array.from({ length: 20 }, (_, i) => i + 1), ...regressionSeeds]
    : Array.from({ length: count ?? 1 }, (_, i) => first + i);
  for (const seed of seeds) console.log(await digestLine(seed));
}
