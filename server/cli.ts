/**
 * `cloud server [localport [host port]]`: runs one server until SIGINT or
 * SIGTERM.
 *
 * @module
 */

import { Command, InvalidArgumentError } from "commander";
import {
  defaultPort,
  durationOption,
  integerOption,
  logFormatOption,
  logLine,
  stderrLog,
  timestamp,
} from "../cli/options.ts";
import { type AuthSecrets, type Credential, CredentialError } from "../protocol/auth.ts";
import {
  credentialFromEnvironment,
  type Environment,
  processEnvironment,
  readAuthFile,
  readCertificate,
  readTokenFile,
  tlsSettings,
} from "../protocol/auth_config.ts";
import {
  authHandshakeMs,
  connectionsMax,
  connectionsPerAddressMax,
  frameReadMs,
  idleMs,
  leaseMsDefault,
  ringSaltsMax,
} from "../limits.ts";
import { startServer } from "./server.ts";

/** True for an address only this machine can reach. */
export function isLoopback(address: string): boolean {
  const bare = address.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return bare === "localhost" || bare === "::1" || /^127\.[0-9]+\.[0-9]+\.[0-9]+$/.test(bare) ||
    /^::ffff:127\./.test(bare);
}

/** Where a server listens and what it advertises, and the line it says about it. */
export interface Exposure {
  readonly listen: string;
  readonly advertise: string;
  /** One line for the log: what the choice means, and how to change it. */
  readonly note?: string;
}

/**
 * Where a server listens: secure by default. With an auth file, on every
 * address (0.0.0.0) unless `--listen` says otherwise; without one, on
 * 127.0.0.1 only (advertised as such), and on another address only with
 * `--insecure`. Pure.
 *
 * @throws {InvalidArgumentError} for a non-loopback address without an auth file or `--insecure`.
 */
export function exposure(
  input: {
    readonly listen?: string;
    readonly advertise?: string;
    readonly authenticated: boolean;
    readonly insecure: boolean;
    readonly hostname: string;
    readonly port: number;
  },
): Exposure {
  if (input.authenticated) {
    return {
      listen: input.listen ?? "0.0.0.0",
      advertise: input.advertise ?? input.hostname,
    };
  }
  const listen = input.listen ?? "127.0.0.1";
  const loopback = isLoopback(listen);
  if (!loopback && !input.insecure) {
    throw new InvalidArgumentError(
      `Cannot listen on ${listen} without an auth file: anyone who reaches it could read, replace and delete data and run code as any job; give --auth-file FILE (\`cloud auth init DIR\` makes one), or --insecure for clients of the original design on a trusted network`,
    );
  }
  const advertise = input.advertise ?? (loopback ? "127.0.0.1" : input.hostname);
  return {
    listen,
    advertise,
    note: loopback
      ? `no auth file: serving this machine only (${listen}); to serve other machines: cloud auth init DIR, then cloud server ${input.port} --auth-file DIR/auth (docs/OPERATIONS.md, Security)`
      : `INSECURE: no auth file and listening on ${listen}: anyone who reaches this port can read, replace and delete data and run code`,
  };
}

/**
 * The credential a server proves itself with to its peers: `--token-file`
 * (which must be a `server` token), else `$CLOUD_TOKEN` or
 * `$CLOUD_TOKEN_FILE` when they hold a `server` token, else the first
 * `server` line of its auth file.
 *
 * @throws {CredentialError} when the token file cannot be used or is not a server's.
 */
export function serverCredential(
  tokenFile: string | undefined,
  auth: AuthSecrets | undefined,
  env: Environment = processEnvironment,
): Credential | undefined {
  if (tokenFile !== undefined) {
    const credential = readTokenFile(tokenFile);
    if (credential.role !== "server") {
      throw new CredentialError(
        `Cannot use the token file ${tokenFile} for a server: its role is ${credential.role}, and servers prove themselves to each other as server`,
      );
    }
    return credential;
  }
  const fromEnvironment = credentialFromEnvironment(env);
  if (fromEnvironment?.role === "server") return fromEnvironment;
  const secret = auth?.get("server")?.[0];
  return secret === undefined ? undefined : { role: "server", secret };
}

/** The default data directory of the server on `port`. */
export function defaultDataDir(port: number): string {
  const base = Deno.env.get("CLOUD_DATA_DIR") ??
    (Deno.env.get("XDG_DATA_HOME") ? `${Deno.env.get("XDG_DATA_HOME")}/cloud` : undefined) ??
    `${Deno.env.get("HOME") ?? "."}/.local/share/cloud`;
  return `${base}/server-${port}`;
}

