/**
 * Every scenario of the bench, in the order they run and print.
 *
 * @module
 */

import { bulkScenario } from "./bulk.ts";
import type { Scenario } from "./context.ts";
import { dagScenario } from "./dag.ts";
import { jobsScenario } from "./jobs.ts";
import { objectsScenario } from "./objects.ts";
import { repairScenario } from "./repair.ts";
import { ringScenario } from "./ring.ts";

/** All scenarios. */
export const scenarios: readonly Scenario[] = [
  objectsScenario,
  bulkScenario,
  jobsScenario,
  dagScenario,
  repairScenario,
  ringScenario,
];

/**
 * The scenarios `only` names (ids or issue numbers, comma-separated), in run order.
 *
 * @throws {Error} on a name that is no scenario.
 */
export function selectScenarios(only: string | undefined): Scenario[] {
  if (only === undefined) return [...scenarios];
  const wanted = only.split(",").map((name) => name.trim()).filter(Boolean);
  for (const name of wanted) {
    const known = scenarios.some((s) => s.id === name || s.issueNumbers.includes(Number(name)));
    if (!known) {
      const ids = scenarios.map((s) => s.id).join(", ");
      throw new Error(
        `Cannot select scenario: unknown name ${JSON.stringify(name)} (known: ${ids}, or 1-7)`,
      );
    }
  }
  return scenarios.filter((s) =>
    wanted.some((name) => s.id === name || s.issueNumbers.includes(Number(name)))
  );
}
