/**
 * Every process the bench starts goes through a ProcessRegistry: each child
 * gets its own process group (so helpers it forks, such as Dask workers, go
 * with it), and is stopped by group id on success, on error and on Ctrl-C.
 *
 * @module
 */

/** How a child's stdout and stderr are handled. */
export type Output = "null" | "piped" | "inherit";

/** Options of ProcessRegistry.spawn(). */
export interface SpawnOptions {
  cwd?: string;
  env?: Record<string, string>;
  stdout?: Output;
  stderr?: Output;
}

/** A child the registry started; stop() ends its whole process group. */
export interface ManagedProcess {
  readonly label: string;
  readonly pid: number;
  readonly child: Deno.ChildProcess;
  /** SIGTERM to the group, SIGKILL after `graceMs` (default 3000); resolves once it exited. */
  stop(graceMs?: number): Promise<Deno.CommandStatus>;
}

function killGroup(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

/** Keeps track of the children the bench started, to stop them by process group id. */
export class ProcessRegistry {
  #running = new Map<number, ManagedProcess>();

  /** Start `command` in a new process group and track it until it is stopped. */
  spawn(
    label: string,
    command: string,
    args: string[],
    options: SpawnOptions = {},
  ): ManagedProcess {
    const child = new Deno.Command(command, {
      args,
      cwd: options.cwd,
      env: options.env,
      stdin: "null",
      stdout: options.stdout ?? "null",
      stderr: options.stderr ?? "inherit",
      detached: true,
    }).spawn();
    const pid = child.pid;
    let stopping: Promise<Deno.CommandStatus> | undefined;
    const managed: ManagedProcess = {
      label,
      pid,
      child,
      stop: (graceMs = 3000) => {
        stopping ??= this.#stop(managed, graceMs);
        return stopping;
      },
    };
    this.#running.set(pid, managed);
    child.status.then(() => {
      killGroup(pid, "SIGKILL"); // leftovers of a leader that exited on its own
      this.#running.delete(pid);
    });
    return managed;
  }

  async #stop(managed: ManagedProcess, graceMs: number): Promise<Deno.CommandStatus> {
    killGroup(managed.pid, "SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), graceMs);
    });
    const first = await Promise.race([managed.child.status, timedOut]);
    clearTimeout(timer);
    if (first === "timeout") killGroup(managed.pid, "SIGKILL");
    const status = await managed.child.status;
    killGroup(managed.pid, "SIGKILL");
    this.#running.delete(managed.pid);
    return status;
  }

  /** Stop every tracked process (SIGTERM, then SIGKILL after `graceMs`). */
  async stopAll(graceMs = 3000): Promise<void> {
    await Promise.all([...this.#running.values()].map((managed) => managed.stop(graceMs)));
  }

  /** SIGKILL every tracked process group right now; for signal handlers that must exit at once. */
  killAllNow(): void {
    for (const pid of this.#running.keys()) killGroup(pid, "SIGKILL");
  }

  /** Labels and pids of the processes still tracked. */
  running(): { label: string; pid: number }[] {
    return [...this.#running.values()].map(({ label, pid }) => ({ label, pid }));
  }
}

/** Options of runJson(). */
export interface RunJsonOptions extends Pick<SpawnOptions, "cwd" | "env"> {
  /** Kill the process group and fail after this long. */
  timeoutMs: number;
  /** Copy the child's stderr to ours as it arrives (otherwise kept for error messages). */
  echoStderr?: boolean;
}

/**
 * Run a script to completion and parse the JSON object on the last line of its stdout.
 *
 * @throws {Error} when it times out (its process group is killed), exits non-zero, or prints no JSON.
 */
export async function runJson<T>(
  registry: ProcessRegistry,
  command: string[],
  options: RunJsonOptions,
): Promise<T> {
  const [program, ...args] = command;
  if (program === undefined) throw new TypeError("Cannot run a script: empty command");
  const label = args.find((arg) => arg.endsWith(".py")) ?? program;
  const managed = registry.spawn(label, program, args, {
    cwd: options.cwd,
    env: options.env,
    stdout: "piped",
    stderr: options.echoStderr ? "inherit" : "piped",
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    managed.stop(2000);
  }, options.timeoutMs);
  try {
    const output = await managed.child.output();
    const stdout = new TextDecoder().decode(output.stdout);
    const stderr = options.echoStderr ? "" : new TextDecoder().decode(output.stderr);
    if (timedOut) throw new Error(`Cannot run ${label}: timed out after ${options.timeoutMs} ms`);
    if (!output.success) {
      throw new Error(`Cannot run ${label}: exit code ${output.code}\n${tail(stderr, 1500)}`);
    }
    const last = stdout.trimEnd().split("\n").pop() ?? "";
    try {
      return JSON.parse(last) as T;
    } catch {
      throw new Error(`Cannot run ${label}: last line is not JSON: ${tail(last, 200)}`);
    }
  } finally {
    clearTimeout(timer);
    await managed.stop(2000);
  }
}

function tail(text: string, characters: number): string {
  return text.length <= characters ? text : "…" + text.slice(text.length - characters);
}

/** Run a command to completion and return its trimmed stdout, or undefined if it cannot run or fails. */
export async function commandOutput(command: string, args: string[]): Promise<string | undefined> {
  try {
    const output = await new Deno.Command(command, { args, stdin: "null" }).output();
    if (!output.success) return undefined;
    const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
    return text.trim();
  } catch {
    return undefined;
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Parse the peak resident set size (VmHWM) in bytes from a /proc/<pid>/status text. */
export function parsePeakRssBytes(statusText: string): number | undefined {
  const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(statusText);
  return match ? Number(match[1]) * 1024 : undefined;
}

/** Peak resident set size in bytes of a live process, from /proc/<pid>/status; undefined once it is gone. */
export async function peakRssBytes(pid: number): Promise<number | undefined> {
  try {
    return parsePeakRssBytes(await Deno.readTextFile(`/proc/${pid}/status`));
  } catch {
    return undefined;
  }
}

/** Wait until a TCP connection to host:port succeeds, or throw after `timeoutMs`. */
export async function waitForPort(
  hostname: string,
  port: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (true) {
    try {
      const conn = await Deno.connect({ hostname, port });
      conn.close();
      return;
    } catch (error) {
      if (performance.now() > deadline) {
        throw new Error(
          `Cannot connect to ${hostname}:${port}: still refused after ${timeoutMs} ms`,
          {
            cause: error,
          },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
