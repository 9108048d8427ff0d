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
 * Parses one server address, strictly: `host`, `host:port`, `:port`,
 * `[v6]` or `[v6]:port` (port defaults to {@linkcode defaultPort}, host to
 * localhost). A port that is not a decimal number from 1 to 65535, an empty
 * or spaced host, or a bare IPv6 address (give it in brackets) is refused.
 *
 * @throws {InvalidArgumentError} naming what is wrong with `text`.
 */
export function parseServer(text: string): { host: string; port: number } {
  const bracketed = /^\[([0-9A-Fa-f:.]+)\](?::(.*))?$/.exec(text);
  let host: string;
  let portText: string | undefined;
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2];
  } else {
    const colon = text.indexOf(":");
    if (colon >= 0 && text.indexOf(":", colon + 1) >= 0) {
      throw new InvalidArgumentError(
        `invalid server "${text}": expected host:port (an IPv6 address in brackets: [::1]:${defaultPort})`,
      );
    }
    host = colon < 0 ? text : text.slice(0, colon);
    portText = colon < 0 ? undefined : text.slice(colon + 1);
    if (host === "") host = "localhost";
    if (!/^[A-Za-z0-9._-]+$/.test(host)) {
      throw new InvalidArgumentError(`invalid host in server "${text}"`);
    }
  }
  if (portText === undefined) return { host, port: defaultPort };
  const port = Number(portText);
  if (!/^[0-9]{1,5}$/.test(portText) || port < 1 || port > 65535) {
    throw new InvalidArgumentError(
      `invalid port in server "${text}": expected a number from 1 to 65535 (got "${portText}")`,
    );
  }
  return { host, port };
}

/**
 * Parses a comma-separated list of servers (`-s a:1,b:2`, `$CLOUD_SERVER`),
 * each as {@linkcode parseServer} reads it; tried in this order.
 *
 * @throws {InvalidArgumentError} when the list is empty or one entry is invalid.
 */
export function parseServerList(text: string): { host: string; port: number }[] {
  const entries = text.split(",").map((entry) => entry.trim());
  if (entries.every((entry) => entry === "")) {
    throw new InvalidArgumentError("expected at least one server (host:port)");
  }
  return entries.filter((entry) => entry !== "").map(parseServer);
}

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration into milliseconds: `500ms`, `10s`, `1.5s`, `5m`, `2h`,
 * or a plain number, which is milliseconds (as these options always took).
 *
 * @throws {InvalidArgumentError} when it is not a duration.
 */
export function parseDuration(text: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)?$/.exec(text);
  const value = match ? Math.round(Number(match[1]) * durationUnits[match[2] ?? "ms"]!) : NaN;
  if (!Number.isSafeInteger(value)) {
    throw new InvalidArgumentError(
      `expected a duration such as 500ms, 10s, 5m or 2h, or a number of milliseconds (got "${text}")`,
    );
  }
  return value;
}

/**
 * A parser of a duration option within bounds, in milliseconds (for
 * commander); see {@linkcode parseDuration}.
 *
 * @throws {InvalidArgumentError} when the text is no duration or out of bounds.
 */
export function durationOption(minMs: number, maxMs: number): (text: string) => number {
  return (text: string) => {
    const value = parseDuration(text);
    if (value < minMs || value > maxMs) {
      throw new InvalidArgumentError(
        `expected a duration from ${formatDuration(minMs)} to ${
          formatDuration(maxMs)
        } (got "${text}")`,
      );
    }
    return value;
  };
}

/** A duration in the largest unit that divides it: `2h`, `90s`, `1500ms`. */
export function formatDuration(ms: number): string {
  for (const unit of ["h", "m", "s"]) {
    const size = durationUnits[unit]!;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
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
