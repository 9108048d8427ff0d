/**
 * Runs scenarios as tests: each with a fixed seed (or `NETNS_SEED`), the
 * report line printed every run, the first violation with its history on
 * failure, and known violations (known.ts) printed but tolerated.
 *
 * @module
 */

import { netnsUnavailable } from "./netns.ts";
import { runScenario, type Scenario } from "./scenario.ts";
import { classify, reportLine } from "./known.ts";
import { Random } from "../sim.ts";
import { scenarios } from "./scenarios.ts";

/** Why the network-namespace tests cannot run here, or null (printed once per file). */
export const unavailable = await netnsUnavailable();

/** Registers one `Deno.test` per scenario, each with its seed. */
export function scenarioTests(list: readonly { scenario: Scenario; seed: number }[]): void {
  if (unavailable) console.log(`tests/netns: skipped (${unavailable})`);
  for (const { scenario, seed } of list) {
    const chosen = Number(Deno.env.get("NETNS_SEED") ?? seed);
    Deno.test({
      name:
        `${scenario.name} scenario: every acknowledged object survives (${scenario.description}; seed ${chosen})`,
      ignore: unavailable !== null,
      sanitizeOps: false,
      sanitizeResources: false,
      fn: () => runChecked(scenario, chosen),
    });
  }
}

/** A test of one scenario picked, with its seed, by a seed drawn at random and printed. */
export function randomScenarioTest(): void {
  const seed = Number(
    Deno.env.get("NETNS_RANDOM_SEED") ?? crypto.getRandomValues(new Uint32Array(1))[0]! % 1_000_000,
  );
  const scenario = new Random(seed).pick(scenarios);
  Deno.test({
    name:
      `a random scenario with a random seed (this run: ${scenario.name}, seed ${seed}; NETNS_RANDOM_SEED=${seed} repeats it)`,
    ignore: unavailable !== null,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => runChecked(scenario, seed),
  });
}

/**
 * Runs a scenario and throws with the first violation when it found
 * anything not in KNOWN_VIOLATIONS.
 */
export async function runChecked(scenario: Scenario, seed: number): Promise<void> {
  const lines: string[] = [];
  const report = await runScenario(scenario, seed, { log: (line) => lines.push(line) });
  const { known, unknown } = classify(report);
  console.log(reportLine(report));
  for (const { finding, entry } of known) {
    console.log(`  KNOWN_VIOLATION (tolerated until fixed): ${finding}\n    ${entry.issue}`);
  }
  if (unknown.length > 0) {
    throw new Error(
      `${scenario.name} (seed ${seed}) found ${unknown.length} new violation(s):\n${
        unknown.map((u) => `  ${u}`).join("\n")
      }\n${report.text}\n--- scenario log\n${lines.slice(-200).join("\n")}`,
    );
  }
}