/** The `server` subcommand. */
export function serverCommand(): Command {
  return new Command("server")
    .description(
      "run a storage server of the ring (default port 11111); with host and port, join their ring",
    )
    .argument(
      "[localport]",
      "port to listen on (0 picks a free one)",
      integerOption(0, 65535),
      defaultPort,
    )
    .argument("[host]", "a server of the ring to join")
    .argument("[port]", "that server's port", integerOption(1, 65535))
    .option(
      "--listen <address>",
      "address to listen on (default: 0.0.0.0 with --auth-file, else 127.0.0.1 only)",
    )
    .option(
      "--advertise <host>",
      "address others reach this server at (default: this machine's hostname; 127.0.0.1 when listening there)",
    )
    .option(
      "--auth-file <file>",
      "credentials accepted, lines '<role> <secret>', mode 600 (default: $CLOUD_AUTH_FILE; `cloud auth init DIR` makes one)",
    )
    .option(
      "--token-file <file>",
      "this server's credential toward its peers, 'server <secret>' (default: a server $CLOUD_TOKEN, else the auth file's first server line)",
    )
    .option(
      "--insecure",
      "allow listening on a non-loopback address without an auth file (clients of the original design)",
    )
    .option(
      "--tls-cert <file>",
      "speak TLS to everyone with this PEM certificate chain (default: $CLOUD_TLS_CERT); peers are reached over TLS too",
    )
    .option("--tls-key <file>", "the certificate's PEM private key (default: $CLOUD_TLS_KEY)")
    .option(
      "--tls-ca <file>",
      "CA certificates (PEM) peers' certificates are checked against, besides the system's (default: $CLOUD_TLS_CA)",
    )
    .option(
      "--data <dir>",
      "data directory (default: $CLOUD_DATA_DIR/server-<port>, else ~/.local/share/cloud/server-<port>)",
    )
    .option(
      "--replicas <n>",
      "copies of every object, on distinct servers",
      integerOption(1, 16),
      2,
    )
    .option(
      "--vnodes <n>",
      "ring positions of a server of weight 1 (chosen by token allocation at its first join)",
      integerOption(1, ringSaltsMax),
      8,
    )
    .option(
      "--weight <w>",
      "this server's size against one of weight 1: it takes vnodes × weight positions, and its share of the keyspace follows",
      weightOption,
      1,
    )
    .option(
      "--lease-ms <ms>",
      "how long a job stays handed out without a renewal from its runner (runners renew every third of it)",
      durationOption(1000, 86_400_000),
      leaseMsDefault,
    )
    .option(
      "--max-connections <n>",
      "connections served at once",
      integerOption(1, 100_000),
      connectionsMax,
    )
    .option(
      "--max-connections-per-address <n>",
      "connections one remote address may hold (runners and peer servers aside)",
      integerOption(1, 100_000),
      connectionsPerAddressMax,
    )
    .option(
      "--idle-ms <ms>",
      "close connections idle this long",
      durationOption(100, 86_400_000),
      idleMs,
    )
    .option(
      "--handshake-ms <ms>",
      "with --auth-file: close connections not authenticated this long after they opened",
      durationOption(100, 3_600_000),
      authHandshakeMs,
    )
    .option(
      "--frame-read-ms <ms>",
      "close connections that stop in the middle of a frame this long",
      durationOption(100, 3_600_000),
      frameReadMs,
    )
    .option(
      "--http <port>",
      "serve the dashboard, /metrics and /api on this port (0: a free one)",
      integerOption(0, 65535),
    )
    .option(
      "--http-listen <address>",
      "address the HTTP side listens on (loopback only without authentication)",
      "127.0.0.1",
    )
    .option(
      "--log-format <format>",
      "text, or json: one JSON object per line",
      logFormatOption,
      "text",
    )
    .option("-q, --quiet", "log nothing but errors")
    .action(
      async (localPort: number, host: string | undefined, port: number | undefined, options) => {
        if (host !== undefined && port === undefined) {
          throw new InvalidArgumentError("a ring to join needs both host and port");
        }
        if (localPort === 0 && !options.data) throw new InvalidArgumentError("port 0 needs --data");
        const security = serverSecurity(options, host !== undefined);
        const { listen, advertise, note } = exposure({
          ...(options.listen === undefined ? {} : { listen: options.listen }),
          ...(options.advertise === undefined ? {} : { advertise: options.advertise }),
          authenticated: security.auth !== undefined,
          insecure: options.insecure ?? false,
          hostname: Deno.hostname(),
          port: localPort,
        });
        const dataDir = options.data ?? defaultDataDir(localPort);
        await Deno.permissions.revoke({ name: "run" });
        await Deno.permissions.revoke({ name: "ffi" });
        // A bug in a background task must not take the server down with every
        // client's connection: log it and keep serving.
        globalThis.addEventListener("unhandledrejection", (event) => {
          event.preventDefault();
          console.error(logLine(
            `unexpected error (kept serving): ${event.reason?.stack ?? event.reason}`,
            options.logFormat,
            timestamp(),
          ));
        });
        const log = stderrLog(options.quiet, options.logFormat);
        const server = await startServer({
          port: localPort,
          listen,
          advertise,
          ...security,
          dataDir,
          replicas: options.replicas,
          vnodes: positionsFor(options.vnodes, options.weight),
          leaseMs: options.leaseMs,
          connectionsMax: options.maxConnections,
          connectionsPerAddressMax: options.maxConnectionsPerAddress,
          handshakeMs: options.handshakeMs,
          idleMs: options.idleMs,
          frameReadMs: options.frameReadMs,
          ...(host !== undefined && port !== undefined ? { join: { host, port } } : {}),
          log,
          ...(options.http === undefined
            ? {}
            : { http: { hostname: options.httpListen, port: options.http } }),
        });
        console.log(
          `cloud server listening on ${listen}:${server.port} as ${advertise}:${server.port}, data in ${dataDir}${
            security.auth ? ", authentication on" : ""
          }${security.tls ? ", TLS" : ""}`,
        );
        // The warning of an insecure server is printed even with --quiet.
        if (note) (options.insecure ? stderrLog(false, options.logFormat) : log)(note);
        if (server.http) console.log(`cloud server dashboard on http://${server.http}/`);
        const stop = async () => {
          await server.close();
          Deno.exit(0);
        };
        Deno.addSignalListener("SIGINT", stop);
        Deno.addSignalListener("SIGTERM", stop);
      },
    );
}

