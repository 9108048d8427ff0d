/**
 * The portable backend: CPython compiled to WebAssembly (Pyodide), in a Deno
 * child process (`pyodide_worker.ts`) whose only permission is reading
 * Pyodide's own files: no network, no writes, no subprocesses, no
 * environment, no FFI. Works wherever Deno runs, without system packages.
 *
 * - One worker process runs exactly one job, then exits: no job sees
 *   another's state. Loading Pyodide from scratch takes ~2-2.5 s of CPU.
 *   Measured alternatives: a second Pyodide instance inside a long-lived
 *   process still takes ~1.2 s and shares one JavaScript realm between jobs;
 *   restoring a memory snapshot takes ~0.4 s. So at creation the sandbox has
 *   one worker make a snapshot of a freshly started interpreter (before any
 *   job), and every worker starts from it; the sandbox also keeps `warm`
 *   workers loaded ahead of time. Snapshots use private options of the
 *   pinned Pyodide version (`_makeSnapshot`, `_loadSnapshot`); if making one
 *   fails, workers load from scratch.
 * - Inputs travel over the worker's stdin into Pyodide's in-memory file
 *   system under `/net`, so they occupy the worker's memory: a job whose
 *   inputs add up to more than `memoryBytes` fails with reason `"memory"`
 *   before it starts. The file system then refuses every change with
 *   EROFS (see `denyWrites` in the worker).
 * - Limits: wall clock by killing the process; CPU time is enforced as wall
 *   time (Python runs on one thread, so its CPU time cannot exceed wall time);
 *   memory through V8 flags: WebAssembly memory pages (`MemoryError` inside
 *   Python when exceeded) and a fixed JS heap; no processes can be started.
 *
 * @module
 */

import { version as pyodideVersion } from "pyodide";
import { sandboxError, SandboxLifecycle } from "./lifecycle.ts";
import { planNetEntries } from "./net_names.ts";
import { classifyOutcome } from "./outcome.ts";
import {
  encodeWorkerHeader,
  parseVmSizeBytes,
  readyByte,
  workerFailureStatus,
} from "./pyodide_protocol.ts";
import { findExecutable, hostSearchPath } from "./executables.ts";
import {
  defaultSandboxLimits,
  type Sandbox,
  type SandboxJob,
  type SandboxLimits,
  type SandboxResult,
} from "./sandbox.ts";
import { supervise } from "./supervise.ts";
import { pyodideAddressSpaceHeadroomBytes, pyodideWarmCount } from "../../limits.ts";

/**
 * JS heap of a worker. Pyodide's JavaScript side needs ~50 MiB once loaded;
 * job data lives in WebAssembly memory (bounded by `memoryBytes`), and inputs
 * pass through the heap in 64 KiB pieces.
 */
const workerHeapMiB = 256;

/** Bytes of one WebAssembly memory page. */
const wasmPageBytes = 64 * 1024;

/** Time a worker may take to load Pyodide before it counts as broken. */
const loadTimeoutMs = 60_000;

/** What to do when Pyodide's files are missing from Deno's cache. */
const refillCache =
  "fill Deno's cache with network access once (deno install --entrypoint main.ts) or use --sandbox bwrap";

/** Options of {@linkcode createPyodideSandbox}. */
export interface PyodideOptions {
  /** Overrides of {@linkcode defaultSandboxLimits}; `memoryBytes` ≥ 256 MiB (Pyodide's own needs). */
  readonly limits?: Partial<SandboxLimits>;
  /** Workers kept loaded ahead of time; default `pyodideWarmCount` (limits.ts). */
  readonly warm?: number;
}

/** A Pyodide sandbox. */
export interface PyodideSandbox extends Sandbox {
  readonly name: "pyodide";
  /** The Pyodide version (the npm package's). */
  readonly version: string;
}

/**
 * Finds Pyodide's files, starts the warm workers and waits until the first
 * one has loaded Pyodide.
 *
 * Throws `Error` when Pyodide's files are missing or a worker cannot load it.
 */
