/**
 * Cloud servers and runners for the bench, started through a
 * ProcessRegistry so that the bench stops them on errors and Ctrl-C.
 *
 * @module
 */

import type { ManagedProcess, ProcessRegistry } from "./procs.ts";

const mainPath = new URL("../main.ts", import.meta.url).pathname;

/** One `cloud server` process. */
export interface BenchServer {
  readonly host: string;
  readonly port: number;
  readonly id: string;
  readonly dataDir: string;
  readonly process: ManagedProcess;
  killed: boolean;
}

/** A ring of servers started by the bench. */
export class BenchRing {
  readonly servers: BenchServer[] = [];
  readonly #procs: ProcessRegistry;
  readonly #root: string;
  readonly #args: readonly string[];

  private constructor(procs: ProcessRegistry, root: string, args: readonly string[]) {
    this.#procs = procs;
    this.#root = root;
    this.#args = args;
  }

  /** Starts `count` servers in one ring, data under `root`. */
  static async start(
    procs: ProcessRegistry,
    root: string,
    count: number,
    args: readonly string[] = [],
  ): Promise<BenchRing> {
    const ring = new BenchRing(procs, root, args);
    for (let i = 0; i < count; i++) await ring.add();
    return ring;
  }

  /** Servers not killed. */
  get live(): BenchServer[] {
    return this.servers.filter((server) => !server.killed);
  }

  /** Starts one more server, joining through a live one. */
  async add(): Promise<BenchServer> {
    const join = this.live[0];
    const dataDir = `${this.#root}/server-${this.servers.length}-${
      crypto.randomUUID().slice(0, 8)
    }`;
    const args = [
      "run",
      "--allow-all",
      "--v8-flags=--max-semi-space-size=4",
      mainPath,
      "server",
      "0",
      ...(join ? [join.host, String(join.port)] : []),
      "--listen",
      "127.0.0.1",
      "--advertise",
      "127.0.0.1",
      "--data",
      dataDir,
      "--quiet",
      ...this.#args,
    ];
    const process = this.#procs.spawn(
      `cloud server ${this.servers.length + 1}`,
      Deno.execPath(),
      args,
      {
        stdout: "piped",
        stderr: "inherit",
      },
    );
    const port = await readPort(process);
    const server = {
      host: "127.0.0.1",
      port,
      id: `127.0.0.1:${port}`,
      dataDir,
      process,
      killed: false,
    };
    this.servers.push(server);
    return server;
  }

  /** SIGKILLs one server. */
  async kill(server: BenchServer): Promise<void> {
    server.killed = true;
    server.process.child.kill("SIGKILL");
    await server.process.child.status;
  }

  /** Stops every server. */
  async stop(): Promise<void> {
    await Promise.all(this.servers.map((server) => server.process.stop(2_000)));
  }
}

async function readPort(process: ManagedProcess): Promise<number> {
  const reader = process.child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${process.label} exited before listening`);
    text += value;
    const match = /listening on [^ ]*:([0-9]+) /.exec(text);
    if (match) {
      void (async () => {
        while (!(await reader.read().catch(() => ({ done: true }))).done) {
          // Discard what the server prints after its first line.
        }
      })();
      return Number(match[1]);
    }
  }
}

/** Starts `cloud runner --watch` against a server. */
export function startRunner(
  procs: ProcessRegistry,
  server: { host: string; port: number },
  args: readonly string[],
): ManagedProcess {
  return procs.spawn(
    "cloud runner",
    Deno.execPath(),
    [
      "run",
      "--allow-all",
      mainPath,
      "runner",
      server.host,
      String(server.port),
      "--watch",
      "--quiet",
      ...args,
    ],
    { stdout: "null", stderr: "inherit" },
  );
}
