/**
 * Picks and starts a sandbox backend.
 *
 * @module
 */

import { type BwrapMode, createBwrapSandbox } from "./bwrap.ts";
import { createPyodideSandbox } from "./pyodide.ts";
import type { Sandbox, SandboxKind, SandboxLimits } from "./sandbox.ts";

/** Options of {@linkcode createSandbox}. */
export interface CreateSandboxOptions {
  /**
   * `"bwrap"` or `"pyodide"`, or `"auto"` (default): bwrap when bubblewrap
   * and an interpreter are present and a jailed run works with every limit
   * enforceable, else pyodide.
   */
  readonly kind?: "auto" | SandboxKind;
  /** Interpreter for bwrap: a name looked up in `PATH` or a path (default pypy3, else python3). */
  readonly python?: string;
  /** bubblewrap: a name looked up in `PATH` or a path (default `bwrap`). */
  readonly bwrapPath?: string;
  /**
   * bwrap: `"fork"` (a zygote per long-lived jail forks a child per job) or
   * `"fresh"` (a jail and interpreter per job); default fork when it works.
   * See `BwrapOptions.mode`.
   */
  readonly mode?: BwrapMode;
  /** bwrap: extra package directories, read-only on jobs' `sys.path` (see `BwrapOptions.packages`). */
  readonly packages?: readonly string[];
  /** Overrides of the default limits (limits.ts). */
  readonly limits?: Partial<SandboxLimits>;
  /** Interpreters kept started ahead of time (backend default if absent). */
  readonly warm?: number;
  /** bwrap: where the sandbox makes its own directory (see `BwrapOptions.workDir`). */
  readonly workDir?: string;
  /** Told why `"auto"` did not take bwrap. */
  readonly onFallback?: (reason: string) => void;
}

/**
 * Creates the sandbox `options.kind` asks for. With `"auto"`, tries bwrap
 * and falls back to pyodide if it cannot start.
 *
 * Throws `Error` with one line naming the cause and the fix when the
 * requested backend (or, for `"auto"`, both) cannot start.
 */
export async function createSandbox(options: CreateSandboxOptions = {}): Promise<Sandbox> {
  const kind = options.kind ?? "auto";
  const packages = options.packages ?? [];
  const pyodide = () => createPyodideSandbox({ limits: options.limits, warm: options.warm });
  if (kind === "pyodide") {
    if (packages.length > 0) {
      throw new Error(
        "Cannot start pyodide sandbox: package directories (--packages) work with the bwrap sandbox only; fix: install bubblewrap (apt-get install bubblewrap pypy3) and use --sandbox bwrap",
      );
    }
    return await pyodide();
  }
  let bwrapFailure: string;
  try {
    return await createBwrapSandbox({
      python: options.python,
      bwrapPath: options.bwrapPath,
      mode: options.mode,
      packages,
      limits: options.limits,
      warm: options.warm,
      workDir: options.workDir,
    });
  } catch (error) {
    if (kind === "bwrap") throw error;
    bwrapFailure = error instanceof Error ? error.message : String(error);
  }
  // Pyodide cannot offer the packages a job was promised.
  if (packages.length > 0) throw new Error(bwrapFailure);
  options.onFallback?.(bwrapFailure);
  try {
    return await pyodide();
  } catch (error) {
    const pyodideFailure = error instanceof Error ? error.message : String(error);
    throw new Error(`Cannot start a sandbox: ${bwrapFailure}; and ${pyodideFailure}`);
  }
}
