/**
 * The lifecycle every sandbox backend shares: jobs are refused once the
 * sandbox closes; each job runs under a signal that aborts with its own
 * signal or with the sandbox's closing; work in flight (jobs, interpreters
 * starting, cleanups) is tracked so that `close` returns only once all of it
 * has settled; and closing happens once. Also the two results a backend gives
 * without running a job.
 *
 * @module
 */

import type { SandboxJob, SandboxResult } from "./sandbox.ts";

/** Steps of {@linkcode SandboxLifecycle.close}, in order. */
export interface ClosingSteps {
  /** After the closing signal aborts: stop what is idle (warm interpreters, waiting jobs). */
  readonly stop?: () => void | Promise<void>;
  /** After every tracked promise settled: remove what the sandbox made. */
  readonly cleanup?: () => Promise<void>;
}

/** One sandbox's open/closing state and its work in flight. */
export class SandboxLifecycle {
  readonly #closing = new AbortController();
  readonly #pending = new Set<Promise<unknown>>();

  /** Whether the sandbox has begun closing. */
  get closed(): boolean {
    return this.#closing.signal.aborted;
  }

  /** Aborts when the sandbox begins closing. */
  get signal(): AbortSignal {
    return this.#closing.signal;
  }

  /**
   * Runs `body` for `job` with a signal that aborts with the job's signal or
   * the sandbox's closing, tracked until it settles. Once the sandbox is
   * closed, returns a `"sandbox-error"` result instead.
   */
  async run(
    job: SandboxJob,
    body: (signal: AbortSignal) => Promise<SandboxResult>,
  ): Promise<SandboxResult> {
    if (this.closed) return sandboxError("Cannot run job: sandbox is closed");
    const signal = job.signal === undefined
      ? this.#closing.signal
      : AbortSignal.any([job.signal, this.#closing.signal]);
    return await this.track(body(signal));
  }

  /** Keeps `promise` in flight until it settles (`close` waits for it); returns it. */
  track<T>(promise: Promise<T>): Promise<T> {
    this.#pending.add(promise);
    promise.finally(() => this.#pending.delete(promise)).catch(() => {});
    return promise;
  }

  /**
   * Closes once (later calls return at once): aborts the closing signal,
   * runs `steps.stop`, waits until every tracked promise (including those
   * tracked meanwhile) has settled, then runs `steps.cleanup`.
   */
  async close(steps: ClosingSteps = {}): Promise<void> {
    if (this.closed) return;
    this.#closing.abort();
    await steps.stop?.();
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
    await steps.cleanup?.();
  }
}

/** A result for a job the sandbox could not run. */
export function sandboxError(detail: string): SandboxResult {
  return {
    exitCode: null,
    reason: "sandbox-error",
    detail,
    stdoutBytes: 0,
    stderr: new Uint8Array(),
    wallMs: 0,
  };
}

/** The result of a job stopped before it started (its signal, or the sandbox closing). */
export function killedBeforeStart(): SandboxResult {
  return {
    exitCode: null,
    reason: "killed",
    detail: "Killed: the runner stopped the job",
    stdoutBytes: 0,
    stderr: new Uint8Array(),
    wallMs: 0,
  };
}
