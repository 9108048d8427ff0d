/**
 * The edges of the client's command line: local files and stdin in, stdout
 * out, and every error as one line with an exit status. Kept apart from
 * the subcommands (cli.ts) so that what they map to is tested alone.
 *
 * @module
 */

import { ConnectionError } from "../protocol/connection.ts";
import { CloudError } from "./errors.ts";

/** Exit statuses: 1 a job or file failed, 2 a usage or input error, 3 unreachable, 4 timeout. */
export const exitStatus = { failed: 1, usage: 2, unreachable: 3, timeout: 4 } as const;

const encoder = new TextEncoder();

/** Writes text or bytes to stdout, whole. */
export async function print(text: string | Uint8Array): Promise<void> {
  await writeTo(Deno.stdout, typeof text === "string" ? encoder.encode(text) : text);
}

/** Writes all of `bytes` to `target`. */
export async function writeTo(
  target: { write(p: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await target.write(bytes.subarray(offset));
}

/**
 * What a finished job's `add-job` adds on stderr: its hash and output's, then
 * the last `maxLines` lines of its stderr (noting how many were left out).
 */
export function jobSummary(job: string, output: string, stderr: string, maxLines = 20): string {
  const lines = stderr.trimEnd() === "" ? [] : stderr.trimEnd().split("\n");
  const shown = lines.slice(-maxLines);
  const skipped = lines.length - shown.length;
  return [
    `job ${job} done, output ${output}${lines.length === 0 ? ", no stderr" : ", stderr:"}`,
    ...(skipped > 0 ? [`  … ${skipped} earlier line${skipped === 1 ? "" : "s"}`] : []),
    ...shown.map((line) => `  ${line}`),
  ].join("\n");
}

/** Clears a progress line and shows the cursor again on a terminal stderr (after Ctrl-C). */
export function restoreTerminal(): void {
  if (!Deno.stderr.isTerminal()) return;
  Deno.stderr.writeSync(encoder.encode("\r\x1b[2K\x1b[?25h"));
}

const cleanups = new Set<() => void>();

/** Runs `cleanup` if Ctrl-C comes while `whileInterruptible` runs; returns its undoer. */
export function atInterrupt(cleanup: () => void): () => void {
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

/**
 * Runs `work`; Ctrl-C (SIGINT) meanwhile runs the cleanups registered with
 * {@linkcode atInterrupt}, restores the terminal and exits with status 130.
 */
export async function whileInterruptible<T>(work: () => Promise<T>): Promise<T> {
  const interrupted = () => {
    for (const cleanup of cleanups) {
      try {
        cleanup();
      } catch {
        // Leave nothing half done for one failing cleanup.
      }
    }
    restoreTerminal();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", interrupted);
  try {
    return await work();
  } finally {
    Deno.removeSignalListener("SIGINT", interrupted);
  }
}

/** Reads a path, or stdin for "-"; `what` names it in the error. */
export async function readInput(path: string, what: string): Promise<Uint8Array> {
  if (path === "-") return new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
  try {
    return await Deno.readFile(path);
  } catch (error) {
    throw cannotRead(path, what, error);
  }
}

/** A one-line error for a local file that cannot be read, with a hint for code given inline. */
export function cannotRead(path: string, what: string, error: unknown): Failure {
  const why = error instanceof Deno.errors.NotFound
    ? "no such file"
    : error instanceof Deno.errors.PermissionDenied
    ? "permission denied"
    : error instanceof Deno.errors.IsADirectory
    ? "it is a directory"
    : (error as Error).message;
  const hint = what === "the job's code" && /[\s()"']/.test(path)
    ? " (give the path of a Python file, or - to read the code from stdin)"
    : "";
  return new Failure(
    exitStatus.usage,
    `cannot read ${what} from ${JSON.stringify(path)}: ${why}${hint}`,
  );
}

/**
 * Opens a local file (or stdin for "-") for streaming upload; its size when
 * known. Opened before permissions are dropped.
 */
export async function openInput(
  path: string,
): Promise<{ stream: ReadableStream<Uint8Array>; size?: number }> {
  if (path === "-") return { stream: Deno.stdin.readable };
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    throw cannotRead(path, "a local file", error);
  }
  const { size, isDirectory } = await file.stat();
  if (isDirectory) {
    file.close();
    throw cannotRead(path, "a local file", new Deno.errors.IsADirectory());
  }
  return { stream: file.readable, size };
}

/** A failure to report as one line with an exit status. */
export class Failure extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** The exit status and the one line that report `error` (`server` names the ring asked). */
export function describe(error: unknown, server: string): [number, string] {
  if (error instanceof Failure) return [error.status, error.message];
  if (error instanceof CloudError) {
    if (error.reason === "timeout") return [exitStatus.timeout, error.message];
    if (error.reason === "failed") return [exitStatus.failed, `failed: ${error.message}`];
    if (["chunk-missing", "chunk-corrupt", "corrupt"].includes(error.reason)) {
      return [exitStatus.failed, error.message];
    }
    return [exitStatus.usage, `${error.reason}: ${error.message}`];
  }
  if (error instanceof ConnectionError) {
    const status = error.code === "timeout" ? exitStatus.timeout : exitStatus.unreachable;
    return [status, `cannot reach ${server}: ${error.message}`];
  }
  if (error instanceof Deno.errors.NotFound) return [exitStatus.usage, (error as Error).message];
  if (error instanceof RangeError) return [exitStatus.usage, error.message];
  return [exitStatus.usage, (error as Error).message];
}
