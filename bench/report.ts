/**
 * Turning results into text: the console table, the Markdown table for
 * bench/README.md, and the number formatting they share. Pure.
 *
 * @module
 */

import type { ComparisonResult, Row } from "./results.ts";

/** A number with 3 significant digits, thousands as k and millions as M. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return "–";
  const magnitude = Math.abs(value);
  if (magnitude >= 1e6) return `${trim(value / 1e6)}M`;
  if (magnitude >= 1e4) return `${trim(value / 1e3)}k`;
  return trim(value);
}

function trim(value: number): string {
  const magnitude = Math.abs(value);
  if (magnitude >= 100 || magnitude === 0) return value.toFixed(0);
  if (magnitude >= 10) return value.toFixed(1);
  if (magnitude >= 1) return value.toFixed(2);
  return value.toPrecision(2);
}

const rowHeader = [
  "scenario",
  "system",
  "case",
  "metric",
  "median",
  "spread (min–max)",
  "runs",
  "note",
];
const comparisonHeader = ["comparison", "value", "spread", "target", "note"];

/** The results table as lines of cells: one line per measure, or one per unmeasured row. */
export function rowCells(rows: readonly Row[]): string[][] {
  const lines: string[][] = [];
  for (const row of rows) {
    if (row.status !== "ok" || row.measures.length === 0) {
      const status = row.status === "ok" ? "no figures" : row.status;
      lines.push([row.scenario, row.system, row.caseLabel, "", status, "", "", row.note ?? ""]);
      continue;
    }
    row.measures.forEach((m, index) => {
      const unit = m.unit ? ` ${m.unit}` : "";
      lines.push([
        row.scenario,
        row.system,
        row.caseLabel,
        m.metric,
        `${formatNumber(m.figure.median)}${unit}`,
        `${formatNumber(m.figure.min)}–${formatNumber(m.figure.max)}`,
        String(m.figure.values.length),
        index === 0 ? row.note ?? "" : "",
      ]);
    });
  }
  return lines;
}

/** The comparisons as lines of cells. */
export function comparisonCells(results: readonly ComparisonResult[]): string[][] {
  return results.map((result) => {
    if (result.value === undefined) {
      return [result.label, "n/a", "", result.target ?? "", result.reason ?? ""];
    }
    const unit = result.unit === "×" ? "×" : result.unit ? ` ${result.unit}` : "";
    const spread = result.low === undefined || result.high === undefined
      ? ""
      : `${formatNumber(result.low)}–${formatNumber(result.high)}`;
    return [result.label, `${formatNumber(result.value)}${unit}`, spread, result.target ?? "", ""];
  });
}

/** Cells as a space-aligned text table with a header line. */
export function textTable(header: readonly string[], lines: readonly string[][]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...lines.map((line) => (line[column] ?? "").length))
  );
  const render = (cells: readonly string[]) =>
    cells.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd();
  return [render(header), render(widths.map((width) => "-".repeat(width))), ...lines.map(render)]
    .join("\n");
}

/** Cells as a Markdown table (pipes in cells escaped). */
export function markdownTable(header: readonly string[], lines: readonly string[][]): string {
  const render = (cells: readonly string[]) =>
    `| ${cells.map((cell) => cell.replaceAll("|", "\\|")).join(" | ")} |`;
  return [render(header), render(header.map(() => "---")), ...lines.map(render)].join("\n");
}

/** The results and comparisons as console text. */
export function renderText(rows: readonly Row[], comparisons: readonly ComparisonResult[]): string {
  return `${textTable(rowHeader, rowCells(rows))}\n\n${
    textTable(comparisonHeader, comparisonCells(comparisons))
  }`;
}

/** The results and comparisons as Markdown, for bench/README.md. */
export function renderMarkdown(
  rows: readonly Row[],
  comparisons: readonly ComparisonResult[],
): string {
  return `${markdownTable(rowHeader, rowCells(rows))}\n\n${
    markdownTable(comparisonHeader, comparisonCells(comparisons))
  }`;
}

/** Marks around the generated part of bench/README.md. */
export const readmeBegin = "<!-- bench:results:begin -->";
export const readmeEnd = "<!-- bench:results:end -->";

/**
 * Replace the text between the README marks with `generated`.
 *
 * @throws {Error} when the marks are missing or out of order.
 */
export function replaceBetweenMarks(readme: string, generated: string): string {
  const begin = readme.indexOf(readmeBegin);
  const end = readme.indexOf(readmeEnd);
  if (begin < 0 || end < begin) {
    throw new Error(`Cannot update README: marks ${readmeBegin} … ${readmeEnd} not found in order`);
  }
  return `${readme.slice(0, begin + readmeBegin.length)}\n${generated}\n${readme.slice(end)}`;
}
