/**
 * A test cluster of hosts: `cloud` servers, runners and client agents, each
 * in its own network namespace with its own address (see netns.ts), with
 * the faults of a real network: partitions both ways or one way, healing,
 * pauses (SIGSTOP/SIGCONT), kill -9 and restart with the same data, and a
 * server's disk filling up (its data directory is a small tmpfs).
 *
 * Everything a cluster makes (processes, namespaces, mounts, directories)
 * goes in {@linkcode NetCluster.close}, which runs on failure (`await
 * using`) and on Ctrl-C.
 *
 * @module
 */

import type { AgentError, AgentReply, AgentRequest } from "./agent.ts";
import { Network, run } from "./netns.ts";
import { initAuth } from "../../cli/auth_init.ts";

const mainPath = new URL("../../main.ts", import.meta.url).pathname;
const agentPath = new URL("./agent.ts", import.meta.url).pathname;

/** The port every server listens on (each has an address of its own). */
export const serverPort = 7100;

/** Keeps the last `max` characters of a stream, for failure messages. */
class Tail {
  #text = "";
  constructor(readonly max = 65_536) {}
  add(chunk: string): void {
    this.#text = (this.#text + chunk).slice(-this.max);
  }
  get text(): string {
    return this.#text;
  }
}

/** A process started in a host's namespace (`ip netns exec` execs it: same pid). */
export class HostProcess {
  readonly child: Deno.ChildProcess;
  readonly log = new Tail();
  readonly status: Promise<Deno.CommandStatus>;
  exited = false;

  constructor(child: Deno.ChildProcess, stderr: ReadableStream<Uint8Array> | null) {
    this.child = child;
    this.status = child.status.then((status) => {
      this.exited = true;
      return status;
    });
    void stderr?.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (chunk) => this.log.add(chunk) }),
    ).catch(() => {});
  }

  /** The process id. */
  get pid(): number {
    return this.child.pid;
  }

  /** Sends a signal; nothing when it has exited. */
  signal(signal: Deno.Signal): void {
    if (this.exited) return;
    try {
      this.child.kill(signal);
    } catch {
      // It exited meanwhile.
    }
  }

  /** Kills it (SIGCONT first, so a paused process dies too) and waits for it to exit. */
  async kill(signal: Deno.Signal = "SIGKILL"): Promise<void> {
    this.signal("SIGCONT");
    this.signal(signal);
    await this.status;
  }
}

/** One server of a cluster: its host, address and data directory, and its process while it runs. */
export interface NetServer {
  readonly index: number;
  readonly host: string;
  readonly address: string;
  readonly port: number;
  /** `address:port`, as the ring knows it. */
  readonly id: string;
  readonly dataDir: string;
  /** Size of the tmpfs holding `dataDir`, when it has one. */
  readonly diskMb?: number;
  process?: HostProcess;
  paused: boolean;
}

/** Options of {@linkcode NetCluster.start}. */
export interface NetClusterOptions {
  readonly servers: number;
  /** Extra arguments of every server (e.g. `--lease-ms 4000`). */
  readonly serverArgs?: readonly string[];
  /** Servers (by index) whose data directory is a tmpfs of this many MB. */
  readonly diskMb?: Readonly<Record<number, number>>;
}

/**
 * The namespaces have no route to a package registry: what the processes
 * run is cached here first (in this machine's own namespace), and they run
 * with `--cached-only`.
 */
let cached: Promise<string> | undefined;
function cacheModules(): Promise<string> {
  cached ??= run(Deno.execPath(), ["cache", mainPath, agentPath]);
  return cached;
}

const openClusters = new Set<NetCluster>();
let interruptListening = false;

function onInterrupt(): void {
  console.error("interrupted: removing test namespaces, processes and mounts");
  void Promise.allSettled([...openClusters].map((cluster) => cluster.close())).then(() =>
    Deno.exit(130)
  );
}

/** A replied request to an agent, with when it was sent and answered (ms since the epoch). */
export type Timed =
  & ({ readonly ok: true; readonly value: unknown } | {
    readonly ok: false;
    readonly error: AgentError;
  })
  & { readonly start: number; readonly end: number };

