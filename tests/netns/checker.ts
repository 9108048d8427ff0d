/**
 * The history checker: pure, judges a {@linkcode History} after the fact.
 *
 * Violations (each fails a scenario):
 *
 * - `lost`: an acknowledged object (ADD or JADD) is not readable with its
 *   exact content (for a job: a finished output) after healing;
 * - `phantom`: a read returned content that no client ever wrote there;
 * - `not-one-run`: a job's output is not the output of one run of that job
 *   (not exactly one run token, a digest that does not match what it read,
 *   or what it read is not a content its input ever had);
 * - `changed`: two reads of one job's output returned different results,
 *   or a dependent job read an output that later changed (what it read is
 *   not the output every final read returns).
 *
 * Anomalies (counted and printed, not failures): a read that found nothing
 * (`not-found`) although the object had been acknowledged before the read
 * began, while faults were in place.
 *
 * @module
 */

import { sha256Hex } from "../../protocol/digest.ts";
import type { AddOp, Op, OutputOp, ReadOp, SubmitOp } from "./history.ts";

/** What went wrong, where. */
export interface Violation {
  readonly kind: "lost" | "phantom" | "not-one-run" | "changed";
  readonly message: string;
  /** The hashes involved: the history printed around a violation is theirs. */
  readonly hashes: readonly string[];
  /** The operation that shows it. */
  readonly op?: Op;
}

/** The checker's verdict. */
export interface CheckResult {
  readonly operations: number;
  readonly violations: readonly Violation[];
  /** Reads that found nothing although the object had been acknowledged, by kind. */
  readonly anomalies: Readonly<Record<string, number>>;
}

/** What a job output says of its run. */
export interface ParsedOutput {
  readonly runs: readonly string[];
  readonly sha: string;
  /** The input as the run read it. */
  readonly input: string;
}

/** Parses the output of a {@linkcode jobCode} job; lines that fit no pattern make it malformed. */
export function parseOutput(text: string): ParsedOutput | string {
  if (text === "") return "empty output";
  const runs: string[] = [];
  let sha: string | undefined;
  let input: string | undefined;
  const lines = text.endsWith("\n") ? text.slice(0, -1).split("\n") : text.split("\n");
  for (const line of lines) {
    if (line.startsWith("run ")) runs.push(line.slice(4));
    else if (line.startsWith("sha ") && sha === undefined) sha = line.slice(4);
    else if (line.startsWith("in ") && input === undefined) {
      try {
        input = new TextDecoder("utf-8", { fatal: true }).decode(
          Uint8Array.fromBase64(line.slice(3)),
        );
      } catch {
        return `bad input line ${JSON.stringify(line.slice(0, 80))}`;
      }
    } else return `unexpected line ${JSON.stringify(line.slice(0, 80))}`;
  }
  if (sha === undefined || input === undefined) return "no sha or in line";
  return { runs, sha, input };
}

