/**
 * Test helper: a strict parser of the Prometheus text exposition format
 * (0.0.4), written from the format's description, to check that what
 * /metrics serves is what a Prometheus server would accept: every sample
 * belongs to a family declared with `# TYPE`, names and labels are well
 * formed, values are numbers, counters end in `_total`, histogram buckets
 * are cumulative and end with `le="+Inf"` equal to `_count`.
 *
 * @module
 */

/** One parsed sample. */
export interface ParsedSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A parsed exposition: families by name with their type, and every sample. */
export interface ParsedExposition {
  readonly types: ReadonlyMap<string, string>;
  readonly samples: readonly ParsedSample[];
}

const metricName = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const sampleLine = new RegExp(`^(${metricName})(?:\\{(.*)\\})? (\\S+)(?: (-?[0-9]+))?$`);

function parseValue(text: string, line: number): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  if (!/^[-+]?([0-9]*\.)?[0-9]+([eE][-+]?[0-9]+)?$/.test(text)) {
    throw new Error(`line ${line}: bad value ${JSON.stringify(text)}`);
  }
  return Number(text);
}

function parseLabels(text: string, line: number): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest.length > 0) {
    const match = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,|$)/.exec(rest);
    if (!match) throw new Error(`line ${line}: bad labels ${JSON.stringify(text)}`);
    if (match[1]! in labels) throw new Error(`line ${line}: label ${match[1]} twice`);
    labels[match[1]!] = match[2]!.replace(
      /\\(.)/g,
      (_, c: string) => (c === "n" ? "\n" : c),
    );
    rest = rest.slice(match[0].length);
  }
  return labels;
}

/** The family a sample name belongs to, given the declared types. */
function familyOf(name: string, types: ReadonlyMap<string, string>): string | undefined {
  if (types.has(name)) return name;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    const base = name.slice(0, -suffix.length);
    if (name.endsWith(suffix) && types.get(base) === "histogram") return base;
  }
  return undefined;
}

/**
 * Parses an exposition.
 *
 * @throws {Error} naming the line, on anything a strict reader would refuse.
 */
export function parsePrometheus(text: string): ParsedExposition {
  if (!text.endsWith("\n")) throw new Error("exposition does not end with a newline");
  const types = new Map<string, string>();
  const samples: ParsedSample[] = [];
  const lines = text.slice(0, -1).split("\n");
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (raw.startsWith("# TYPE ")) {
      const [name, type, ...extra] = raw.slice(7).split(" ");
      if (!name || !new RegExp(`^${metricName}$`).test(name) || extra.length > 0) {
        throw new Error(`line ${line}: bad TYPE line`);
      }
      if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(type ?? "")) {
        throw new Error(`line ${line}: unknown type ${type}`);
      }
      if (types.has(name)) throw new Error(`line ${line}: ${name} declared twice`);
      if (type === "counter" && !name.endsWith("_total")) {
        throw new Error(`line ${line}: counter ${name} does not end in _total`);
      }
      types.set(name, type!);
      return;
    }
    if (raw.startsWith("#") || raw === "") return;
    const match = sampleLine.exec(raw);
    if (!match) throw new Error(`line ${line}: not a sample: ${JSON.stringify(raw)}`);
    const name = match[1]!;
    if (familyOf(name, types) === undefined) {
      throw new Error(`line ${line}: ${name} has no TYPE before it`);
    }
    samples.push({
      name,
      labels: parseLabels(match[2] ?? "", line),
      value: parseValue(match[3]!, line),
    });
  });
  checkHistograms(types, samples);
  return { types, samples };
}

function checkHistograms(types: ReadonlyMap<string, string>, samples: readonly ParsedSample[]) {
  for (const [family, type] of types) {
    if (type !== "histogram") continue;
    const series = new Map<string, { buckets: [number, number][]; count?: number }>();
    for (const sample of samples) {
      if (familyOf(sample.name, types) !== family) continue;
      const { le, ...rest } = sample.labels;
      const key = JSON.stringify(rest);
      const entry = series.get(key) ?? { buckets: [] };
      series.set(key, entry);
      if (sample.name === `${family}_bucket`) {
        if (le === undefined) throw new Error(`${family}_bucket without le`);
        entry.buckets.push([le === "+Inf" ? Infinity : Number(le), sample.value]);
      } else if (sample.name === `${family}_count`) entry.count = sample.value;
    }
    for (const [key, { buckets, count }] of series) {
      for (let i = 1; i < buckets.length; i++) {
        if (!(buckets[i]![0] > buckets[i - 1]![0]) || buckets[i]![1] < buckets[i - 1]![1]) {
          throw new Error(`${family}${key}: buckets not increasing and cumulative`);
        }
      }
      const last = buckets.at(-1);
      if (!last || last[0] !== Infinity || last[1] !== count) {
        throw new Error(`${family}${key}: no +Inf bucket equal to _count`);
      }
    }
  }
}

/** The value of the sample `name` with exactly `labels` among those given (undefined when absent). */
export function sampleValue(
  parsed: ParsedExposition,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number | undefined {
  const wanted = JSON.stringify(Object.entries(labels).sort());
  return parsed.samples.find((s) =>
    s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === wanted
  )?.value;
}

/** The sum of the samples of `name` whose labels include `labels`. */
export function sampleSum(
  parsed: ParsedExposition,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  return parsed.samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}