export async function createPyodideSandbox(options: PyodideOptions = {}): Promise<PyodideSandbox> {
  const limits = { ...defaultSandboxLimits, ...options.limits };
  const pyodideDir = decodeURIComponent(new URL(".", import.meta.resolve("pyodide")).pathname);
  for (
    const asset of ["pyodide.asm.wasm", "pyodide.asm.mjs", "python_stdlib.zip", "pyodide-lock.json"]
  ) {
    try {
      await Deno.stat(`${pyodideDir}${asset}`);
    } catch {
      throw new Error(
        `Cannot start pyodide sandbox: missing ${asset} in ${pyodideDir}; fix: ${refillCache}`,
      );
    }
  }
  const prlimitPath = await findPrlimit();
  const tempDir = await Deno.makeTempDir({ prefix: "cloud-pyodide-" });
  const snapshotPath = await makeSnapshot(pyodideDir, limits, `${tempDir}/snapshot.bin`);
  const sandbox = new PyodidePool({
    limits,
    pyodideDir,
    tempDir,
    snapshotPath,
    prlimitPath,
    warmCount: Math.max(1, options.warm ?? pyodideWarmCount),
  });
  const first = await sandbox.firstReady();
  if (first !== null) {
    await sandbox.close();
    throw new Error(
      `Cannot start pyodide sandbox: the worker failed to load Pyodide: ${first}; fix: ${refillCache}`,
    );
  }
  return sandbox;
}

/**
 * `prlimit` (util-linux), which bounds each worker's address space, on
 * Linux; null elsewhere (RLIMIT_AS means little there: WebAssembly memory
 * stays bounded, JavaScript memory does not). Throws `Error` on Linux
 * without it.
 */
async function findPrlimit(): Promise<string | null> {
  if (Deno.build.os !== "linux") return null;
  const path = await findExecutable("prlimit", hostSearchPath());
  if (path !== null) return path;
  throw new Error(
    "Cannot start pyodide sandbox: prlimit is missing, so a worker's memory cannot be bounded; fix: install util-linux (apt-get install util-linux)",
  );
}

/** A started worker. */
interface Worker {
  readonly child: Deno.ChildProcess;
  readonly stdout: ReadableStreamDefaultReader<Uint8Array>;
  /** Resolves with stdout bytes after the ready byte, or a failure message. */
  readonly ready: Promise<{ head: Uint8Array } | { failure: string }>;
}

class PyodidePool implements PyodideSandbox {
  readonly name = "pyodide" as const;
  readonly version = pyodideVersion;
  readonly limits: SandboxLimits;
  /** Whether workers start from a memory snapshot. */
  readonly fromSnapshot: boolean;
  readonly #pyodideDir: string;
  readonly #tempDir: string;
  readonly #snapshotPath: string | null;
  readonly #prlimitPath: string | null;
  readonly #warmCount: number;
  readonly #pool: Worker[] = [];
  readonly #lifecycle = new SandboxLifecycle();

  constructor(config: {
    limits: SandboxLimits;
    pyodideDir: string;
    tempDir: string;
    snapshotPath: string | null;
    prlimitPath: string | null;
    warmCount: number;
  }) {
    this.limits = config.limits;
    this.#pyodideDir = config.pyodideDir;
    this.#tempDir = config.tempDir;
    this.#snapshotPath = config.snapshotPath;
    this.fromSnapshot = config.snapshotPath !== null;
    this.#prlimitPath = config.prlimitPath;
    this.#warmCount = config.warmCount;
    this.#refill();
  }

  /** Null when the oldest warm worker loaded Pyodide, else why it failed. */
  async firstReady(): Promise<string | null> {
    const worker = this.#pool[0];
    if (worker === undefined) return "no worker";
    const ready = await worker.ready;
    return "failure" in ready ? ready.failure : null;
  }

  async run(job: SandboxJob): Promise<SandboxResult> {
    return await this.#lifecycle.run(job, (signal) => this.#run(job, signal));
  }

  async close(): Promise<void> {
    await this.#lifecycle.close({
      stop: async () => {
        await Promise.all(this.#pool.splice(0).map((worker) => discard(worker)));
      },
      cleanup: async () => {
        await Deno.remove(this.#tempDir, { recursive: true }).catch(() => {});
      },
    });
  }