/** Checks a history (see the module doc). */
export function check(ops: readonly Op[]): CheckResult {
  const violations: Violation[] = [];
  const anomalies: Record<string, number> = {};
  const adds = ops.filter((op): op is AddOp => op.kind === "add");
  const reads = ops.filter((op): op is ReadOp => op.kind === "read");
  const submits = ops.filter((op): op is SubmitOp => op.kind === "submit");
  const outputs = ops.filter((op): op is OutputOp => op.kind === "output");

  const written = new Map<string, AddOp[]>();
  for (const add of adds) {
    const list = written.get(add.hash) ?? [];
    list.push(add);
    written.set(add.hash, list);
  }
  const jobByOutput = new Map<string, SubmitOp>();
  for (const submit of submits) {
    if (submit.output !== undefined) jobByOutput.set(submit.output, submit);
  }

  // phantom: every value read was written there, by an ADD begun before the read ended.
  for (const read of reads) {
    if (read.outcome !== "ok") continue;
    const candidates = written.get(read.hash) ?? [];
    if (!candidates.some((add) => add.text === read.value && add.start <= read.end)) {
      violations.push({
        kind: "phantom",
        message: `read of ${read.hash} returned ${
          JSON.stringify(read.value?.slice(0, 80))
        }, which no ADD begun before it wrote there`,
        hashes: [read.hash],
        op: read,
      });
    }
  }

  // lost: every acknowledged file has final reads, all returning its content.
  for (const add of adds) {
    if (add.outcome !== "ok") continue;
    const finals = reads.filter((r) => r.hash === add.hash && r.phase === "final");
    if (finals.length === 0) {
      violations.push({
        kind: "lost",
        message: `acknowledged ${add.hash} was never read after healing`,
        hashes: [add.hash],
        op: add,
      });
      continue;
    }
    const bad = finals.find((r) => r.outcome !== "ok" || r.value !== add.text);
    if (bad) {
      violations.push({
        kind: "lost",
        message: `acknowledged ${add.hash} read after healing via ${bad.server}: ${
          bad.outcome === "ok" ? `content ${JSON.stringify(bad.value?.slice(0, 80))}` : bad.error
        }, expected ${JSON.stringify(add.text.slice(0, 80))}`,
        hashes: [add.hash],
        op: bad,
      });
    }
  }

  // Why `content` is not a content `hash` could have had, or null when it is: a
  // file's written text, or for a job's output the output of one run of that
  // job on a content its input could have had.
  const wrongContent = (hash: string, content: string, depth = 0): string | null => {
    const job = jobByOutput.get(hash);
    if (!job) {
      return (written.get(hash) ?? []).some((add) => add.text === content)
        ? null
        : `${JSON.stringify(content.slice(0, 80))} was never written to ${hash}`;
    }
    const parsed = parseOutput(content);
    if (typeof parsed === "string") return parsed;
    if (parsed.runs.length !== 1) return `${parsed.runs.length} run lines`;
    if (parsed.sha !== sha256Hex(parsed.input)) return "its digest does not match what it read";
    if (depth > 16) return null;
    const upstream = wrongContent(job.input, parsed.input, depth + 1);
    return upstream === null ? null : `what it read of ${job.input} is wrong: ${upstream}`;
  };

  // not-one-run, changed: per job output.
  const outputsByHash = new Map<string, OutputOp[]>();
  for (const read of outputs) {
    if (read.outcome !== "ok") continue;
    const list = outputsByHash.get(read.output) ?? [];
    list.push(read);
    outputsByHash.set(read.output, list);
  }
  for (const [hash, list] of outputsByHash) {
    const job = jobByOutput.get(hash);
    for (const read of list) {
      const problem = wrongContent(hash, read.value!);
      if (problem !== null) {
        violations.push({
          kind: "not-one-run",
          message: `output ${hash} of job ${read.job} is not the output of one run: ${problem}`,
          hashes: [hash, read.job, ...(job ? [job.input] : [])],
          op: read,
        });
        break;
      }
    }
    const first = list[0]!;
    const different = list.find((read) => read.value !== first.value);
    if (different) {
      violations.push({
        kind: "changed",
        message: `output ${hash} of job ${first.job} changed: read as run ${
          runOf(first.value!)
        } (op ${first.id}) and as run ${runOf(different.value!)} (op ${different.id})`,
        hashes: [hash, first.job],
        op: different,
      });
    }
  }

  // changed: a dependent read an upstream output that is not its final output.
  for (const submit of submits) {
    const upstream = jobByOutput.get(submit.input);
    if (!upstream || submit.output === undefined) continue;
    const finalUpstream = outputs.find((o) =>
      o.output === submit.input && o.phase === "final" && o.outcome === "ok"
    );
    if (!finalUpstream) continue;
    for (const read of outputsByHash.get(submit.output) ?? []) {
      const parsed = parseOutput(read.value!);
      if (typeof parsed === "string" || parsed.input === finalUpstream.value) continue;
      violations.push({
        kind: "changed",
        message: `job ${submit.job} read output ${submit.input} as run ${
          runOf(parsed.input)
        }, but that output is finally run ${runOf(finalUpstream.value!)}`,
        hashes: [submit.output, submit.job ?? "", submit.input, upstream.job ?? ""],
        op: read,
      });
      break;
    }
  }

  // lost: every acknowledged job has a finished output after healing.
  for (const submit of submits) {
    if (submit.outcome !== "ok" || submit.output === undefined) continue;
    const finals = outputs.filter((o) => o.output === submit.output && o.phase === "final");
    const good = finals.some((o) => o.outcome === "ok");
    if (!good) {
      const last = finals.at(-1);
      violations.push({
        kind: "lost",
        message:
          `acknowledged job ${submit.job} has no readable output ${submit.output} after healing${
            last ? ` (${last.error})` : " (never read)"
          }`,
        hashes: [submit.output, submit.job ?? ""],
        op: last ?? submit,
      });
    }
  }

  // anomalies: an acknowledged object reported absent during the faults.
  const acknowledged = new Map<string, number>();
  for (const add of adds) {
    if (add.outcome === "ok") {
      acknowledged.set(add.hash, Math.min(acknowledged.get(add.hash) ?? Infinity, add.end));
    }
  }
  for (const read of reads) {
    if (read.outcome === "ok" || read.phase !== "load") continue;
    const ackedAt = acknowledged.get(read.hash);
    if (ackedAt === undefined || ackedAt > read.start) continue;
    const key = `acknowledged object read as ${read.error?.split(":")[0] ?? read.outcome}`;
    anomalies[key] = (anomalies[key] ?? 0) + 1;
  }

  violations.sort((a, b) => (a.op?.end ?? 0) - (b.op?.end ?? 0));
  return { operations: ops.length, violations, anomalies };
}

