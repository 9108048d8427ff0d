/**
 * Violations the scenarios find in today's server, recorded for issue 17
 * (item 4, fixing them, comes later): a scenario whose only findings match
 * its entries here passes, and prints them every run; any other finding
 * fails it. Remove an entry once the server is fixed.
 *
 * @module
 */

import type { ScenarioReport } from "./scenario.ts";

/** A violation known to happen, with what issue 17 says of it. */
export interface KnownViolation {
  readonly scenario: string;
  /** Matches the finding's text (a checker violation or a failed expectation). */
  readonly matches: RegExp;
  readonly issue: string;
}

/** The findings of today's server (see the report of the first run of these scenarios). */
export const KNOWN_VIOLATIONS: readonly KnownViolation[] = [
  {
    scenario: "disk-full",
    matches: /reads while its disk was full/,
    issue:
      "issue 17 (disk full): a server whose disk is full NACKs reads too, as `internal: database or disk is full`: " +
      "Node.handle (server/node.ts:265) awaits the store's shared write batch (store.ts:248-262, one COMMIT per " +
      "tick for every request's writes) after every request, GETs included, so a GET that wrote nothing fails with " +
      "the batch's COMMIT; a GET that fetched a copy from a peer also writes it (read repair, node.ts #find)",
  },
  {
    scenario: "disk-full",
    matches: /refused while s2's disk was full did not say so/,
    issue:
      "issue 17 (disk full): a write refused for a full disk is `NACK:internal` (node.ts:273) or, through a " +
      "peer, `NACK:unavailable ... refused a copy ... internal` (node.ts #writeTo): no reason of its own",
  },
];

/** A scenario's findings: each violation's and each failed expectation's text. */
export function findings(report: ScenarioReport): string[] {
  return [
    ...report.result.violations.map((v) => `${v.kind}: ${v.message}`),
    ...report.expectations,
  ];
}

/** Splits findings into known ones (with their entry) and new ones. */
export function classify(
  report: ScenarioReport,
): { known: { finding: string; entry: KnownViolation }[]; unknown: string[] } {
  const known: { finding: string; entry: KnownViolation }[] = [];
  const unknown: string[] = [];
  for (const finding of findings(report)) {
    const entry = KNOWN_VIOLATIONS.find((k) =>
      k.scenario === report.name && k.matches.test(finding)
    );
    if (entry) known.push({ finding, entry });
    else unknown.push(finding);
  }
  return { known, unknown };
}

/** One line per scenario run: operations checked, violations, time to heal. */
export function reportLine(report: ScenarioReport): string {
  const { known, unknown } = classify(report);
  const heal = report.healMs === null ? "not healed" : `healed in ${report.healMs} ms`;
  const anomalies = Object.values(report.result.anomalies).reduce((a, b) => a + b, 0);
  return `${report.name} seed ${report.seed}: ${report.result.operations} operations checked, ${report.result.violations.length} violations, ${report.expectations.length} failed expectations (${known.length} known, ${unknown.length} new), ${anomalies} anomalies, ${heal}`;
}
