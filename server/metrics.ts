/**
 * Counters, histograms and the Prometheus text exposition format (version
 * 0.0.4): families in, text out. Pure: no clock, no I/O; the server's own
 * metrics (which families, fed by what) are in metrics_server.ts.
 *
 * Names follow the Prometheus conventions: `snake_case`, the unit last
 * (`_seconds`, `_bytes`), `_total` on counters; a histogram renders as
 * `_bucket{le=…}` (cumulative), `_sum` and `_count`.
 *
 * @module
 */

/** Label names to values. */
export type Labels = Readonly<Record<string, string>>;

/** One value of a counter or gauge family. */
export interface Sample {
  readonly labels: Labels;
  readonly value: number;
}

/** One labelled series of a histogram: cumulative counts per upper bound. */
export interface HistogramSeries {
  readonly labels: Labels;
  /** Observations at or below each bound of the family's `buckets`, in order. */
  readonly cumulative: readonly number[];
  readonly sum: number;
  readonly count: number;
}

/** A metric family as the exposition renders it. */
export type MetricFamily =
  | {
    readonly name: string;
    readonly help: string;
    readonly type: "counter" | "gauge";
    readonly samples: readonly Sample[];
  }
  | {
    readonly name: string;
    readonly help: string;
    readonly type: "histogram";
    /** Upper bounds, increasing; `+Inf` is added. */
    readonly buckets: readonly number[];
    readonly series: readonly HistogramSeries[];
  };

const namePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelPattern = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Checks a metric name and its label names.
 *
 * @throws {RangeError} on a name Prometheus does not accept (a programmer error).
 */
function checkNames(name: string, labelNames: readonly string[]): void {
  if (!namePattern.test(name)) throw new RangeError(`Cannot define metric: bad name (${name})`);
  for (const label of labelNames) {
    if (!labelPattern.test(label) || label.startsWith("__") || label === "le") {
      throw new RangeError(`Cannot define metric ${name}: bad label name (${label})`);
    }
  }
}

/** The series key of label values, in the family's label order. */
function keyOf(labelNames: readonly string[], labels: Labels): string {
  let key = "";
  for (const name of labelNames) key += `${labels[name] ?? ""}\u0000`;
  return key;
}

/** A counter family: values that only go up, by label values. */
export class Counter {
  readonly name: string;
  readonly help: string;
  readonly #labelNames: readonly string[];
  readonly #series = new Map<string, { labels: Labels; value: number }>();