function runOf(output: string): string {
  const parsed = parseOutput(output);
  return typeof parsed === "string" ? `(${parsed})` : parsed.runs.join("+") || "(none)";
}

/** One line per operation, for printing. */
export function formatOp(op: Op, origin = 0): string {
  const time = `${((op.start - origin) / 1000).toFixed(3)}-${
    ((op.end - origin) / 1000).toFixed(3)
  }s`;
  const what = op.kind === "add"
    ? `add ${op.hash} ${JSON.stringify(op.text.slice(0, 40))}`
    : op.kind === "read"
    ? `read ${op.hash}${
      op.value === undefined ? "" : ` = ${JSON.stringify(op.value.slice(0, 40))}`
    }`
    : op.kind === "submit"
    ? `submit ${op.name} input ${op.input}${op.job ? ` -> job ${op.job} output ${op.output}` : ""}`
    : `output ${op.output} of ${op.job}${
      op.value === undefined
        ? ""
        : ` = run ${runOf(op.value)} read ${
          JSON.stringify((parseOutput(op.value) as ParsedOutput).input?.slice(0, 50) ?? "")
        }`
    }`;
  return `#${op.id} ${time} ${op.client} ${op.phase} via ${op.server}: ${what} -> ${op.outcome}${
    op.error ? ` (${op.error})` : ""
  }`;
}

/** The first violation, the operations on the hashes it involves (at most `around`), and the seed. */
export function formatViolation(
  result: CheckResult,
  ops: readonly Op[],
  seed: number,
  around = 30,
): string {
  const first = result.violations[0];
  if (!first) return `no violations in ${result.operations} operations (seed ${seed})`;
  const origin = ops.reduce((min, op) => Math.min(min, op.start), Infinity);
  const related = ops.filter((op) =>
    first.hashes.some((hash) =>
      hash !== "" && (
        (op.kind === "add" || op.kind === "read") && op.hash === hash ||
        op.kind === "submit" && (op.job === hash || op.output === hash || op.input === hash) ||
        op.kind === "output" && (op.output === hash || op.job === hash)
      )
    )
  ).sort((a, b) => a.start - b.start);
  const shown = related.length > around ? related.slice(-around) : related;
  return [
    `${result.violations.length} violation(s) in ${result.operations} operations; first (seed ${seed}):`,
    `  ${first.kind}: ${first.message}`,
    `  history of ${first.hashes.filter(Boolean).join(", ")} (times from the first operation):`,
    ...shown.map((op) => `    ${formatOp(op, origin)}`),
  ].join("\n");
}
