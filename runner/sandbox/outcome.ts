/**
 * Turns what a supervisor observed about a finished job into its failure
 * reason and a one-line detail. Pure, shared by every backend.
 *
 * @module
 */

import type { FailureReason } from "./sandbox.ts";

/** What the supervising code saw while a job ran. */
export interface Observation {
  /** Exit status (128 + n for death by signal n), `null` if unknown. */
  readonly exitCode: number | null;
  /** The job's signal was aborted and we killed it. */
  readonly aborted: boolean;
  /** Standard output went over its limit and we killed the job. */
  readonly stdoutOverflow: boolean;
  /** The wall-clock (or pyodide's CPU) limit passed and we killed the job. */
  readonly wallTimeout: boolean;
  /** The kernel's OOM killer acted inside the job's memory cgroup. */
  readonly oomKilled: boolean;
  /** The sandbox could not run or supervise the job; says why. */
  readonly sandboxError: string | null;
  /** The last line of the job's standard error (trimmed), or `""`. */
  readonly stderrLastLine: string;
}

/** The limits the detail line names. */
export interface OutcomeLimits {
  readonly wallMs: number;
  readonly cpuSeconds: number;
  readonly memoryBytes: number;
  readonly stdoutBytesMax: number;
}

/** A reason (`null` = success) and its detail line. */
export interface Outcome {
  readonly reason: FailureReason | null;
  readonly detail: string;
}

/** SIGXCPU: RLIMIT_CPU's soft limit was reached. */
const sigxcpu = 24;
/** SIGKILL. */
const sigkill = 9;

/**
 * Classifies a finished job. What the supervisor did itself comes first (an
 * abort, an output overflow, a wall timeout), then what the kernel did
 * (sandbox failure, OOM kill, CPU limit), then how the job ended.
 */
export function classifyOutcome(seen: Observation, limits: OutcomeLimits): Outcome {
  if (seen.aborted) return { reason: "killed", detail: "Killed: the runner stopped the job" };
  if (seen.stdoutOverflow) {
    return {
      reason: "output-limit",
      detail: `Output limit reached: more than ${limits.stdoutBytesMax} bytes of stdout`,
    };
  }
  if (seen.wallTimeout) {
    return { reason: "timeout", detail: `Time limit reached: ${limits.wallMs} ms wall clock` };
  }
  if (seen.sandboxError !== null) return { reason: "sandbox-error", detail: seen.sandboxError };
  if (seen.oomKilled) {
    return { reason: "memory", detail: `Memory limit reached: ${limits.memoryBytes} bytes` };
  }
  if (seen.exitCode === 0) return { reason: null, detail: "" };
  if (seen.exitCode === 128 + sigxcpu) {
    return { reason: "timeout", detail: `Time limit reached: ${limits.cpuSeconds} s of CPU` };
  }
  if (isMemoryErrorLine(seen.stderrLastLine)) {
    return { reason: "memory", detail: `Memory limit reached: ${seen.stderrLastLine}` };
  }
  return { reason: "exception", detail: exitDetail(seen) };
}

function isMemoryErrorLine(line: string): boolean {
  // CPython and Pyodide end the traceback with "MemoryError"; PyPy may abort
  // with "MemoryError" in its fatal error report, or with its allocator's
  // own words when the address space runs out outside the GC heap. A Pyodide
  // job whose JavaScript allocation (`import js`) found its worker's address
  // space spent ends with V8's RangeError, wrapped in a JsException.
  return /^MemoryError\b/.test(line) || /Fatal RPython error: MemoryError/.test(line) ||
    /^out of memory: couldn't allocate/.test(line) ||
    /^using too much memory, aborting/.test(line) ||
    /^pyodide\.ffi\.JsException: RangeError: (Array buffer allocation failed|.*could not allocate memory)/
      .test(line);
}

function exitDetail(seen: Observation): string {
  if (seen.exitCode === null) return "Exited: status unknown";
  if (seen.exitCode === 128 + sigkill) return "Killed by signal 9";
  if (seen.exitCode > 128) return `Killed by signal ${seen.exitCode - 128}`;
  if (seen.exitCode === 1 && seen.stderrLastLine !== "") return seen.stderrLastLine;
  return `Exited with status ${seen.exitCode}`;
}

/** The last non-empty line of `text`, trimmed and cut to 200 characters. */
export function lastLine(text: string): string {
  const lines = text.split("\n").map((line) => line.trim()).filter((line) => line !== "");
  return (lines.at(-1) ?? "").slice(0, 200);
}
