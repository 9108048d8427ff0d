/**
 * `cloud auth init DIR`: writes a fresh auth file for the servers and one
 * token file per role, with random secrets, readable by their owner only.
 *
 * @module
 */

import { Command } from "commander";
import {
  type Credential,
  formatAuthFile,
  formatTokenFile,
  type Role,
  roles,
} from "../protocol/auth.ts";
import { authSecretBytes } from "../limits.ts";

/** A fresh secret: `authSecretBytes` random bytes from a CSPRNG, as lower-case hex. */
export function freshSecret(): string {
  return crypto.getRandomValues(new Uint8Array(authSecretBytes)).toHex();
}

/** The files `cloud auth init` writes, by name, for one credential per role. */
export function authFiles(credentials: readonly Credential[]): Map<string, string> {
  const files = new Map<string, string>([["auth", formatAuthFile(credentials)]]);
  for (const credential of credentials) {
    files.set(`${credential.role}.token`, formatTokenFile(credential));
  }
  return files;
}

/**
 * Writes `auth` and `<role>.token` for every role into `dir` (made, mode
 * 700, when missing), each mode 600, with fresh secrets; returns the paths.
 *
 * @throws {Error} when one of the files exists and `force` is not set, naming them.
 */
export async function initAuth(dir: string, options: { force?: boolean } = {}): Promise<string[]> {
  const credentials = roles.map((role: Role) => ({ role, secret: freshSecret() }));
  const files = authFiles(credentials);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const paths = [...files.keys()].map((name) => `${dir}/${name}`);
  if (!options.force) {
    const existing = [];
    for (const path of paths) {
      try {
        await Deno.lstat(path);
        existing.push(path);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    if (existing.length > 0) {
      throw new Error(
        `Cannot write new credentials: ${
          existing.join(", ")
        } already exist (servers and tokens made from them would stop matching); give --force to replace them`,
      );
    }
  }
  for (const [name, text] of files) {
    const path = `${dir}/${name}`;
    await Deno.writeTextFile(path, text, { mode: 0o600 });
    // An existing file keeps its mode through a write: set it.
    await Deno.chmod(path, 0o600);
  }
  return paths;
}

/** The `auth` subcommand: `cloud auth init DIR`. */
export function authCommand(): Command {
  const auth = new Command("auth").description("make credentials for a ring");
  auth.command("init")
    .description(
      "write DIR/auth (the servers' --auth-file) and DIR/client.token, runner.token, server.token with fresh secrets (mode 600)",
    )
    .argument("<dir>", "directory to write into (made when missing)")
    .option("--force", "replace files that exist (every old token stops working)")
    .action(async (dir: string, options: { force?: boolean }) => {
      await initAuth(dir, { force: options.force ?? false });
      console.log(
        [
          `wrote ${dir}/auth and ${dir}/client.token, ${dir}/runner.token, ${dir}/server.token (mode 600)`,
          `  servers:  cloud server 11111 --auth-file ${dir}/auth`,
          `  runners:  cloud runner HOST 11111 --token-file ${dir}/runner.token`,
          `  clients:  export CLOUD_TOKEN_FILE=${dir}/client.token`,
          "Copy auth to every server machine, runner.token to runner machines and client.token to clients only.",
        ].join("\n"),
      );
    });
  return auth;
}
