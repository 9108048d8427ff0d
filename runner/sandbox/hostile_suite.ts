/**
 * Jobs that try to escape, run against every backend. Each must be contained
 * (the job fails with a clear reason, or its attempt fails harmlessly inside
 * the job) and the next job on the same sandbox must still run.
 *
 * @module
 */

import { type NewSandbox, registerSuite } from "./_suite_helpers.ts";
import { bombCases } from "./hostile_bombs.ts";
import { setUpHost } from "./hostile_host.ts";
import { kernelCases } from "./hostile_kernel.ts";
import { reachCases } from "./hostile_reach.ts";
import { trickCases } from "./hostile_tricks.ts";

/**
 * Tight limits so bombs end fast, with room for a loaded CI machine: a
 * Pyodide memory bomb takes ~0.5 s alone, and with four other cases burning
 * both cores on a machine at load 10-15 it went past a 6 s wall limit
 * (reason timeout instead of memory). CPU stays at 6 s, so busy loops still
 * end early; only the sleeping case waits for the whole wall limit. Pyodide
 * enforces CPU time as wall time, so its suite raises `cpuSeconds` to the
 * wall limit (pyodide_test.ts), or its bombs would still have only 6 s.
 */
const hostileLimits = {
  wallMs: 12_000,
  cpuSeconds: 6,
  memoryBytes: 256 * 1024 * 1024,
  processes: 16,
  stdoutBytesMax: 1024 * 1024,
  stderrBytesMax: 4 * 1024,
};

/** Every case, in the order they are started. */
const cases = [...reachCases, ...bombCases, ...trickCases, ...kernelCases];

/**
 * Registers the escape attempts for one backend as one `Deno.test`
 * (`<name> sandbox hostile suite`) whose cases run concurrently on one
 * sandbox with tight limits.
 */
export function runHostileSuite(name: string, newSandbox: NewSandbox): void {
  registerSuite(`${name} sandbox hostile suite`, () => newSandbox(hostileLimits), cases, {
    concurrency: 5,
    setup: setUpHost,
  });
}
