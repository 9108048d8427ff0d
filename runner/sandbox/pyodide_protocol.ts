/**
 * What the Pyodide backend and its worker process say to each other. Pure.
 *
 * - Worker stdout: one byte {@linkcode readyByte} once Pyodide is loaded;
 *   after that, the job's standard output, byte for byte.
 * - Worker stdin: {@linkcode encodeWorkerHeader} (the decimal byte length of
 *   a JSON {@linkcode WorkerJobHeader} and a newline, then the JSON), then the
 *   bytes of each input in header order.
 * - Worker stderr: the job's standard error. A worker failure writes one line
 *   starting `cloud-sandbox: ` and exits with {@linkcode workerFailureStatus}.
 * - Worker exit status: the job's (0, the `sys.exit` status, or 1 for an
 *   uncaught exception).
 *
 * @module
 */

/** The byte on stdout that says "loaded, send the job" (ASCII ACK). */
export const readyByte = 0x06;

/** Exit status when the worker itself fails (EX_SOFTWARE). */
export const workerFailureStatus = 70;

/** The job header sent before the input bytes. */
export interface WorkerJobHeader {
  readonly source: string;
  /** Safe relative names (already planned) and their byte counts. */
  readonly inputs: ReadonlyArray<{ readonly name: string; readonly bytes: number }>;
}

/** Encodes the header: its JSON's byte length, a newline, the JSON. */
export function encodeWorkerHeader(header: WorkerJobHeader): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const length = new TextEncoder().encode(`${json.length}\n`);
  const out = new Uint8Array(length.length + json.length);
  out.set(length, 0);
  out.set(json, length.length);
  return out;
}

/**
 * The address space (`VmSize`) of a process, in bytes, from its
 * `/proc/<pid>/status`. Throws `Error` when the line is missing.
 */
export function parseVmSizeBytes(status: string): number {
  const match = /^VmSize:\s+(\d+) kB$/m.exec(status);
  if (match === null) throw new Error("Cannot read address space: no VmSize line in the status");
  return Number(match[1]) * 1024;
}