/** A client process in a host's namespace (agent.ts); requests are answered concurrently. */
export class Agent {
  readonly host: string;
  readonly process: HostProcess;
  readonly #pending = new Map<number, (reply: AgentReply) => void>();
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #next = 1;

  constructor(host: string, process: HostProcess) {
    this.host = host;
    this.process = process;
    this.#writer = process.child.stdin.getWriter();
    void this.#read();
  }

  async #read(): Promise<void> {
    let buffered = "";
    try {
      for await (const chunk of this.process.child.stdout.pipeThrough(new TextDecoderStream())) {
        buffered += chunk;
        let newline: number;
        while ((newline = buffered.indexOf("\n")) >= 0) {
          const reply = JSON.parse(buffered.slice(0, newline)) as AgentReply;
          buffered = buffered.slice(newline + 1);
          this.#pending.get(reply.id)?.(reply);
          this.#pending.delete(reply.id);
        }
      }
    } catch {
      // The agent was killed.
    }
    for (const [id, resolve] of this.#pending) {
      resolve({
        id,
        ok: false,
        error: { kind: "error", reason: "agent-exited", message: this.process.log.text },
      });
    }
    this.#pending.clear();
  }

  /**
   * Sends a request and waits for its reply, at most `timeoutMs` (then the
   * outcome is a timeout: the operation may still take effect).
   */
  async call(request: AgentRequest, timeoutMs = 15_000): Promise<Timed> {
    const id = this.#next++;
    const start = Date.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const reply = await new Promise<AgentReply>((resolve) => {
      this.#pending.set(id, resolve);
      timer = setTimeout(() => {
        this.#pending.delete(id);
        resolve({
          id,
          ok: false,
          error: { kind: "timeout", reason: "timeout", message: `no reply in ${timeoutMs} ms` },
        });
      }, timeoutMs);
      this.#writer.write(new TextEncoder().encode(JSON.stringify({ id, ...request }) + "\n"))
        .catch(() => {});
    });
    clearTimeout(timer);
    const end = Date.now();
    return reply.ok
      ? { ok: true, value: reply.value, start, end }
      : { ok: false, error: reply.error, start, end };
  }

  /** Like {@linkcode call}, but returns the value or throws. */
  async value<T>(request: AgentRequest, timeoutMs?: number): Promise<T> {
    const reply = await this.call(request, timeoutMs);
    if (!reply.ok) {
      throw new Error(`Agent on ${this.host}: ${request.op} failed: ${reply.error.message}`);
    }
    return reply.value as T;
  }

  /** Ends the agent. */
  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    const exited = await Promise.race([
      this.process.status.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2_000)),
    ]);
    if (!exited) await this.process.kill("SIGKILL");
  }
}

/** Servers, runners and agents on hosts of one {@linkcode Network}. */
export class NetCluster {
  readonly network: Network;
  readonly servers: NetServer[] = [];
  readonly #options: NetClusterOptions;
  readonly #dir: string;
  readonly #processes = new Set<HostProcess>();
  readonly #agents: Agent[] = [];
  readonly #mounts: string[] = [];
  readonly #runners: { host: string; process: HostProcess }[] = [];
  #closing: Promise<void> | undefined;

  private constructor(network: Network, dir: string, options: NetClusterOptions) {
    this.network = network;
    this.#dir = dir;
    this.#options = options;
  }

