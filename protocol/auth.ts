/**
 * Authentication with roles (docs/PROTOCOL.md, 1.6): the three roles, which
 * commands each may send, the proof a HELO/AUTH handshake exchanges, and the
 * text of token and auth files. Pure: no sockets, no files, no clock; the
 * nonce comes in as an argument.
 *
 * proof = lower-case hex HMAC-SHA256(key = UTF-8 of the secret,
 *                                    message = "cloud-auth:<role>:<nonce>")
 *
 * @module
 */

import type { Command } from "./message.ts";
import { authSecretCharsMin } from "../limits.ts";

/** The roles, from the least to the most trusted. */
export const roles = ["client", "runner", "server"] as const;

/** Who a connection is: `client` < `runner` < `server`, each allowed what the one before is. */
export type Role = typeof roles[number];

/** A role and its secret, as a token file or `$CLOUD_TOKEN` holds it. */
export interface Credential {
  readonly role: Role;
  readonly secret: string;
}

/**
 * The least role that may send each command; `null` for the commands every
 * connection may send before it authenticates. A command added to the
 * protocol must be placed here (the type makes it so).
 */
export const commandRoles: { readonly [C in Command]: Role | null } = {
  HELO: null,
  AUTH: null,
  STOP: null,
  ADD: "client",
  MADD: "client",
  GET: "client",
  GETM: "client",
  JADD: "client",
  STAT: "client",
  WAIT: "client",
  GETS: "client",
  INFO: "client",
  JOBS: "client",
  JOBI: "client",
  RUNS: "client",
  CNCL: "client",
  GETJ: "runner",
  HAVJ: "runner",
  UPD: "runner",
  RLSE: "runner",
  RNEW: "runner",
  PROG: "runner",
  RUNR: "runner",
  BADD: "server",
  SADD: "server",
  SUCC: "server",
  PROB: "server",
  PEER: "server",
  MEMB: "server",
  HAVE: "server",
  PULL: "server",
  HOLD: "server",
};

/** True when a connection authenticated as `role` may send `command`. */
export function permits(role: Role, command: Command): boolean {
  const needed = commandRoles[command];
  return needed === null || roles.indexOf(role) >= roles.indexOf(needed);
}

/** Whether `text` names a role. */
export function isRole(text: string): text is Role {
  return (roles as readonly string[]).includes(text);
}

const encoder = new TextEncoder();

/** The text an AUTH proves: `cloud-auth:<role>:<nonce>`. */
export function proofMessage(role: string, nonce: string): string {
  return `cloud-auth:${role}:${nonce}`;
}

/** HMAC-SHA256 of `message` with the UTF-8 bytes of `secret` as key. */
export async function hmacSha256(secret: string, message: string): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(message)));
}

/** The proof of AUTH: lower-case hex HMAC-SHA256 (key: the secret) of `cloud-auth:<role>:<nonce>`. */
export async function authProof(credential: Credential, nonce: string): Promise<string> {
  return (await hmacSha256(credential.secret, proofMessage(credential.role, nonce))).toHex();
}

/** Compares two byte strings in time that depends on their lengths only. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let difference = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    difference |= (a[i] ?? 0) ^ (b[i] ?? 0);
  }
  return difference === 0;
}

/**
 * Whether `proof` is the proof of `role` over `nonce` for any of `secrets`.
 * Every secret is tried, whatever matches, and each comparison takes the
 * same time.
 */
export async function verifyProof(
  secrets: readonly string[],
  role: string,
  nonce: string,
  proof: string,
): Promise<boolean> {
  const given = /^[0-9a-f]{64}$/.test(proof) ? Uint8Array.fromHex(proof) : new Uint8Array(32);
  let matched = false;
  for (const secret of secrets) {
    const expected = await hmacSha256(secret, proofMessage(role, nonce));
    if (constantTimeEqual(expected, given)) matched = true;
  }
  return matched && /^[0-9a-f]{64}$/.test(proof);
}

/** The secrets a server accepts, by role (several per role while rotating). */
export type AuthSecrets = ReadonlyMap<Role, readonly string[]>;

