/**
 * Pure statistics for the bench: the median-and-spread summary of repeated
 * runs, and the nearest-rank percentile used for latency samples.
 *
 * @module
 */

/** A figure measured over several runs: its median and its spread. */
export interface Figure {
  median: number;
  min: number;
  max: number;
  /** First and third quartiles (linear interpolation), for the IQR. */
  q1: number;
  q3: number;
  /** Every run's value, in run order. */
  values: number[];
}

/** Quantile `fraction` (0..1) of ascending `sorted` by linear interpolation; NaN when empty. */
export function quantile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return NaN;
  const position = (sorted.length - 1) * Math.min(1, Math.max(0, fraction));
  const below = Math.floor(position);
  const above = Math.ceil(position);
  const low = sorted[below]!;
  const high = sorted[above]!;
  return low + (high - low) * (position - below);
}

/**
 * Nearest-rank percentile of ascending `sorted`: the smallest value with at
 * least `fraction` of the samples at or below it (p99 of 100 samples is the
 * 99th). NaN when empty. bench/dask/common.py uses the same rule.
 */
export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil(fraction * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

/**
 * Summarize the values of repeated runs as median, min, max and quartiles.
 *
 * @throws {RangeError} when `values` is empty.
 */
export function summarize(values: readonly number[]): Figure {
  if (values.length === 0) throw new RangeError("Cannot summarize runs: no values");
  const sorted = [...values].sort((a, b) => a - b);
  return {
    median: quantile(sorted, 0.5),
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
    q1: quantile(sorted, 0.25),
    q3: quantile(sorted, 0.75),
    values: [...values],
  };
}

/**
 * Ratio of two figures, oriented so that above 1 means `subject` is better:
 * subject/peer for higher-is-better metrics, peer/subject for lower-is-better.
 * The range pairs the worst with the worst and the best with the best runs.
 */
export function relative(
  subject: Figure,
  peer: Figure,
  better: "higher" | "lower",
): { value: number; low: number; high: number } {
  if (better === "higher") {
    return {
      value: subject.median / peer.median,
      low: subject.min / peer.max,
      high: subject.max / peer.min,
    };
  }
  return {
    value: peer.median / subject.median,
    low: peer.min / subject.max,
    high: peer.max / subject.min,
  };
}
