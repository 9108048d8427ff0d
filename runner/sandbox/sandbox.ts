/**
 * The one interface every Python sandbox backend implements, and the types a
 * runner codes against. Pure: no `Deno.*` calls here.
 *
 * A job is Python source plus a namespace of read-only input files. Inside
 * the job:
 *
 * - `/net/<name>` reads the input with that name. The caller has already
 *   resolved "the last object with that name wins" and hands over one host
 *   path per name. Names that are not safe relative paths are not visible
 *   (see {@linkcode planNetEntries} in `net_names.ts`): `""`, `"."`, `".."`,
 *   any empty, `.` or `..` segment, a leading `/`, a NUL byte, a segment
 *   longer than 255 bytes. A name with `/` inside maps to subdirectories of
 *   `/net` (`"a/b"` is `/net/a/b`), unless an earlier name already claimed
 *   that path as a file (or as a directory), in which case the later name is
 *   skipped.
 * - Nothing can be opened for writing: the attempt raises `OSError` (EROFS,
 *   "Read-only file system") inside the job, which the job may catch.
 *   `/dev/null` stays writable.
 * - The job's standard output becomes its output file; it streams to
 *   {@linkcode SandboxJob.stdoutPath} and is never held whole in memory.
 *   Standard error is kept (capped) in {@linkcode SandboxResult.stderr}. The
 *   two never mix.
 * - Standard input is empty. There is no network.
 *
 * Every {@linkcode Sandbox.run} call runs in a fresh interpreter that ran no
 * other job (a new one, or a new fork of one that never runs jobs itself): a
 * job never sees a previous job's state.
 *
 * @module
 */

import {
  sandboxCpuSeconds,
  sandboxMemoryBytes,
  sandboxProcesses,
  sandboxStderrBytesMax,
  sandboxStdoutBytesMax,
  sandboxWallMs,
} from "../../limits.ts";

/** One job for a sandbox. */
export interface SandboxJob {
  /** Python source, run as `__main__` (UTF-8). */
  readonly source: string;
  /**
   * The job's inputs: `/net/<name>` reads the host file at `path`. The
   * sandbox never writes these files. When a name appears twice the later
   * entry wins; unsafe names are skipped (see the module documentation).
   */
  readonly inputs: ReadonlyArray<{ readonly name: string; readonly path: string }>;
  /**
   * Host file that receives the job's standard output. The caller creates its
   * directory; the sandbox creates or truncates the file and streams into it.
   * After a failure it holds what the job printed before failing (up to
   * {@linkcode SandboxLimits.stdoutBytesMax}).
   */
  readonly stdoutPath: string;
  /**
   * Aborting kills the job at once (the runner is shutting down); the result
   * then has reason `"killed"`. An already aborted signal kills the job before
   * it starts.
   */
  readonly signal?: AbortSignal;
  /**
   * Told of the job's standard error as it arrives, while the job runs (a
   * job so short that its output is read after it ended: not at all); the
   * result's {@linkcode SandboxResult.stderr} is the same bytes, capped.
   */
  readonly onStderr?: (chunk: Uint8Array) => void;
}

/**
 * Bounds on one job. A backend enforces each as described on the field and
 * reports a crossing as a {@linkcode FailureReason}.
 */
export interface SandboxLimits {
  /** Wall-clock time from delivery of the job to its end; crossing: `"timeout"`. */
  readonly wallMs: number;
  /**
   * CPU seconds per process (bwrap: RLIMIT_CPU; pyodide, one thread: enforced
   * as a wall-clock bound). Crossing: `"timeout"`.
   */
  readonly cpuSeconds: number;
  /**
   * Memory in bytes (bwrap: RLIMIT_AS per process and a memory cgroup for the
   * whole job where available; pyodide: the WebAssembly memory and the JS
   * heap). Crossing: `"memory"` (or `"exception"` if the job catches its
   * `MemoryError` and fails otherwise).
   */
  readonly memoryBytes: number;
  /**
   * Processes and threads of the job, the interpreter included (bwrap only:
   * pids cgroup or RLIMIT_NPROC; pyodide cannot start processes). Crossing
   * makes `fork` or thread creation fail inside the job (`OSError` EAGAIN).
   */
  readonly processes: number;
  /** Standard output bytes; crossing kills the job: `"output-limit"`. */
  readonly stdoutBytesMax: number;
  /**
   * Standard error bytes kept in the result: the head and the tail with a
   * marker line between them. Never a failure by itself.
   */
  readonly stderrBytesMax: number;
}