/** Why a credential, token or auth file cannot be used. */
export class CredentialError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CredentialError";
  }
}

function checkedCredential(role: string, secret: string, where: string): Credential {
  if (!isRole(role)) {
    throw new CredentialError(
      `Cannot use the credential from ${where}: unknown role "${
        role.slice(0, 40)
      }" (client, runner or server)`,
    );
  }
  // deno-lint-ignore no-control-regex
  if (secret === "" || /[\s\u0000]/.test(secret)) {
    throw new CredentialError(
      `Cannot use the credential from ${where}: the secret is empty or has spaces or NUL`,
    );
  }
  return { role, secret };
}

/**
 * Parses `$CLOUD_TOKEN`'s form, `<role>:<secret>` (the secret may contain `:`).
 *
 * @throws {CredentialError} naming `where` when it is malformed.
 */
export function parseToken(text: string, where = "$CLOUD_TOKEN"): Credential {
  const trimmed = text.trim();
  const colon = trimmed.indexOf(":");
  if (colon < 0) {
    throw new CredentialError(`Cannot use the credential from ${where}: expected <role>:<secret>`);
  }
  return checkedCredential(trimmed.slice(0, colon), trimmed.slice(colon + 1), where);
}

/**
 * Parses a token file's text: one line `<role> <secret>` (blank lines and
 * `#` comments allowed).
 *
 * @throws {CredentialError} naming `path` when it is malformed.
 */
export function parseTokenFile(text: string, path: string): Credential {
  const lines = meaningfulLines(text);
  const fields = lines.length === 1 ? lines[0]!.text.split(/\s+/) : [];
  if (fields.length !== 2) {
    throw new CredentialError(
      `Cannot use the token file ${path}: expected one line "<role> <secret>"`,
    );
  }
  return checkedCredential(fields[0]!, fields[1]!, path);
}

/** A token file's text for `credential`. */
export function formatTokenFile(credential: Credential): string {
  return `${credential.role} ${credential.secret}\n`;
}

/**
 * Parses a server's auth file: lines `<role> <secret>`, several per role,
 * blank lines and `#` comments allowed; each secret at least
 * `authSecretCharsMin` characters.
 *
 * @throws {CredentialError} naming the file and the line when one is malformed, or when no line gives a secret.
 */
export function parseAuthFile(text: string, path: string): AuthSecrets {
  const secrets = new Map<Role, string[]>();
  for (const line of meaningfulLines(text)) {
    const fields = line.text.split(/\s+/);
    const where = `${path} line ${line.number}`;
    if (fields.length !== 2) {
      throw new CredentialError(
        `Cannot use the auth file ${path}: line ${line.number} is not "<role> <secret>"`,
      );
    }
    const { role, secret } = checkedCredential(fields[0]!, fields[1]!, where);
    if (secret.length < authSecretCharsMin) {
      throw new CredentialError(
        `Cannot use the auth file ${path}: the secret on line ${line.number} is too short (at least ${authSecretCharsMin} characters; \`cloud auth init\` makes 64)`,
      );
    }
    secrets.set(role, [...(secrets.get(role) ?? []), secret]);
  }
  if (secrets.size === 0) {
    throw new CredentialError(
      `Cannot use the auth file ${path}: it lists no secret (lines "<role> <secret>")`,
    );
  }
  return secrets;
}

/** An auth file's text listing `credentials`, with a comment saying how to read it. */
export function formatAuthFile(credentials: readonly Credential[]): string {
  return [
    "# cloud auth file: one credential per line, <role> <secret>; roles client, runner, server.",
    "# Several lines per role are all accepted (add the new secret, move clients over, remove the old).",
    ...credentials.map((credential) => `${credential.role} ${credential.secret}`),
    "",
  ].join("\n");
}

function meaningfulLines(text: string): { number: number; text: string }[] {
  return text.split(/\r?\n/).map((line, index) => ({ number: index + 1, text: line.trim() }))
    .filter((line) => line.text !== "" && !line.text.startsWith("#"));
}
