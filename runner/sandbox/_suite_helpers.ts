/**
 * Helpers shared by the sandbox test suites.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Sandbox, SandboxJob, SandboxResult } from "./sandbox.ts";

/** A finished job with its output read back. */
export interface Ran {
  readonly result: SandboxResult;
  readonly stdout: string;
  readonly stdoutBytes: Uint8Array;
  readonly stderr: string;
}

/** Makes a new sandbox for a suite. */
export type NewSandbox = (limits: Partial<Sandbox["limits"]>) => Promise<Sandbox>;

/** Runs `source` with `inputs` in a temporary directory and reads back stdout. */
export async function runJob(
  sandbox: Sandbox,
  source: string,
  options: { inputs?: SandboxJob["inputs"]; signal?: AbortSignal } = {},
): Promise<Ran> {
  const dir = await Deno.makeTempDir({ prefix: "cloud-sandbox-test-" });
  try {
    const stdoutPath = `${dir}/stdout`;
    const result = await sandbox.run({
      source,
      inputs: options.inputs ?? [],
      stdoutPath,
      signal: options.signal,
    });
    const stdoutBytes = result.stdout ??
      await Deno.readFile(stdoutPath).catch(() => new Uint8Array());
    return {
      result,
      stdout: new TextDecoder().decode(stdoutBytes),
      stdoutBytes,
      stderr: new TextDecoder().decode(result.stderr),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Asserts the job succeeded, showing stderr when it did not. */
export function assertSuccess(ran: Ran): void {
  assert.equal(
    ran.result.reason,
    null,
    `expected success, got ${ran.result.reason}: ${ran.result.detail}\n${ran.stderr}`,
  );
  assert.equal(ran.result.exitCode, 0);
}

/** Asserts that a trivial job still runs on `sandbox` (after a hostile one). */
export async function assertStillRuns(sandbox: Sandbox): Promise<void> {
  const ran = await runJob(sandbox, "print('still ok')");
  assertSuccess(ran);
  assert.equal(ran.stdout, "still ok\n");
}

/** A temporary directory removed after `body`. */
export async function withTempDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "cloud-sandbox-test-" });
  try {
    return await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Lowercase hex SHA-256 of `bytes`. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  return digest.toHex();
}

/** Deterministic pseudo-random bytes (xorshift32), so failures replay. */
export function pseudoRandomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    out[i] = state & 0xff;
  }
  return out;
}

/**
 * Registers one `Deno.test` named `name` whose cases run as concurrent steps
 * on one sandbox (made by `newSandbox`, closed at the end).
 */
export function registerSuite(
  name: string,
  newSandbox: () => Promise<Sandbox>,
  cases: ReadonlyArray<{ name: string; run: (sandbox: Sandbox) => Promise<void> }>,
  options: { concurrency: number; setup?: () => Promise<() => Promise<void>> } = { concurrency: 8 },
): void {
  Deno.test({ name, sanitizeOps: false, sanitizeResources: false }, async (t) => {
    const teardown = await options.setup?.();
    const sandbox = await newSandbox();
    try {
      const queue = [...cases];
      const workers = Array.from({ length: options.concurrency }, async () => {
        for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
          const testCase = next;
          await t.step({
            name: testCase.name,
            sanitizeOps: false,
            sanitizeResources: false,
            sanitizeExit: false,
            fn: () => testCase.run(sandbox),
          });
        }
      });
      await Promise.all(workers);
    } finally {
      await sandbox.close();
      await teardown?.();
    }
  });
}

/** Host pids of processes whose command line mentions `text`. */
export async function pidsMentioning(text: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`).catch(() => "");
    if (cmdline.includes(text)) pids.push(Number(entry.name));
  }
  return pids;
}