  /** A counter `name` (ending in `_total`) with labels `labelNames`. */
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    checkNames(name, labelNames);
    this.name = name;
    this.help = help;
    this.#labelNames = labelNames;
  }

  /** Adds `by` (default 1, never negative) to the series of `labels`. */
  inc(labels: Labels = {}, by = 1): void {
    if (!(by >= 0)) return;
    this.series(labels).value += by;
  }

  /** The series of `labels`, created at 0: keep it to count without looking it up again. */
  series(labels: Labels = {}): { value: number } {
    const key = keyOf(this.#labelNames, labels);
    let series = this.#series.get(key);
    if (!series) {
      series = { labels: this.#pick(labels), value: 0 };
      this.#series.set(key, series);
    }
    return series;
  }

  /** The value of the series of `labels` (0 when never counted). */
  value(labels: Labels = {}): number {
    return this.#series.get(keyOf(this.#labelNames, labels))?.value ?? 0;
  }

  #pick(labels: Labels): Labels {
    return Object.fromEntries(this.#labelNames.map((name) => [name, labels[name] ?? ""]));
  }

  /** The family to render. */
  family(): MetricFamily {
    return {
      name: this.name,
      help: this.help,
      type: "counter",
      samples: [...this.#series.values()].map(({ labels, value }) => ({ labels, value })),
    };
  }
}

/** A histogram family: observations counted into buckets, by label values. */
export class Histogram {
  readonly name: string;
  readonly help: string;
  readonly buckets: readonly number[];
  readonly #labelNames: readonly string[];
  readonly #series = new Map<
    string,
    { labels: Labels; counts: number[]; sum: number; count: number }
  >();

  /**
   * A histogram `name` with upper bounds `buckets` (increasing).
   *
   * @throws {RangeError} when the bounds do not increase.
   */
  constructor(
    name: string,
    help: string,
    options: { readonly buckets: readonly number[]; readonly labelNames?: readonly string[] },
  ) {
    const labelNames = options.labelNames ?? [];
    checkNames(name, labelNames);
    for (let i = 1; i < options.buckets.length; i++) {
      if (!(options.buckets[i]! > options.buckets[i - 1]!)) {
        throw new RangeError(`Cannot define histogram ${name}: buckets must increase`);
      }
    }
    this.name = name;
    this.help = help;
    this.buckets = options.buckets;
    this.#labelNames = labelNames;
    // Without labels the one series exists from the start: its buckets read 0, not nothing.
    if (labelNames.length === 0) {
      this.#series.set("", {
        labels: {},
        counts: new Array(this.buckets.length).fill(0),
        sum: 0,
        count: 0,
      });
    }
  }

  /** Counts one observation of `value` in the series of `labels`. */
  observe(value: number, labels: Labels = {}): void {
    this.series(labels)(value);
  }

  /**
   * The series of `labels` (created empty), as a function that counts one
   * observation: keep it to observe without looking the series up again.
   */
  series(labels: Labels = {}): (value: number) => void {
    const key = keyOf(this.#labelNames, labels);
    let series = this.#series.get(key);
    if (!series) {
      series = {
        labels: Object.fromEntries(this.#labelNames.map((name) => [name, labels[name] ?? ""])),
        counts: new Array(this.buckets.length).fill(0),
        sum: 0,
        count: 0,
      };
      this.#series.set(key, series);
    }
    const counted = series;
    const buckets = this.buckets;
    return (value) => {
      if (Number.isNaN(value)) return;
      // Per bucket, not cumulative: one increment per observation.
      let index = 0;
      while (index < buckets.length && value > buckets[index]!) index++;
      if (index < buckets.length) counted.counts[index]!++;
      counted.sum += value;
      counted.count++;
    };
  }

  /** Observations counted in the series of `labels`. */
  count(labels: Labels = {}): number {
    return this.#series.get(keyOf(this.#labelNames, labels))?.count ?? 0;
  }

  /** The family to render. */
  family(): MetricFamily {
    return {
      name: this.name,
      help: this.help,
      type: "histogram",
      buckets: this.buckets,
      series: [...this.#series.values()].map(({ labels, counts, sum, count }) => {
        let running = 0;
        return { labels, cumulative: counts.map((n) => (running += n)), sum, count };
      }),
    };
  }
}

/** A gauge family from values known now. */
export function gauge(name: string, help: string, samples: readonly Sample[]): MetricFamily {
  checkNames(name, samples.flatMap((sample) => Object.keys(sample.labels)));
  return { name, help, type: "gauge", samples };
}

/** A number as the exposition writes it. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function escapeHelp(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

function labelText(labels: Labels, extra?: readonly [string, string]): string {
  const pairs = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabel(value)}"`);
  if (extra) pairs.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
}

/** Renders families as the Prometheus text exposition format (ends with a newline). */
export function renderExposition(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const family of families) {
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`);
    lines.push(`# TYPE ${family.name} ${family.type}`);
    if (family.type !== "histogram") {
      for (const sample of family.samples) {
        lines.push(`${family.name}${labelText(sample.labels)} ${formatValue(sample.value)}`);
      }
      continue;
    }
    for (const series of family.series) {
      family.buckets.forEach((bound, i) => {
        const le = labelText(series.labels, ["le", formatValue(bound)]);
        lines.push(`${family.name}_bucket${le} ${series.cumulative[i] ?? 0}`);
      });
      lines.push(
        `${family.name}_bucket${labelText(series.labels, ["le", "+Inf"])} ${series.count}`,
      );
      lines.push(`${family.name}_sum${labelText(series.labels)} ${formatValue(series.sum)}`);
      lines.push(`${family.name}_count${labelText(series.labels)} ${series.count}`);
    }
  }
  return lines.join("\n") + "\n";
}
