/**
 * The client's options and the check every name gets before it goes on
 * the wire.
 *
 * @module
 */

import type { Credential } from "../protocol/auth.ts";
import type { TlsOptions } from "../protocol/connection.ts";
import { ProtocolError, validateName } from "../protocol/message.ts";
import { CloudError } from "./errors.ts";

/** Options of {@linkcode ComputeCloud}. */
export interface CloudOptions {
  /** Idle connections kept open per server (concurrent requests open more). */
  readonly connections?: number;
  /** More servers to fall back to, in order, when the first cannot be reached. */
  readonly fallback?: readonly { readonly host: string; readonly port: number }[];
  /** Limit on each request's reply. */
  readonly requestTimeoutMs?: number;
  /** Chunk requests in flight per transfer of a large file (default `chunksInFlight`). */
  readonly parallel?: number;
  /**
   * Send each chunk straight to the server that owns it, as the ring table
   * (GETS) says, instead of through the current server (default true).
   */
  readonly direct?: boolean;
  /**
   * Authenticate every connection with this credential (HELO, AUTH); null
   * for none. By default `$CLOUD_TOKEN` (`<role>:<secret>`) or the token
   * file `$CLOUD_TOKEN_FILE` names, when set and readable.
   */
  readonly credential?: Credential | null;
  /**
   * Speak TLS, verifying servers against these CAs and the system's; null
   * for plain TCP. By default TLS when `$CLOUD_TLS_CA` (a CA file) or
   * `$CLOUD_TLS=1` is set.
   */
  readonly tls?: TlsOptions | null;
}

/** Options for adding objects. */
export interface AddOptions {
  /** Store a distinct object even if an identical one exists (random salt). */
  readonly fresh?: boolean;
  /** Called as a large upload progresses, with the bytes stored so far. */
  readonly onProgress?: (bytes: number) => void;
}

/**
 * Checks a name before it goes on the wire (files, jobs, outputs, inputs):
 * `:` separates the fields of a request, so a name holding one would
 * splice fields into the request (a job name `x:<base64>` would become the
 * job's source).
 *
 * @throws {CloudError} (`name`) when the name is empty, too long, or holds `:` or NUL.
 */
export function checkName(name: string, what = "name"): string {
  try {
    return validateName(name, what);
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    throw new CloudError("name", `${error.message} (got ${JSON.stringify(name.slice(0, 60))})`);
  }
}