/**
 * The auth file, this server's credential, its certificate and how it
 * verifies peers, from the options and the environment.
 *
 * @throws {CredentialError} when a file cannot be used, or a joining server with an auth file has no server credential.
 */
function serverSecurity(
  options: {
    authFile?: string;
    tokenFile?: string;
    tlsCert?: string;
    tlsKey?: string;
    tlsCa?: string;
  },
  joining: boolean,
) {
  const env = processEnvironment;
  const authFile = options.authFile ?? env("CLOUD_AUTH_FILE");
  const auth = authFile === undefined ? undefined : readAuthFile(authFile);
  const credential = serverCredential(options.tokenFile, auth, env);
  if (auth && joining && !credential) {
    throw new CredentialError(
      `Cannot join a ring with authentication: this server has no server credential (add a "server <secret>" line to ${authFile}, or give --token-file)`,
    );
  }
  const certFile = options.tlsCert ?? env("CLOUD_TLS_CERT");
  const keyFile = options.tlsKey ?? env("CLOUD_TLS_KEY");
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (certFile === undefined && options.tlsCa !== undefined) {
    throw new InvalidArgumentError(
      "--tls-ca on a server needs --tls-cert and --tls-key: a ring speaks TLS everywhere or nowhere",
    );
  }
  const tls = certFile === undefined ? undefined : readCertificate(certFile, keyFile!);
  const peerTls = tls === undefined ? undefined : tlsSettings({
    tls: true,
    ...((options.tlsCa ?? env("CLOUD_TLS_CA")) === undefined
      ? {}
      : { caFile: options.tlsCa ?? env("CLOUD_TLS_CA")! }),
  }, env);
  return {
    ...(auth ? { auth } : {}),
    ...(credential ? { credential } : {}),
    ...(tls ? { tls } : {}),
    ...(peerTls ? { peerTls } : {}),
  };
}

/**
 * Parses `--weight`: a decimal number from 0.01 to 32.
 *
 * @throws {InvalidArgumentError} when the text is not one.
 */
export function weightOption(text: string): number {
  const value = Number(text);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text) || value < 0.01 || value > 32) {
    throw new InvalidArgumentError("expected a number from 0.01 to 32");
  }
  return value;
}

/** Ring positions of a server of `weight`: vnodes × weight, rounded, within 1 … ringSaltsMax. */
export function positionsFor(vnodes: number, weight: number): number {
  return Math.min(ringSaltsMax, Math.max(1, Math.round(vnodes * weight)));
}
