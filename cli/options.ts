/**
 * What the three subcommands (`cloud server`, `cloud runner`, `cloud client`)
 * share on the command line: number and address parsers for commander, the
 * default port, and the log line format. Neutral ground: it imports neither
 * server/, runner/ nor client/, so no subcommand pulls in another's code.
 *
 * @module
 */

import { type Command, InvalidArgumentError } from "commander";
import type { Credential } from "../protocol/auth.ts";
import {
  credentialFromEnvironment,
  processEnvironment,
  readTokenFile,
  tlsSettings,
} from "../protocol/auth_config.ts";
import type { TlsOptions } from "../protocol/connection.ts";

/** The port of the original design, used where none is given. */
export const defaultPort = 11111;

/**
 * A parser of a decimal integer option within bounds (for commander).
 *
 * @throws {InvalidArgumentError} when the text is not such an integer.
 */
export function integerOption(min: number, max: number): (text: string) => number {
  return (text: string) => {
    const value = Number(text);
    if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    }
    return value;
  };
}

/**
 * Parses a positive decimal integer (for commander).
 *
 * @throws {InvalidArgumentError} when the text is not one.
 */
export function positiveInteger(text: string): number {
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || value < 1) {
    throw new InvalidArgumentError("expected a positive integer");
  }
  return value;
}

/**
 * Splits `host:port` (port defaults to {@linkcode defaultPort}, host to localhost).
 *
 * @throws {InvalidArgumentError} when the port is out of range.
 */
export function parseServer(text: string): { host: string; port: number } {
  const match = /^(.*?)(?::([0-9]{1,5}))?$/.exec(text);
  const host = match?.[1] || "localhost";
  const port = Number(match?.[2] ?? defaultPort);
  if (port < 1 || port > 65535) throw new InvalidArgumentError(`invalid port in "${text}"`);
  return { host, port };
}

/**
 * Reads `[host] port` the way the original runner did: one argument is a
 * port, none is localhost on {@linkcode defaultPort}.
 *
 * @throws {InvalidArgumentError} when the port is not one.
 */
export function parseTarget(first?: string, second?: string): { host: string; port: number } {
  const port = integerOption(1, 65535);
  if (first === undefined) return { host: "localhost", port: defaultPort };
  if (second === undefined) return { host: "localhost", port: port(first) };
  return { host: first, port: port(second) };
}

/** How log lines are written: `<ISO time> <message>`, or one JSON object per line. */
export type LogFormat = "text" | "json";

/**
 * Parses `--log-format` (for commander).
 *
 * @throws {InvalidArgumentError} when it is neither text nor json.
 */
export function logFormatOption(text: string): LogFormat {
  if (text !== "text" && text !== "json") {
    throw new InvalidArgumentError(`expected text or json (got "${text}")`);
  }
  return text;
}

/**
 * One log line. As JSON: `{"time", "message"}`, and `"server"` when the
 * message starts with a server's `[host:port]`.
 */
export function logLine(message: string, format: LogFormat, time = timestamp()): string {
  if (format === "text") return `${time} ${message}`;
  const prefixed = /^\[([^\]\s]+)\] (.*)$/s.exec(message);
  return JSON.stringify(
    prefixed ? { time, server: prefixed[1], message: prefixed[2] } : { time, message },
  );
}

/** A log function writing lines to stderr; silent when `quiet`. */
export function stderrLog(
  quiet: boolean | undefined,
  format: LogFormat = "text",
): (message: string) => void {
  return quiet ? () => {} : (message: string) => console.error(logLine(message, format));
}

/** The current time as log lines show it. */
export function timestamp(): string {
  return new Date().toISOString();
}

/** What {@linkcode securityOptions} adds to a command's options. */
export interface SecurityFlags {
  readonly tokenFile?: string;
  readonly tls?: boolean;
  readonly tlsCa?: string;
}

/** Adds `--token-file`, `--tls` and `--tls-ca` (how to reach and prove oneself to servers). */
export function securityOptions(command: Command): Command {
  return command
    .option(
      "--token-file <file>",
      "credential file, one line '<role> <secret>' (default: $CLOUD_TOKEN as <role>:<secret>, else $CLOUD_TOKEN_FILE)",
    )
    .option("--tls", "speak TLS to servers, verifying them against the system's CAs ($CLOUD_TLS=1)")
    .option(
      "--tls-ca <file>",
      "speak TLS, trusting the CA certificates of this PEM file too ($CLOUD_TLS_CA)",
    );
}

/**
 * The credential and TLS settings of a process: `--token-file`, else
 * `$CLOUD_TOKEN`, else `$CLOUD_TOKEN_FILE`; `--tls-ca` / `--tls`, else
 * `$CLOUD_TLS_CA` / `$CLOUD_TLS`. Null where there are none.
 *
 * @throws {CredentialError} when a file cannot be read or is malformed.
 */
export function securityFrom(
  flags: SecurityFlags,
): { credential: Credential | null; tls: TlsOptions | null } {
  const credential = flags.tokenFile !== undefined
    ? readTokenFile(flags.tokenFile)
    : credentialFromEnvironment(processEnvironment);
  const tls = tlsSettings({
    ...(flags.tls ? { tls: true } : {}),
    ...(flags.tlsCa !== undefined ? { caFile: flags.tlsCa } : {}),
  });
  return { credential: credential ?? null, tls: tls ?? null };
}
