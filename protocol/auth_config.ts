/**
 * Where a process finds its credential and its TLS settings: token files,
 * auth files, CA files, and the environment (`$CLOUD_TOKEN`,
 * `$CLOUD_TOKEN_FILE`, `$CLOUD_TLS_CA`, `$CLOUD_TLS`, the names the Python
 * client reads too). The edge of protocol/auth.ts: it reads files and the
 * environment; what the text means is decided there.
 *
 * @module
 */

import {
  type AuthSecrets,
  type Credential,
  CredentialError,
  parseAuthFile,
  parseToken,
  parseTokenFile,
} from "./auth.ts";
import type { TlsOptions } from "./connection.ts";

/** Reads one environment variable; undefined when unset, empty, or not permitted. */
export type Environment = (name: string) => string | undefined;

/** The process's environment, read only where permission was granted (never a prompt). */
export const processEnvironment: Environment = (name) => {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
      return undefined;
    }
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
};

function readText(path: string, what: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable
      ? "permission denied"
      : (error as Error).message;
    throw new CredentialError(`Cannot read the ${what} ${path}: ${why}`);
  }
}

/**
 * Reads a token file: one line `<role> <secret>`.
 *
 * @throws {CredentialError} when it cannot be read or is malformed.
 */
export function readTokenFile(path: string): Credential {
  return parseTokenFile(readText(path, "token file"), path);
}

/**
 * The credential `$CLOUD_TOKEN` (`<role>:<secret>`) or, when unset,
 * `$CLOUD_TOKEN_FILE` names; undefined when neither is set.
 *
 * @throws {CredentialError} when the one set is malformed or unreadable.
 */
export function credentialFromEnvironment(
  env: Environment = processEnvironment,
): Credential | undefined {
  const token = env("CLOUD_TOKEN");
  if (token !== undefined) return parseToken(token);
  const path = env("CLOUD_TOKEN_FILE");
  return path === undefined ? undefined : readTokenFile(path);
}

/**
 * Reads a server's auth file, refusing one that group or others may read:
 * it holds every secret of the ring.
 *
 * @throws {CredentialError} with one line naming the file and the fix.
 */
export function readAuthFile(path: string): AuthSecrets {
  const text = readText(path, "auth file");
  const mode = Deno.statSync(path).mode;
  if (mode !== null && (mode & 0o077) !== 0) {
    throw new CredentialError(
      `Cannot use the auth file ${path}: group or others may read it (mode ${
        (mode & 0o777).toString(8).padStart(3, "0")
      }); run chmod 600 ${path}`,
    );
  }
  return parseAuthFile(text, path);
}

/**
 * The TLS settings of a client, runner or peer: `caFile` (PEM, one or more
 * CA certificates) turns TLS on and trusts those CAs besides the system's;
 * `tls` alone turns it on with the system's store. When neither is given,
 * `$CLOUD_TLS_CA`, then `$CLOUD_TLS` (anything but "", 0, false, no).
 * Undefined: plain TCP.
 *
 * @throws {CredentialError} when the CA file cannot be read or holds no certificate.
 */
export function tlsSettings(
  options: { readonly tls?: boolean; readonly caFile?: string },
  env: Environment = processEnvironment,
): TlsOptions | undefined {
  let { tls, caFile } = options;
  if (tls === undefined && caFile === undefined) {
    caFile = env("CLOUD_TLS_CA");
    tls = !["", "0", "false", "no"].includes(env("CLOUD_TLS") ?? "");
  }
  if (caFile !== undefined) {
    const pem = readText(caFile, "CA file");
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
      throw new CredentialError(`Cannot use the CA file ${caFile}: it holds no PEM certificate`);
    }
    return { caCerts: [pem] };
  }
  return tls ? {} : undefined;
}

/** A server's certificate chain and key (PEM), read from their files. */
export function readCertificate(certFile: string, keyFile: string): { cert: string; key: string } {
  const cert = readText(certFile, "certificate file");
  const key = readText(keyFile, "key file");
  if (!cert.includes("-----BEGIN CERTIFICATE-----")) {
    throw new CredentialError(
      `Cannot use the certificate file ${certFile}: it holds no PEM certificate`,
    );
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) {
    throw new CredentialError(`Cannot use the key file ${keyFile}: it holds no PEM private key`);
  }
  return { cert, key };
}