  async #run(job: SandboxJob, signal: AbortSignal): Promise<SandboxResult> {
    const plan = planNetEntries(job.inputs);
    let sizes: number[];
    try {
      sizes = await Promise.all(
        plan.entries.map(async (entry) => (await Deno.stat(entry.path)).size),
      );
    } catch (error) {
      return sandboxError(`Cannot read input: ${error instanceof Error ? error.message : error}`);
    }
    const inputBytes = sizes.reduce((sum, size) => sum + size, 0);
    if (inputBytes > this.limits.memoryBytes) {
      // Inputs live in the worker's memory (JavaScript buffers behind the
      // in-memory file system), outside the WebAssembly limit: refuse first.
      return {
        ...sandboxError(
          `Memory limit reached: inputs are ${inputBytes} bytes, more than ${this.limits.memoryBytes}`,
        ),
        reason: "memory",
      };
    }
    const worker = this.#take();
    const ready = await worker.ready;
    if ("failure" in ready) {
      await discard(worker);
      return sandboxError(`Worker failed to load Pyodide: ${ready.failure}`);
    }
    const bounded = await this.#boundAddressSpace(worker.child.pid, inputBytes);
    if (bounded !== null) {
      await discard(worker);
      return sandboxError(bounded);
    }
    const header = encodeWorkerHeader({
      source: job.source,
      inputs: plan.entries.map((entry, i) => ({ name: entry.name, bytes: sizes[i]! })),
    });
    const seen = await supervise({
      child: worker.child,
      stdout: worker.stdout,
      stdoutHead: ready.head,
      stdin: streamJob(header, plan.entries.map((entry) => entry.path)),
      stdoutPath: job.stdoutPath,
      stdoutBytesMax: this.limits.stdoutBytesMax,
      stderrBytesMax: this.limits.stderrBytesMax,
      ...(job.onStderr ? { onStderr: job.onStderr } : {}),
      wallMs: Math.min(this.limits.wallMs, this.limits.cpuSeconds * 1000),
      signal,
      kill: () => worker.child.kill("SIGKILL"),
    });
    const firstLine = new TextDecoder().decode(seen.stderr.subarray(0, 300)).split("\n")[0] ?? "";
    const workerFailed = seen.observation.exitCode === workerFailureStatus &&
      firstLine.startsWith("cloud-sandbox: ");
    // V8 reports its own heap exhaustion (a JS-side allocation by the job
    // through `import js`), or its address space spent (RLIMIT_AS) where it
    // cannot throw, on stderr, then may hang until the wall clock.
    const jsOutOfMemory =
      /Fatal JavaScript out of memory|JavaScript heap out of memory|Fatal process out of memory/
        .test(
          new TextDecoder().decode(seen.stderr),
        );
    const outcome = classifyOutcome({
      ...seen.observation,
      wallTimeout: seen.observation.wallTimeout && !jsOutOfMemory,
      oomKilled: jsOutOfMemory,
      sandboxError: seen.observation.sandboxError ??
        (workerFailed ? `Worker failed: ${firstLine}` : null),
    }, { ...this.limits, wallMs: Math.min(this.limits.wallMs, this.limits.cpuSeconds * 1000) });
    return {
      exitCode: seen.observation.exitCode,
      reason: outcome.reason,
      detail: outcome.detail,
      stdoutBytes: seen.stdoutBytes,
      stderr: seen.stderr,
      wallMs: seen.wallMs,
    };
  }

  /**
   * Sets RLIMIT_AS of the loaded worker `pid` to what it has reserved now
   * plus the job's memory and a headroom for V8's own growth. Null when set,
   * else why not.
   */
  async #boundAddressSpace(pid: number, inputBytes: number): Promise<string | null> {
    if (this.#prlimitPath === null) return null;
    let reserved: number;
    try {
      reserved = parseVmSizeBytes(await Deno.readTextFile(`/proc/${pid}/status`));
    } catch (error) {
      return `Cannot bound the worker's memory: ${error instanceof Error ? error.message : error}`;
    }
    const limit = reserved + inputBytes + pyodideAddressSpaceHeadroomBytes;
    const output = await new Deno.Command(this.#prlimitPath, {
      args: [`--pid=${pid}`, `--as=${limit}`],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output().catch((error: Error) => ({
      success: false,
      stderr: new TextEncoder().encode(error.message),
    }));
    if (output.success) return null;
    return `Cannot bound the worker's memory: prlimit failed (${
      new TextDecoder().decode(output.stderr).trim()
    })`;
  }

  /** The oldest warm worker (loaded first), or a new one. */
  #take(): Worker {
    const worker = this.#pool.shift() ?? this.#spawn();
    this.#refill();
    return worker;
  }

  #refill(): void {
    while (!this.#lifecycle.closed && this.#pool.length < this.#warmCount) {
      this.#pool.push(this.#spawn());
    }
  }

  #spawn(): Worker {
    const snapshot = this.#snapshotPath;
    const child = workerCommand(this.#pyodideDir, this.limits, {
      readable: snapshot === null ? [] : [snapshot],
      args: snapshot === null ? [] : [`--snapshot=${snapshot}`],
    }).spawn();
    const stdout = child.stdout.getReader();
    const worker = { child, stdout, ready: waitReady(child, stdout) };
    this.#lifecycle.track(worker.ready);
    return worker;
  }
}

