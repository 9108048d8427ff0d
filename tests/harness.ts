/**
 * Test harness: real `cloud` processes on loopback, on free ports, each
 * stopped by the test that started it (by pid, `await using`). Servers
 * start with an auth file by default (one set of credentials per test
 * process, {@linkcode TestAuth.shared}), and the clients, runners and
 * `cloud` commands the harness makes carry the matching tokens; a test of
 * the open path says `auth: false`.
 *
 * @module
 */

import { type CloudOptions, ComputeCloud } from "../client/cloud.ts";
import { initAuth } from "../cli/auth_init.ts";
import type { Credential, Role } from "../protocol/auth.ts";
import { readTokenFile } from "../protocol/auth_config.ts";
import { Connection, type ConnectOptions } from "../protocol/connection.ts";
import type { TestCertificates } from "./certificates.ts";

const mainPath = new URL("../main.ts", import.meta.url).pathname;
const decoder = new TextDecoder();

/** Keeps the last `max` bytes of a stream as text, for failure messages. */
class Tail {
  #text = "";
  constructor(readonly max = 16_384) {}
  add(chunk: string): void {
    this.#text = (this.#text + chunk).slice(-this.max);
  }
  get text(): string {
    return this.#text;
  }
}

/** Credentials made by `cloud auth init` in a directory: the servers' auth file and a token per role. */
export class TestAuth {
  static #shared: Promise<TestAuth> | undefined;

  constructor(readonly dir: string) {}

  /**
   * The credentials every server of this test process shares (made on
   * first use; removed when the process ends).
   */
  static shared(): Promise<TestAuth> {
    TestAuth.#shared ??= (async () => {
      const dir = await Deno.makeTempDir({ prefix: "cloud-test-auth-" });
      await initAuth(dir);
      globalThis.addEventListener("unload", () => {
        try {
          Deno.removeSync(dir, { recursive: true });
        } catch {
          // Already gone.
        }
      });
      return new TestAuth(dir);
    })();
    return TestAuth.#shared;
  }

  /** The servers' `--auth-file`. */
  get authFile(): string {
    return `${this.dir}/auth`;
  }

  /** The token file of `role`. */
  tokenFile(role: Role): string {
    return `${this.dir}/${role}.token`;
  }

  /** The credential of `role`. */
  credential(role: Role): Credential {
    return readTokenFile(this.tokenFile(role));
  }
}

/** A `cloud server` process. */
export class ServerProcess {
  readonly #child: Deno.ChildProcess;
  readonly #log: Tail;
  readonly port: number;
  readonly dataDir: string;
  readonly host = "127.0.0.1";
  /** Set by tests that kill the server on purpose. */
  killed = false;
  #exited = false;
  readonly status: Promise<Deno.CommandStatus>;
  /** The credentials it accepts; null for an open server. */
  readonly auth: TestAuth | null;
  /** Its certificates when it speaks TLS. */
  readonly tls: TestCertificates | null;

  private constructor(
    child: Deno.ChildProcess,
    log: Tail,
    port: number,
    dataDir: string,
    security: { auth: TestAuth | null; tls: TestCertificates | null },
  ) {
    this.#child = child;
    this.#log = log;
    this.port = port;
    this.dataDir = dataDir;
    this.auth = security.auth;
    this.tls = security.tls;
    this.status = child.status.then((status) => {
      this.#exited = true;
      return status;
    });
  }

  /** The server's pid. */
  get pid(): number {
    return this.#child.pid;
  }

  /** `host:port`. */
  get id(): string {
    return `${this.host}:${this.port}`;
  }

  /** What the server logged last (stderr). */
  get log(): string {
    return this.#log.text;
  }