  /**
   * Makes the hosts `s0 … s<n-1>` and starts a server on each, each joining the first.
   *
   * @throws {Error} with the server's log when one does not start.
   */
  static async start(options: NetClusterOptions): Promise<NetCluster> {
    await cacheModules();
    const network = await Network.create();
    const dir = await Deno.makeTempDir({ prefix: `cnx-${network.id}-` });
    // The servers listen on addresses other hosts reach: they run with authentication.
    await initAuth(`${dir}/auth`);
    const cluster = new NetCluster(network, dir, options);
    openClusters.add(cluster);
    if (!interruptListening) {
      interruptListening = true;
      Deno.addSignalListener("SIGINT", onInterrupt);
    }
    try {
      for (let index = 0; index < options.servers; index++) {
        const host = await network.addHost(`s${index}`);
        const dataDir = `${dir}/s${index}`;
        await Deno.mkdir(dataDir);
        const diskMb = options.diskMb?.[index];
        if (diskMb !== undefined) {
          await run("mount", [
            "-t",
            "tmpfs",
            "-o",
            `size=${diskMb}m`,
            `cnx-${network.id}`,
            dataDir,
          ]);
          cluster.#mounts.push(dataDir);
        }
        cluster.servers.push({
          index,
          host: host.name,
          address: host.address,
          port: serverPort,
          id: `${host.address}:${serverPort}`,
          dataDir,
          ...(diskMb === undefined ? {} : { diskMb }),
          paused: false,
        });
      }
      for (const server of cluster.servers) {
        await cluster.startServer(server, server.index === 0 ? undefined : cluster.servers[0]);
      }
    } catch (error) {
      await cluster.close();
      throw error;
    }
    return cluster;
  }

  /** Servers whose process runs (paused ones included). */
  get running(): NetServer[] {
    return this.servers.filter((s) => s.process && !s.process.exited);
  }

