/**
 * What a runner exchanges with the ring, in the client's terms: a lease
 * (the fields of a GETJ reply) becomes a {@linkcode LeasedJob}; a
 * {@linkcode JobReport} becomes the UPD a server takes, with stderr and
 * detail cut to what a server keeps and stdout sent only for a success (a
 * failed job's output file fails with it), inline when the whole request
 * fits in one frame, else as the manifest of chunks stored first.
 *
 * @module
 */

import { formatHash, parseHash } from "../protocol/hash.ts";
import {
  capDetail,
  capStderr,
  encodeRequest,
  isToken,
  leasePrefix,
  type Request,
} from "../protocol/message.ts";
import { framePayloadBytesMax, inlineBytesMax } from "../limits.ts";
import { CloudError } from "./errors.ts";
import type { UploadSource } from "./chunks.ts";

/** A job as GETJ hands it out. */
export interface LeasedJob {
  /** The job's hash as 8 hex digits. */
  readonly hash: string;
  /** The job's hash as a number, to report or release the job with. */
  readonly hashValue: number;
  readonly source: string;
  /** The namespace in order: `/net/<name>` reads the last input with that name. */
  readonly inputs: readonly { readonly hash: string; readonly name: string }[];
  /**
   * The lease token GETJ handed out with the job: the report (UPD) and the
   * give-back (RLSE) carry it. Absent from a server that hands out none.
   */
  readonly lease?: string;
}

const decoder = new TextDecoder();

/**
 * The job of a GETJ reply's fields: source, job hash, the namespace as
 * hash, name pairs, then (an odd field last) the lease token `lease=…`.
 *
 * @throws {CloudError} (`protocol`) when the job's hash is not one, or the lease field is malformed.
 */
export function parseLease(fields: readonly string[]): LeasedJob {
  const [source, hash, ...rest] = fields;
  const tail = rest.length % 2 === 1 ? rest[rest.length - 1]! : undefined;
  const namespace = tail === undefined ? rest : rest.slice(0, -1);
  let lease: string | undefined;
  if (tail !== undefined) {
    lease = tail.startsWith(leasePrefix) ? tail.slice(leasePrefix.length) : "";
    if (!isToken(lease)) {
      throw new CloudError("protocol", `Cannot take a job: malformed lease field "${tail}"`);
    }
  }
  const inputs = [];
  for (let i = 0; i + 1 < namespace.length; i += 2) {
    inputs.push({ hash: namespace[i]!, name: namespace[i + 1]! });
  }
  let hashValue: number;
  try {
    hashValue = parseHash(hash ?? "");
  } catch (error) {
    throw new CloudError("protocol", `Cannot take a job: ${(error as Error).message}`);
  }
  return {
    hash: formatHash(hashValue),
    hashValue,
    source: decoder.decode(Uint8Array.fromBase64(source ?? "")),
    inputs,
    ...(lease === undefined ? {} : { lease }),
  };
}

/** What a runner reports of a job it ran. */
export interface JobReport {
  /** Bytes the job wrote to stdout. */
  readonly stdoutBytes: number;
  /** The whole stdout, when it is in memory; else it is in {@linkcode stdoutPath}. */
  readonly stdout?: Uint8Array;
  /** The local file that holds stdout when it is not in memory. */
  readonly stdoutPath?: string;
  readonly stderr: Uint8Array;
  /** The interpreter's exit status; null when it is not known. */
  readonly exitCode: number | null;
  /** Null on success; else a lower-case word (`exception`, `timeout`, …). */
  readonly reason: string | null;
  /** One line for people: what happened. */
  readonly detail: string;
}

/** A UPD request. */
export type UpdateRequest = Extract<Request, { command: "UPD" }>;

/** True when the report sends stdout: a success that printed something. */
export function sendsStdout(report: JobReport): boolean {
  return report.reason === null && report.stdoutBytes > 0;
}

/**
 * The UPD of `report` without its stdout: stderr within `stderrBytesMax`
 * (head and tail), detail within `detailBytesMax` UTF-8 bytes on one line.
 */
export function reportRequest(hash: number, report: JobReport, lease?: string): UpdateRequest {
  return {
    command: "UPD",
    hash,
    ...(lease === undefined ? {} : { lease }),
    stdout: new Uint8Array(0),
    stderr: capStderr(report.stderr),
    ...(report.exitCode === null ? {} : { exitCode: report.exitCode }),
    ...(report.reason === null ? {} : { reason: report.reason }),
    ...(report.detail ? { detail: capDetail(report.detail) } : {}),
  };
}

/** True when the request fits in one frame. */
export function fitsFrame(request: Request): boolean {
  return encodeRequest(request).length <= framePayloadBytesMax;
}

/**
 * The UPD of a report, its stdout inline when the whole request fits in
 * one frame, else stored through `storeChunks` and sent as their manifest.
 *
 * @throws {CloudError} (`output-not-stored`) when stdout could not be read or stored.
 */
export async function reportUpdate(
  hash: number,
  report: JobReport,
  storeChunks: (source: UploadSource) => Promise<{ readonly manifest: Uint8Array }>,
  lease?: string,
): Promise<UpdateRequest> {
  const base = reportRequest(hash, report, lease);
  if (!sendsStdout(report)) return base;
  try {
    // Kept in memory by the sandbox (a short job), else in the stdout file.
    if (report.stdoutBytes <= inlineBytesMax) {
      const stdout = report.stdout ?? await Deno.readFile(report.stdoutPath ?? "");
      const inline = { ...base, stdout };
      if (fitsFrame(inline)) return inline;
    }
    const stored = await storeChunks(report.stdout ?? { path: report.stdoutPath ?? "" });
    return { ...base, manifest: stored.manifest };
  } catch (error) {
    throw new CloudError(
      "output-not-stored",
      `Cannot store the output of job ${formatHash(hash)}: ${(error as Error).message}`,
    );
  }
}