/**
 * A worker command: Deno with read access to Pyodide's files (and `readable`)
 * only, the memory flags, and an environment of nothing but Deno's cache dir.
 */
function workerCommand(
  pyodideDir: string,
  limits: SandboxLimits,
  extra: { readable: readonly string[]; args: readonly string[] },
): Deno.Command {
  const pages = Math.floor(limits.memoryBytes / wasmPageBytes);
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      // Modules exactly as the lock file pins them, from the cache the runner
      // filled: never the network, and never the registry metadata a cache
      // filled through the lock file lacks (resolving without it would need it).
      "--cached-only",
      `--config=${projectFile("deno.json")}`,
      `--lock=${projectFile("deno.lock")}`,
      "--frozen",
      `--allow-read=${[pyodideDir, ...extra.readable].join(",")}`,
      `--v8-flags=--max-old-space-size=${workerHeapMiB},--wasm-max-mem-pages=${pages}`,
      new URL("./pyodide_worker.ts", import.meta.url).pathname,
      ...extra.args,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env: workerEnvironment(pyodideDir),
    cwd: "/",
  });
}

/** A file of the project (beside `deno.json`), as a path. */
function projectFile(name: string): string {
  return decodeURIComponent(new URL(`../../${name}`, import.meta.url).pathname);
}

/**
 * Has a worker write a memory snapshot of a fresh interpreter to `path`.
 * Returns `path`, or `null` when that failed (workers then load from scratch).
 */
async function makeSnapshot(
  pyodideDir: string,
  limits: SandboxLimits,
  path: string,
): Promise<string | null> {
  const child = workerCommand(pyodideDir, limits, { readable: [], args: ["--make-snapshot"] })
    .spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), loadTimeoutMs);
  try {
    const file = await Deno.open(path, { write: true, create: true, truncate: true });
    const [status] = await Promise.all([
      child.status,
      child.stdout.pipeTo(file.writable),
      new Response(child.stderr).arrayBuffer(),
      child.stdin.close(),
    ]);
    return status.success ? path : null;
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}

/** Reads stdout up to the ready byte; on failure kills the worker and says why. */
async function waitReady(
  child: Deno.ChildProcess,
  stdout: ReadableStreamDefaultReader<Uint8Array>,
): Promise<{ head: Uint8Array } | { failure: string }> {
  const timer = setTimeout(() => child.kill("SIGKILL"), loadTimeoutMs);
  try {
    while (true) {
      const { done, value } = await stdout.read();
      if (done) break;
      const at = value.indexOf(readyByte);
      if (at >= 0) return { head: value.slice(at + 1) };
    }
  } catch {
    // Reported below.
  } finally {
    clearTimeout(timer);
  }
  try {
    child.kill("SIGKILL");
  } catch {
    // Already gone.
  }
  const stderr = await new Response(child.stderr).text().catch(() => "");
  await child.status;
  return { failure: stderr.trim().split("\n").slice(-3).join(" | ") || "exited before loading" };
}

async function discard(worker: Worker): Promise<void> {
  try {
    worker.child.kill("SIGKILL");
  } catch {
    // Already gone.
  }
  await worker.ready;
  await worker.stdout.cancel().catch(() => {});
  await worker.child.stderr.cancel().catch(() => {});
  await worker.child.stdin.abort().catch(() => {});
  await worker.child.status;
}

/** The header, then each input file's bytes, in order. */
async function* streamJob(
  header: Uint8Array,
  paths: readonly string[],
): AsyncGenerator<Uint8Array> {
  yield header;
  const buffer = new Uint8Array(64 * 1024);
  for (const path of paths) {
    const file = await Deno.open(path);
    try {
      while (true) {
        const count = await file.read(buffer);
        if (count === null) break;
        yield buffer.slice(0, count);
      }
    } finally {
      file.close();
    }
  }
}

/**
 * The worker's whole environment: where Deno's cache is (derived from where
 * Pyodide was found, else the runner's own), and no colours. Nothing else of
 * the runner's environment reaches it.
 */
function workerEnvironment(pyodideDir: string): Record<string, string> {
  const env: Record<string, string> = { NO_COLOR: "1" };
  const at = pyodideDir.indexOf("/npm/registry.npmjs.org/");
  if (at > 0) env.DENO_DIR = pyodideDir.slice(0, at);
  else {
    for (const name of ["DENO_DIR", "HOME", "XDG_CACHE_HOME"]) {
      try {
        const value = Deno.env.get(name);
        if (value !== undefined) env[name] = value;
      } catch {
        // No env permission: the worker uses its defaults.
      }
    }
  }
  return env;
}