  /**
   * Starts `server`'s process on its host, joining the ring through `seed`,
   * and waits until it serves. The one place a server's command line is
   * made.
   *
   * @throws {Error} with the server's log when it does not start within 60 s.
   */
  async startServer(server: NetServer, seed?: NetServer): Promise<void> {
    const args = [
      "run",
      "--allow-all",
      "--cached-only",
      "--v8-flags=--max-semi-space-size=4",
      mainPath,
      "server",
      String(server.port),
      ...(seed ? [seed.address, String(seed.port)] : []),
      "--listen",
      server.address,
      "--advertise",
      server.address,
      "--data",
      server.dataDir,
      "--auth-file",
      `${this.#dir}/auth/auth`,
      ...(this.#options.serverArgs ?? []),
    ];
    const process = this.#spawn(server.host, [Deno.execPath(), ...args], "piped");
    server.process = process;
    server.paused = false;
    const reader = process.child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const timer = setTimeout(() => process.signal("SIGKILL"), 60_000);
    let text = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`Server ${server.id} did not start:\n${process.log.text}`);
        text += value;
        if (text.includes("listening on")) break;
      }
    } finally {
      clearTimeout(timer);
    }
    void (async () => {
      try {
        while (!(await reader.read()).done) { /* one line at start */ }
      } catch { /* killed */ }
    })();
  }

  /** Kills server `index` with `signal` (SIGKILL by default) and waits for it to exit. */
  async kill(index: number, signal: Deno.Signal = "SIGKILL"): Promise<void> {
    const server = this.servers[index]!;
    await server.process?.kill(signal);
    server.paused = false;
  }

  /** Starts a stopped server again on its host, with its data, joining through a running one. */
  async restart(index: number): Promise<void> {
    const server = this.servers[index]!;
    if (server.process && !server.process.exited) {
      throw new Error(`Cannot restart ${server.id}: it runs`);
    }
    const seed = this.running.find((s) => s !== server && !s.paused);
    await this.startServer(server, seed);
  }

  /** Freezes server `index` (SIGSTOP): it holds its sockets but answers nothing. */
  pause(index: number): void {
    const server = this.servers[index]!;
    server.process?.signal("SIGSTOP");
    server.paused = true;
  }

  /** Lets a paused server go on (SIGCONT). */
  resume(index: number): void {
    const server = this.servers[index]!;
    server.process?.signal("SIGCONT");
    server.paused = false;
  }

  /**
   * Fills server `index`'s disk (its tmpfs) to the last byte with a filler file.
   *
   * @throws {Error} when that server has no tmpfs of its own.
   */
  async fillDisk(index: number): Promise<number> {
    const server = this.servers[index]!;
    if (server.diskMb === undefined) {
      throw new Error(`Cannot fill ${server.id}: no tmpfs of its own`);
    }
    const file = await Deno.open(`${server.dataDir}/filler`, { write: true, create: true });
    let bytes = 0;
    try {
      for (const size of [1 << 20, 1 << 12, 1]) {
        const block = new Uint8Array(size);
        for (;;) {
          try {
            bytes += await file.write(block);
          } catch (error) {
            if (/no space|ENOSPC|os error 28/i.test(String(error))) break;
            throw error;
          }
        }
      }
    } finally {
      file.close();
    }
    return bytes;
  }

  /** Frees what {@linkcode fillDisk} took. */
  async freeDisk(index: number): Promise<void> {
    await Deno.remove(`${this.servers[index]!.dataDir}/filler`).catch(() => {});
  }

  /** Starts a client agent on host `name` (made when it does not exist yet). */
  async agent(name: string): Promise<Agent> {
    await this.#ensureHost(name);
    const process = this.#spawn(
      name,
      [
        Deno.execPath(),
        "run",
        "--allow-all",
        "--cached-only",
        agentPath,
      ],
      "piped",
      {
        // Its clients are clients; what it asks to check copies (PULL) needs a server's token.
        CLOUD_TOKEN_FILE: `${this.#dir}/auth/client.token`,
        CLOUD_NETNS_ORACLE_TOKEN_FILE: `${this.#dir}/auth/server.token`,
      },
    );
    const agent = new Agent(name, process);
    this.#agents.push(agent);
    return agent;
  }

  /** Starts `cloud runner --watch` on host `name` (made when needed), attached to `server`. */
  async runner(
    name: string,
    server: NetServer,
    args: readonly string[] = [],
  ): Promise<HostProcess> {
    await this.#ensureHost(name);
    const workDir = `${this.#dir}/runner-${name}-${crypto.randomUUID().slice(0, 8)}`;
    const process = this.#spawn(name, [
      Deno.execPath(),
      "run",
      "--allow-all",
      "--cached-only",
      mainPath,
      "runner",
      server.address,
      String(server.port),
      "--watch",
      "--work-dir",
      workDir,
      "--token-file",
      `${this.#dir}/auth/runner.token`,
      ...args,
    ], "null");
    this.#runners.push({ host: name, process });
    return process;
  }

  /** Host names of the servers. */
  get serverHosts(): string[] {
    return this.servers.map((s) => s.host);
  }

  async #ensureHost(name: string): Promise<void> {
    if (!this.network.hosts.some((h) => h.name === name)) await this.network.addHost(name);
  }

  #spawn(
    host: string,
    command: readonly string[],
    stdout: "piped" | "null",
    env: Record<string, string> = {},
  ): HostProcess {
    const [program, ...args] = this.network.exec(host, command);
    const child = new Deno.Command(program!, {
      args,
      stdin: "piped",
      stdout,
      stderr: "piped",
      env,
    }).spawn();
    const process = new HostProcess(child, child.stderr);
    this.#processes.add(process);
    return process;
  }

  /** The logs of every server and runner, for a failure message. */
  serverLogs(lines = 40): string {
    const tail = (text: string) => text.split("\n").slice(-lines).join("\n");
    return [
      ...this.servers.map((s) => `--- ${s.host} ${s.id}\n${tail(s.process?.log.text ?? "")}`),
      ...this.#runners.map((r) => `--- runner on ${r.host}\n${tail(r.process.log.text)}`),
    ].join("\n");
  }

  /** Stops every process, unmounts, removes the directories and the namespaces. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await Promise.allSettled(this.#agents.map((agent) => agent.close()));
    await Promise.allSettled([...this.#processes].map((p) => p.kill("SIGKILL")));
    for (const mount of this.#mounts) {
      await run("umount", [mount]).catch(() => run("umount", ["-l", mount]).catch(() => {}));
    }
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
    await this.network.close();
    openClusters.delete(this);
    if (openClusters.size === 0 && interruptListening) {
      interruptListening = false;
      Deno.removeSignalListener("SIGINT", onInterrupt);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