  /**
   * Starts a server on a free loopback port (or `port`), waiting until it
   * serves: with the shared test credentials unless `auth` says otherwise
   * (false: an open server), speaking TLS with `tls`.
   *
   * @throws {Error} with the server's log when it does not start.
   */
  static async start(options: ServerStartOptions = {}): Promise<ServerProcess> {
    const dataDir = options.dataDir ?? await Deno.makeTempDir({ prefix: "cloud-test-server-" });
    const auth = options.auth === false
      ? null
      : options.auth === undefined || options.auth === true
      ? await TestAuth.shared()
      : options.auth;
    const tls = options.tls ?? null;
    const args = [
      "run",
      "--allow-all",
      "--v8-flags=--max-semi-space-size=4",
      mainPath,
      "server",
      String(options.port ?? 0),
      ...(options.join ? [options.join.host, String(options.join.port)] : []),
      ...(options.listen === null
        ? []
        : ["--listen", options.listen ?? "127.0.0.1", "--advertise", "127.0.0.1"]),
      "--data",
      dataDir,
      ...(auth ? ["--auth-file", auth.authFile] : []),
      ...(tls
        ? ["--tls-cert", tls.certFile, "--tls-key", tls.keyFile, "--tls-ca", tls.caFile]
        : []),
      ...(options.args ?? []),
    ];
    const child = new Deno.Command(Deno.execPath(), {
      args,
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
      // What the test process's environment says about credentials is not the server's.
      env: quietEnvironment(),
    })
      .spawn();
    const log = new Tail();
    void child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (chunk) => log.add(chunk) }),
    ).catch(() => {});
    const port = await readPort(child, log);
    return new ServerProcess(child, log, port, dataDir, { auth, tls });
  }

  /** How `role` connects to this server: its credential (when the server wants one) and TLS. */
  connectOptions(role: Role = "client"): ConnectOptions {
    return {
      ...(this.auth ? { credential: this.auth.credential(role) } : {}),
      ...(this.tls ? { tls: { caCerts: [this.tls.ca] } } : {}),
    };
  }

  /** A connection to this server, authenticated as `role` (raw requests of every kind need `server`). */
  connect(role: Role = "server", options: ConnectOptions = {}): Promise<Connection> {
    return Connection.open(this.host, this.port, { ...this.connectOptions(role), ...options });
  }

  /** Options of a {@linkcode ComputeCloud} of this server with `role`'s credential (and TLS). */
  cloudOptions(role: Role = "client"): CloudOptions {
    const security = this.connectOptions(role);
    return { credential: security.credential ?? null, tls: security.tls ?? null };
  }

  /** A client of this server, with the client's credential (or `role`'s). */
  client(options: CloudOptions & { role?: Role } = {}): ComputeCloud {
    const { role, ...rest } = options;
    return new ComputeCloud(this.host, this.port, { ...this.cloudOptions(role), ...rest });
  }

  /** The arguments that give a `cloud client` or `cloud runner` the credential of `role` and TLS. */
  securityArgs(role: Role): string[] {
    return [
      ...(this.auth ? ["--token-file", this.auth.tokenFile(role)] : []),
      ...(this.tls ? ["--tls-ca", this.tls.caFile] : []),
    ];
  }

  /** Kills the server with `signal` and waits for it to exit. */
  async kill(signal: Deno.Signal = "SIGKILL"): Promise<void> {
    this.killed = true;
    if (this.#exited) return;
    try {
      this.#child.kill(signal);
    } catch {
      // It exited meanwhile.
    }
    await this.status;
  }

  /** Stops the server (SIGKILL) when the test scope ends. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill("SIGKILL");
  }
}

/** Options of {@linkcode ServerProcess.start}. */
export interface ServerStartOptions {
  dataDir?: string;
  join?: ServerProcess | { host: string; port: number };
  port?: number;
  args?: string[];
  /** The credentials to accept: the shared ones by default; false for an open server. */
  auth?: TestAuth | boolean;
  /** Speak TLS with these certificates (trusting their CA for peers). */
  tls?: TestCertificates;
  /** The address to listen on (127.0.0.1 by default, advertised as 127.0.0.1); null: the server's default. */
  listen?: string | null;
}

/**
 * The environment for processes the harness starts: this one's, without
 * what would give them another credential or TLS setting than the
 * harness's arguments do.
 */
function quietEnvironment(extra: Record<string, string> = {}): Record<string, string> {
  const env = Deno.env.toObject();
  for (const name of Object.keys(env)) {
    if (/^CLOUD_(TOKEN|TOKEN_FILE|AUTH_FILE|TLS|TLS_CA|TLS_CERT|TLS_KEY)$/.test(name)) {
      delete env[name];
    }
  }
  return { ...env, ...extra };
}

async function readPort(child: Deno.ChildProcess, log: Tail): Promise<number> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const timeout = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }, 30_000);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        await child.status;
        throw new Error(`Server did not start:\n${log.text}`);
      }
      text += value;
      const match = /listening on [^ ]*:([0-9]+) /.exec(text);
      if (match) {
        void drain(reader);
        return Number(match[1]);
      }
    }
  } finally {
    clearTimeout(timeout);
  }
}

