/**
 * Test harness: real `cloud` processes on loopback, on free ports, each
 * stopped by the test that started it (by pid, `await using`).
 *
 * @module
 */

import { ComputeCloud } from "../client/cloud.ts";

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

  private constructor(child: Deno.ChildProcess, log: Tail, port: number, dataDir: string) {
    this.#child = child;
    this.#log = log;
    this.port = port;
    this.dataDir = dataDir;
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
   * Starts a server on a free loopback port (or `port`), waiting until it serves.
   *
   * @throws {Error} with the server's log when it does not start.
   */
  static async start(options: {
    dataDir?: string;
    join?: ServerProcess | { host: string; port: number };
    port?: number;
    args?: string[];
  } = {}): Promise<ServerProcess> {
    const dataDir = options.dataDir ?? await Deno.makeTempDir({ prefix: "cloud-test-server-" });
    const args = [
      "run",
      "--allow-all",
      "--v8-flags=--max-semi-space-size=4",
      mainPath,
      "server",
      String(options.port ?? 0),
      ...(options.join ? [options.join.host, String(options.join.port)] : []),
      "--listen",
      "127.0.0.1",
      "--advertise",
      "127.0.0.1",
      "--data",
      dataDir,
      ...(options.args ?? []),
    ];
    const child = new Deno.Command(Deno.execPath(), {
      args,
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    })
      .spawn();
    const log = new Tail();
    void child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (chunk) => log.add(chunk) }),
    ).catch(() => {});
    const port = await readPort(child, log);
    return new ServerProcess(child, log, port, dataDir);
  }

  /** A client of this server. */
  client(options: { connections?: number } = {}): ComputeCloud {
    return new ComputeCloud(this.host, this.port, options);
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

  /** Starts `count` servers, each joining the first. */
  static async start(count: number, args: string[] = []): Promise<Cluster> {
    const cluster = new Cluster();
    try {
      const first = await ServerProcess.start({ args });
      cluster.servers.push(first);
      for (let i = 1; i < count; i++) {
        cluster.servers.push(await ServerProcess.start({ join: first, args }));
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
    const server = await ServerProcess.start({ join: live, ...options });
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

/** Starts `cloud runner --watch -q` against a server; the caller kills it (by its child handle). */
export function startRunner(
  server: { host: string; port: number },
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
      ...args,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
}

/** Runs `cloud` with arguments and returns its exit code, stdout and stderr. */
export async function runCloud(
  args: string[],
  options: { stdin?: Uint8Array; env?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", mainPath, ...args],
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    ...(options.env ? { env: options.env } : {}),
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