/**
 * Why a job failed.
 *
 * - `"exception"`: the job raised an uncaught exception or exited with a
 *   non-zero status (or died by a signal not explained below).
 * - `"timeout"`: the wall-clock or CPU limit was reached.
 * - `"memory"`: the memory limit was reached (uncaught `MemoryError`, or the
 *   kernel's out-of-memory killer inside the job's memory cgroup).
 * - `"output-limit"`: standard output exceeded its limit; the job was killed.
 * - `"killed"`: the job's {@linkcode SandboxJob.signal} was aborted.
 * - `"sandbox-error"`: the sandbox itself failed (could not start, lost its
 *   worker, could not write the output file). The job may be retried.
 */
export type FailureReason =
  | "exception"
  | "timeout"
  | "memory"
  | "output-limit"
  | "killed"
  | "sandbox-error";

/** The outcome of one job. */
export interface SandboxResult {
  /**
   * Exit status of the job's interpreter: 0 on success, the status passed to
   * `sys.exit`, 1 for an uncaught exception, 128 + n when killed by signal n;
   * `null` when the sandbox failed before or without learning it.
   */
  readonly exitCode: number | null;
  /** `null` on success (exit status 0 and no limit crossed). */
  readonly reason: FailureReason | null;
  /**
   * One line for people: empty on success, else what happened, e.g.
   * `Wall-clock limit reached: 2000 ms` or `ZeroDivisionError: division by zero`.
   */
  readonly detail: string;
  /** Bytes of stdout: written to {@linkcode SandboxJob.stdoutPath}, or in {@linkcode stdout}. */
  readonly stdoutBytes: number;
  /**
   * The job's whole stdout, when the sandbox kept it in memory (a short job
   * whose output was read after it ended); `stdoutPath` is then not written.
   */
  readonly stdout?: Uint8Array;
  /**
   * The job's standard error, at most {@linkcode SandboxLimits.stderrBytesMax}
   * bytes; when longer, its head and tail with a marker line between them.
   */
  readonly stderr: Uint8Array;
  /** Wall-clock milliseconds from delivery of the job to its end. */
  readonly wallMs: number;
}

/** The backends. */
export type SandboxKind = "bwrap" | "pyodide";

/**
 * A Python sandbox. `run` may be called concurrently; each call runs one job
 * in a fresh interpreter (a backend may start interpreters ahead of time, or
 * fork them from one that runs no jobs, but never gives one interpreter two
 * jobs). `run` does not throw for anything a
 * job does; a broken sandbox gives reason `"sandbox-error"`.
 */
export interface Sandbox {
  /** Which backend this is. */
  readonly name: SandboxKind;
  /** The limits every job of this sandbox runs under. */
  readonly limits: SandboxLimits;
  /** Runs one job to its end, kills what it started, and reports. */
  run(job: SandboxJob): Promise<SandboxResult>;
  /**
   * Stops every process the sandbox started (interpreters kept warm and jobs
   * still running, which end with reason `"killed"`) and removes its
   * temporary files. Later `run` calls fail with `"sandbox-error"`.
   */
  close(): Promise<void>;
}

/** The limits a sandbox uses when the caller gives none (see `limits.ts`). */
export const defaultSandboxLimits: SandboxLimits = Object.freeze({
  wallMs: sandboxWallMs,
  cpuSeconds: sandboxCpuSeconds,
  memoryBytes: sandboxMemoryBytes,
  processes: sandboxProcesses,
  stdoutBytesMax: sandboxStdoutBytesMax,
  stderrBytesMax: sandboxStderrBytesMax,
});
