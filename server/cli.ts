/**
 * `cloud server [localport [host port]]`: runs one server until SIGINT or
 * SIGTERM.
 *
 * @module
 */

import { Command, InvalidArgumentError } from "commander";
import {
  defaultPort,
  integerOption,
  logFormatOption,
  logLine,
  stderrLog,
  timestamp,
} from "../cli/options.ts";
import { connectionsMax, frameReadMs, idleMs, leaseMsDefault, ringSaltsMax } from "../limits.ts";
import { startServer } from "./server.ts";

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
    .option("--listen <address>", "address to listen on", "0.0.0.0")
    .option(
      "--advertise <host>",
      "address others reach this server at (default: this machine's hostname)",
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
    .option("--vnodes <n>", "ring positions of this server", integerOption(1, ringSaltsMax), 32)
    .option(
      "--lease-ms <ms>",
      "how long a runner holds a job before it is handed out again",
      integerOption(1000, 86_400_000),
      leaseMsDefault,
    )
    .option(
      "--max-connections <n>",
      "connections served at once",
      integerOption(1, 100_000),
      connectionsMax,
    )
    .option(
      "--idle-ms <ms>",
      "close connections idle this long",
      integerOption(100, 86_400_000),
      idleMs,
    )
    .option(
      "--frame-read-ms <ms>",
      "close connections that stop in the middle of a frame this long",
      integerOption(100, 3_600_000),
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
        const advertise = options.advertise ?? Deno.hostname();
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
          listen: options.listen,
          advertise,
          dataDir,
          replicas: options.replicas,
          vnodes: options.vnodes,
          leaseMs: options.leaseMs,
          connectionsMax: options.maxConnections,
          idleMs: options.idleMs,
          frameReadMs: options.frameReadMs,
          ...(host !== undefined && port !== undefined ? { join: { host, port } } : {}),
          log,
          ...(options.http === undefined
            ? {}
            : { http: { hostname: options.httpListen, port: options.http } }),
        });
        console.log(
          `cloud server listening on ${options.listen}:${server.port} as ${advertise}:${server.port}, data in ${dataDir}`,
        );
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