async function drain(reader: ReadableStreamDefaultReader<string>): Promise<void> {
  try {
    while (!(await reader.read()).done) {
      // Discard: the server prints one line at start.
    }
  } catch {
    // The process was killed.
  }
}

/** A set of servers forming one ring; all are killed when the scope ends. */
export class Cluster {
  readonly servers: ServerProcess[] = [];

  /** Options every server of the cluster starts with (its credentials and certificates). */
  #options: Omit<ServerStartOptions, "join" | "dataDir" | "port" | "args"> = {};

  /** Starts `count` servers, each joining the first, with the shared test credentials unless `options` say otherwise. */
  static async start(
    count: number,
    args: string[] = [],
    options: Omit<ServerStartOptions, "join" | "dataDir" | "port" | "args"> = {},
  ): Promise<Cluster> {
    const cluster = new Cluster();
    cluster.#options = options;
    try {
      const first = await ServerProcess.start({ args, ...options });
      cluster.servers.push(first);
      for (let i = 1; i < count; i++) {
        cluster.servers.push(await ServerProcess.start({ join: first, args, ...options }));
      }
    } catch (error) {
      await cluster[Symbol.asyncDispose]();
      throw error;
    }
    return cluster;
  }

  /** The servers not killed by the test. */
  get live(): ServerProcess[] {
    return this.servers.filter((server) => !server.killed);
  }

  /** Adds a server joining this ring through a live member. */
  async add(
    options: { dataDir?: string; port?: number; args?: string[] } = {},
  ): Promise<ServerProcess> {
    const live = this.live[0];
    if (!live) throw new Error("No live server to join through");
    const server = await ServerProcess.start({ join: live, ...this.#options, ...options });
    this.servers.push(server);
    return server;
  }

  /** Starts a killed server again, on its port and with its data directory. */
  async restart(server: ServerProcess, args: string[] = []): Promise<ServerProcess> {
    const index = this.servers.indexOf(server);
    const fresh = await this.add({ dataDir: server.dataDir, port: server.port, args });
    this.servers.splice(this.servers.indexOf(fresh), 1);
    this.servers[index] = fresh;
    return fresh;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.servers.map((server) => server.kill("SIGKILL")));
  }
}

/**
 * Starts `cloud runner --watch -q` against a server, with the runner's
 * token when the server wants one; the caller kills it (by its child handle).
 */
export function startRunner(
  server: { host: string; port: number; securityArgs?: (role: Role) => string[] },
  args: string[] = [],
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      mainPath,
      "runner",
      server.host,
      String(server.port),
      "--watch",
      "-q",
      ...(server.securityArgs?.("runner") ?? []),
      ...args,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
    env: quietEnvironment(),
  }).spawn();
}

/**
 * Runs `cloud` with arguments and returns its exit code, stdout and
 * stderr. It gets the shared test credential of `role` (client by
 * default; null for none) in `$CLOUD_TOKEN_FILE`, which servers started
 * with the shared credentials accept and open servers ignore.
 */
export async function runCloud(
  args: string[],
  options: {
    stdin?: Uint8Array;
    env?: Record<string, string>;
    signal?: AbortSignal;
    role?: Role | null;
  } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const role = options.role === undefined ? "client" : options.role;
  const token: Record<string, string> = role === null
    ? {}
    : { CLOUD_TOKEN_FILE: (await TestAuth.shared()).tokenFile(role) };
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", mainPath, ...args],
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    env: quietEnvironment({ ...token, ...options.env }),
    // Aborting kills the process (SIGTERM).
    ...(options.signal ? { signal: options.signal } : {}),
  }).spawn();
  if (options.stdin) {
    const writer = child.stdin.getWriter();
    await writer.write(options.stdin);
    await writer.close();
  }
  const output = await child.output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for ${options.what ?? "a condition"}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}
