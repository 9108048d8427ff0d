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
  /** Interpreter for bwrap (default: /usr/bin/pypy3, else /usr/bin/python3). */
  readonly python?: string;
  /** bubblewrap binary (default /usr/bin/bwrap). */
  readonly bwrapPath?: string;
  /**
   * bwrap: `"fork"` (a zygote per long-lived jail forks a child per job) or
   * `"fresh"` (a jail and interpreter per job); default fork when it works.
   * See `BwrapOptions.mode`.
   */
  readonly mode?: BwrapMode;
  /** Overrides of the default limits (limits.ts). */
  readonly limits?: Partial<SandboxLimits>;
  /** Interpreters kept started ahead of time (backend default if absent). */
  readonly warm?: number;
  /** bwrap: directory for per-job `/net` links (see `BwrapOptions.workDir`). */
  readonly workDir?: string;
  /** Told why `"auto"` did not take bwrap. */
  readonly onFallback?: (reason: string) => void;
}

/**
 * Creates the sandbox `options.kind` asks for. With `"auto"`, probes bwrap
 * once (a jailed `sys.path` print) and falls back to pyodide if that fails.
 *
 * Throws `Error` when the requested backend (or, for `"auto"`, both) cannot
 * start.
 */
export async function createSandbox(options: CreateSandboxOptions = {}): Promise<Sandbox> {
  const kind = options.kind ?? "auto";
  const pyodide = () => createPyodideSandbox({ limits: options.limits, warm: options.warm });
  if (kind === "pyodide") return await pyodide();
  try {
    return await createBwrapSandbox({
      python: options.python,
      bwrapPath: options.bwrapPath,
      mode: options.mode,
      limits: options.limits,
      warm: options.warm,
      workDir: options.workDir,
    });
  } catch (error) {
    if (kind === "bwrap") throw error;
    options.onFallback?.(error instanceof Error ? error.message : String(error));
    return await pyodide();
  }
}
