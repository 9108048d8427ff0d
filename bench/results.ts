/**
 * The bench's result model, pure: rows of measured figures, rows that say
 * why a system was not measured, and comparisons (ratios to a peer, or a
 * figure against an absolute target) evaluated from the rows.
 *
 * @module
 */

import { type Figure, relative, summarize } from "./stats.ts";

/** Why a row has figures or not. */
export type RowStatus = "ok" | "not installed" | "not implemented yet" | "failed";

/** One metric of a row, over the runs. */
export interface Measure {
  metric: string;
  unit: string;
  better: "higher" | "lower";
  figure: Figure;
}

/** One system on one case of a scenario. */
export interface Row {
  scenario: string;
  caseLabel: string;
  system: string;
  /** Stable id used by comparisons: `scenario/case/system`. */
  key: string;
  status: RowStatus;
  measures: Measure[];
  note?: string;
}

/** A figure of a row, named by the row's key and the measure's metric. */
export interface FigureRef {
  key: string;
  metric: string;
}

/** A comparison the table reports: subject relative to a peer, or subject against a target. */
export interface Comparison {
  label: string;
  subject: FigureRef;
  /** When present the value is a ratio oriented so that above 1 means the subject is better. */
  peer?: FigureRef;
  /** The target for this figure, e.g. `{ op: ">=", value: 0.6 }` (× for ratios). */
  target?: { op: ">=" | "<="; value: number };
  /** Unit of an absolute comparison (no peer), shown even when the subject was not measured. */
  unit?: string;
}

/** A comparison with its value, or the reason it has none. */
export interface ComparisonResult {
  label: string;
  unit: string;
  value?: number;
  low?: number;
  high?: number;
  target?: string;
  reason?: string;
}

/** A measure built from per-run values. */
export function measure(
  metric: string,
  unit: string,
  better: "higher" | "lower",
  values: number[],
): Measure {
  return { metric, unit, better, figure: summarize(values) };
}

function findMeasure(rows: readonly Row[], ref: FigureRef): Measure | string {
  const row = rows.find((candidate) => candidate.key === ref.key);
  if (!row) return `${ref.key} not run`;
  if (row.status !== "ok") return `${row.system}: ${row.status}`;
  return row.measures.find((m) => m.metric === ref.metric) ?? `${ref.key} has no ${ref.metric}`;
}

/** Evaluate comparisons against the rows; a missing or unmeasured side gives a reason instead. */
export function compare(
  rows: readonly Row[],
  comparisons: readonly Comparison[],
): ComparisonResult[] {
  return comparisons.map((comparison) => {
    const subject = findMeasure(rows, comparison.subject);
    const peer = comparison.peer ? findMeasure(rows, comparison.peer) : undefined;
    const unit = comparison.peer
      ? "×"
      : comparison.unit ?? (typeof subject === "string" ? "" : subject.unit);
    const spacer = unit === "×" || unit === "" ? "" : " ";
    const op = comparison.target?.op === ">=" ? "≥" : "≤";
    const target = comparison.target && `${op} ${comparison.target.value}${spacer}${unit}`;
    const base = { label: comparison.label, unit, target };
    if (typeof subject === "string") return { ...base, reason: subject };
    if (typeof peer === "string") return { ...base, reason: peer };
    if (peer === undefined) {
      return {
        ...base,
        value: subject.figure.median,
        low: subject.figure.min,
        high: subject.figure.max,
      };
    }
    return { ...base, ...relative(subject.figure, peer.figure, subject.better) };
  });
}

/** Rows for a system that was not measured, one per case so the table keeps its shape. */
export function statusRows(
  scenario: string,
  cases: readonly { key: string; label: string }[],
  system: { key: string; label: string },
  status: Exclude<RowStatus, "ok">,
  note: string,
): Row[] {
  return cases.map((c) => ({
    scenario,
    caseLabel: c.label,
    system: system.label,
    key: `${scenario}/${c.key}/${system.key}`,
    status,
    measures: [],
    note,
  }));
}
