/**
 * The default backend: PyPy (or CPython) inside bubblewrap. See
 * `bwrap_args.ts` for what the jail is, flag by flag, and `cgroup.ts` for
 * what bounds a job's processes.
 *
 * Start-up and the warm pool: a jailed interpreter takes 15-40 ms to start
 * (mostly the interpreter). The sandbox keeps `warm` jails started ahead of
 * time, each blocked reading one job from its stdin. Each has its own empty
 * host directory bound read-only as `/net`; when a job with inputs takes one,
 * the inputs are hard-linked into that directory first (the links appear in
 * the jail at once; the job still cannot write there). A warm jail runs
 * exactly one job and is then discarded. When an input cannot be hard-linked
 * (another file system than `workDir`, or not a regular file), the job gets a
 * jail started for it with each input bind-mounted instead.
 *
 * @module
 */

import { bwrapBootstrap, encodeJobFrame, printSysPathProgram } from "./bootstrap.ts";
import { bwrapArgv, type HostLayout, type HostPathKind, type NetSource } from "./bwrap_args.ts";
import { CgroupParent, type JobCgroup } from "./cgroup.ts";
import { type NetEntry, planNetEntries } from "./net_names.ts";
import { classifyOutcome } from "./outcome.ts";
import {
  defaultSandboxLimits,
  type Sandbox,
  type SandboxJob,
  type SandboxLimits,
  type SandboxResult,
} from "./sandbox.ts";
import { seccompFilter } from "./seccomp.ts";
import { supervise } from "./supervise.ts";
import { bwrapWarmCount } from "../../limits.ts";

/** Interpreters tried in order when none is given. */
export const defaultPythons = ["/usr/bin/pypy3", "/usr/bin/python3"] as const;

/** Options of {@linkcode createBwrapSandbox}. */
export interface BwrapOptions {
  /** Interpreter path; default: the first of {@linkcode defaultPythons} that exists. */
  readonly python?: string;
  /** Default `/usr/bin/bwrap`. */
  readonly bwrapPath?: string;
  /** Default `/usr/bin/prlimit` (util-linux). */
  readonly prlimitPath?: string;
  /** Overrides of {@linkcode defaultSandboxLimits}. */
  readonly limits?: Partial<SandboxLimits>;
  /** Jails kept started ahead of time; default `bwrapWarmCount` (limits.ts); 0 for none. */
  readonly warm?: number;
  /**
   * Where the sandbox makes its own directory (for the warm jails' `/net`
   * directories and the seccomp filter; removed by `close`). Put it on the
   * file system of the runner's input files so inputs can be hard-linked;
   * default: the system's temporary directory.
   */
  readonly workDir?: string;
}

/** What the start-up probe found. */
export interface BwrapProbe {
  readonly pythonPath: string;
  /** The interpreter's default `sys.path` (with site), set by the bootstrap. */
  readonly sysPath: readonly string[];
  /** What bounds a job's processes: a pids cgroup, or RLIMIT_NPROC (non-root only). */
  readonly processLimit: "cgroup" | "rlimit";
  /** Whether a memory cgroup bounds all of a job's processes together. */
  readonly memoryCgroup: boolean;
}

/** A bubblewrap sandbox, with what its probe found. */
export interface BwrapSandbox extends Sandbox {
  readonly name: "bwrap";
  readonly probe: BwrapProbe;
  /** Jobs run so far in a jail started ahead of time (`warm`) or for the job (`cold`). */
  readonly stats: { readonly warm: number; readonly cold: number };
}

/**
 * Probes bubblewrap and the interpreter (a jailed run that prints
 * `sys.path`), starts the warm pool and returns the sandbox.
 *
 * Throws `Error` when bubblewrap, `prlimit` or the interpreter is missing or
 * the jailed run fails, or when the process limit cannot be enforced (root
 * without a writable pids cgroup: the kernel ignores RLIMIT_NPROC for root).
 */
export async function createBwrapSandbox(options: BwrapOptions = {}): Promise<BwrapSandbox> {
  const limits = { ...defaultSandboxLimits, ...options.limits };
  const bwrapPath = options.bwrapPath ?? "/usr/bin/bwrap";
  const prlimitPath = options.prlimitPath ?? "/usr/bin/prlimit";
  await requireExecutable(bwrapPath, "bubblewrap");
  await requireExecutable(prlimitPath, "prlimit");
  const pythonPath = options.python ?? (await firstExisting(defaultPythons));
  if (pythonPath === null) {
    throw new Error(
      `Cannot start bwrap sandbox: no interpreter found (tried ${defaultPythons.join(", ")})`,
    );
  }
  await requireExecutable(pythonPath, "the Python interpreter");
  const layout = await hostLayout(pythonPath);
  const cgroups = await CgroupParent.open();
  if (cgroups === null && (await isRoot())) {
    throw new Error(
      "Cannot start bwrap sandbox: cannot bound processes (running as root, which RLIMIT_NPROC ignores, and no writable cgroup v1 pids hierarchy)",
    );
  }
  // Our own directory even inside a given workDir: sandboxes may share one.
  const workDir = await Deno.makeTempDir({ dir: options.workDir, prefix: "cloud-sandbox-" });
  try {
    const seccompPath = await writeSeccompFilter(workDir);
    const base = {
      bwrapPath,
      prlimitPath,
      pythonPath,
      limits,
      layout,
      cgroups,
      workDir,
      seccompPath,
    };
    const sysPath = await probeSysPath(base);
    const probe: BwrapProbe = {
      pythonPath,
      sysPath,
      processLimit: cgroups === null ? "rlimit" : "cgroup",
      memoryCgroup: cgroups?.hasMemory ?? false,
    };
    return new Bwrap({ ...base, probe, warm: options.warm ?? bwrapWarmCount });
  } catch (error) {
    await cgroups?.close();
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
    throw error;
  }
}

interface Base {
  readonly bwrapPath: string;
  readonly prlimitPath: string;
  readonly pythonPath: string;
  readonly limits: SandboxLimits;
  readonly layout: HostLayout;
  readonly cgroups: CgroupParent | null;
  /** This sandbox's own directory (seccomp filter, warm jails' `/net`), removed by `close`. */
  readonly workDir: string;
  /** The seccomp filter file, or null (not x86-64). */
  readonly seccompPath: string | null;
}

/** A started jail that has not finished yet. */
interface Jail {
  readonly child: Deno.ChildProcess;
  readonly stdout: ReadableStreamDefaultReader<Uint8Array>;
  readonly cgroup: JobCgroup | null;
  /** The warm jail's `/net` directory (null for a jail started for its job). */
  readonly netDir: string | null;
}

/**
 * sh program run as `sh -c SCRIPT sh FILTER N PROCS... ARGV...`: moves itself
 * into the job's cgroups (writing its pid into each of the N `cgroup.procs`
 * files; before bwrap starts, so nothing escapes them), then execs bwrap with
 * the seccomp filter file (if FILTER is not empty) open as fd 3.
 */
const launchScript = 'filter=$1; n=$2; shift 2; while [ "$n" -gt 0 ]; do ' +
  'echo $$ > "$1" || { echo "cloud-sandbox: cannot join cgroup $1" >&2; exit 125; }; ' +
  "shift; n=$((n - 1)); done; " +
  'if [ -n "$filter" ]; then exec "$@" 3< "$filter"; fi; exec "$@"';

/** The descriptor the launch script opens the seccomp filter on. */
const seccompFd = 3;

/** First lines of stderr that mean the jail itself failed, not the job. */
const jailErrorPrefixes = ["bwrap: ", "cloud-sandbox: ", "prlimit: ", "sh: "];

async function spawnJail(
  base: Base,
  program: string,
  net: NetSource,
  netDir: string | null,
): Promise<Jail> {
  const cgroup = base.cgroups === null ? null : await base.cgroups.create(base.limits);
  const filter = base.seccompPath;
  const argv = bwrapArgv({ ...base, program, net, seccompFd: filter === null ? null : seccompFd });
  const procsFiles = cgroup?.procsFiles ?? [];
  const args = [
    "-c",
    launchScript,
    "sh",
    filter ?? "",
    String(procsFiles.length),
    ...procsFiles,
    ...argv,
  ];
  try {
    const child = new Deno.Command("/bin/sh", {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      clearEnv: true,
      cwd: "/",
    }).spawn();
    return { child, stdout: child.stdout.getReader(), cgroup, netDir };
  } catch (error) {
    await cgroup?.remove().catch(() => {});
    throw error;
  }
}

class Bwrap implements BwrapSandbox {
  readonly name = "bwrap" as const;
  readonly limits: SandboxLimits;
  readonly probe: BwrapProbe;
  readonly stats = { warm: 0, cold: 0 };
  readonly #base: Base;
  readonly #program: string;
  readonly #warmCount: number;
  readonly #pool: Jail[] = [];
  readonly #closing = new AbortController();
  readonly #pending = new Set<Promise<unknown>>();
  #nextSlot = 0;
  /** Warm jails being started (not yet in the pool). */
  #starting = 0;

  constructor(config: Base & { probe: BwrapProbe; warm: number }) {
    this.#base = config;
    this.limits = config.limits;
    this.probe = config.probe;
    this.#program = bwrapBootstrap(config.probe.sysPath);
    this.#warmCount = config.warm;
    this.#refill();
  }

  async run(job: SandboxJob): Promise<SandboxResult> {
    if (this.#closing.signal.aborted) return sandboxError("Cannot run job: sandbox is closed");
    const task = this.#run(job);
    this.#track(task);
    return await task;
  }

  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort();
    const idle = this.#pool.splice(0);
    await Promise.all(idle.map((jail) => this.#discard(jail, true)));
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
    await this.#base.cgroups?.close();
    await Deno.remove(this.#base.workDir, { recursive: true }).catch(() => {});
  }

  async #run(job: SandboxJob): Promise<SandboxResult> {
    const plan = planNetEntries(await resolveInputs(job.inputs));
    const signal = job.signal === undefined
      ? this.#closing.signal
      : AbortSignal.any([job.signal, this.#closing.signal]);
    let jail: Jail;
    try {
      const warm = await this.#takeWarm(plan.entries);
      if (warm !== null) {
        const attempt = await this.#runIn(warm, job, signal);
        // A warm jail that died while idle never read the job: start one for it.
        if (!attempt.deliveryFailed || signal.aborted) {
          this.stats.warm++;
          return attempt.result;
        }
      }
      jail = await this.#startCold(plan.entries);
    } catch (error) {
      return sandboxError(`Cannot start jail: ${error instanceof Error ? error.message : error}`);
    }
    this.stats.cold++;
    return (await this.#runIn(jail, job, signal)).result;
  }

  /** Runs the job in a started jail, then discards the jail. */
  async #runIn(
    jail: Jail,
    job: SandboxJob,
    signal: AbortSignal,
  ): Promise<{ result: SandboxResult; deliveryFailed: boolean }> {
    const seen = await supervise({
      child: jail.child,
      stdout: jail.stdout,
      stdin: [encodeJobFrame(job.source)],
      stdoutPath: job.stdoutPath,
      stdoutBytesMax: this.limits.stdoutBytesMax,
      stderrBytesMax: this.limits.stderrBytesMax,
      wallMs: this.limits.wallMs,
      signal,
      kill: () => jail.child.kill("SIGKILL"),
    });
    const oomKills = (await jail.cgroup?.oomKills()) ?? 0;
    // The job is over: report now, clean up (cgroup, links) in the background.
    this.#track(this.#discard(jail, false));
    const firstLine = new TextDecoder().decode(seen.stderr.subarray(0, 200)).split("\n")[0] ?? "";
    const jailFailed = seen.observation.exitCode !== 0 &&
      jailErrorPrefixes.some((prefix) => firstLine.startsWith(prefix));
    const outcome = classifyOutcome({
      ...seen.observation,
      oomKilled: oomKills > 0,
      sandboxError: seen.observation.sandboxError ??
        (jailFailed ? `Jail failed: ${firstLine}` : null),
    }, this.limits);
    const result = {
      exitCode: seen.observation.exitCode,
      reason: outcome.reason,
      detail: outcome.detail,
      stdoutBytes: seen.stdoutBytes,
      stderr: seen.stderr,
      wallMs: seen.wallMs,
    };
    return { result, deliveryFailed: seen.deliveryFailed && seen.stdoutBytes === 0 };
  }

  /** A warm jail with the inputs linked into its `/net`, or null. */
  async #takeWarm(entries: readonly NetEntry[]): Promise<Jail | null> {
    const jail = this.#pool.shift();
    if (jail === undefined) return null;
    this.#refill();
    if (await linkInputs(jail.netDir!, entries)) return jail;
    if (this.#closing.signal.aborted) {
      await this.#discard(jail, true);
      return null;
    }
    // Untouched (it never got a job): back to the pool once its /net is empty.
    await emptyDirectory(jail.netDir!);
    this.#pool.unshift(jail);
    return null;
  }

  async #startCold(entries: readonly NetEntry[]): Promise<Jail> {
    return await spawnJail(this.#base, this.#program, { kind: "files", entries }, null);
  }

  #refill(): void {
    const missing = this.#warmCount - this.#pool.length - this.#starting;
    for (let i = 0; i < missing && !this.#closing.signal.aborted; i++) {
      this.#starting++;
      const start = this.#startWarm().then((jail) => {
        this.#starting--;
        if (this.#closing.signal.aborted) return this.#discard(jail, true);
        this.#pool.push(jail);
      }, () => {
        this.#starting--;
      });
      this.#track(start);
    }
  }

  async #startWarm(): Promise<Jail> {
    const netDir = `${this.#base.workDir}/net-${this.#nextSlot++}`;
    await Deno.mkdir(netDir, { mode: 0o755 });
    try {
      return await spawnJail(
        this.#base,
        this.#program,
        { kind: "directory", path: netDir },
        netDir,
      );
    } catch (error) {
      await Deno.remove(netDir, { recursive: true }).catch(() => {});
      throw error;
    }
  }

  /** Kills what is left of a jail and removes its cgroup and `/net` directory. */
  async #discard(jail: Jail, kill: boolean): Promise<void> {
    if (kill) {
      try {
        jail.child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await jail.stdout.cancel().catch(() => {});
      await jail.child.stderr.cancel().catch(() => {});
      await jail.child.stdin.abort().catch(() => {});
      await jail.child.status;
    }
    await jail.cgroup?.remove().catch(() => {});
    if (jail.netDir !== null) await Deno.remove(jail.netDir, { recursive: true }).catch(() => {});
  }

  #track(promise: Promise<unknown>): void {
    this.#pending.add(promise);
    promise.finally(() => this.#pending.delete(promise)).catch(() => {});
  }
}

/** Hard-links each entry into `netDir`; false (links left behind) on any failure. */
async function linkInputs(netDir: string, entries: readonly NetEntry[]): Promise<boolean> {
  try {
    for (const entry of entries) {
      if (entry.segments.length > 1) {
        await Deno.mkdir(`${netDir}/${entry.segments.slice(0, -1).join("/")}`, { recursive: true });
      }
      await Deno.link(entry.path, `${netDir}/${entry.name}`);
    }
    return true;
  } catch {
    return false;
  }
}

async function emptyDirectory(dir: string): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    await Deno.remove(`${dir}/${entry.name}`, { recursive: true });
  }
}

/** Resolves symlinks so a bind or a hard link shows the file itself. */
async function resolveInputs(
  inputs: SandboxJob["inputs"],
): Promise<{ name: string; path: string }[]> {
  return await Promise.all(inputs.map(async (input) => {
    try {
      return { name: input.name, path: await Deno.realPath(input.path) };
    } catch {
      return { name: input.name, path: input.path };
    }
  }));
}

function sandboxError(detail: string): SandboxResult {
  return {
    exitCode: null,
    reason: "sandbox-error",
    detail,
    stdoutBytes: 0,
    stderr: new Uint8Array(),
    wallMs: 0,
  };
}

/** Writes the seccomp filter into `workDir`; null off x86-64. */
async function writeSeccompFilter(workDir: string): Promise<string | null> {
  const filter = seccompFilter(Deno.build.arch);
  if (filter === null) return null;
  const path = `${workDir}/seccomp.bpf`;
  await Deno.writeFile(path, filter, { mode: 0o600 });
  return path;
}

/** Runs the jailed interpreter once to read its default `sys.path`. */
async function probeSysPath(base: Base): Promise<string[]> {
  const stdoutPath = `${base.workDir}/probe-stdout`;
  const jail = await spawnJail(base, printSysPathProgram, { kind: "files", entries: [] }, null);
  const seen = await supervise({
    child: jail.child,
    stdout: jail.stdout,
    stdin: [],
    stdoutPath,
    stdoutBytesMax: 64 * 1024,
    stderrBytesMax: 4 * 1024,
    wallMs: 30_000,
    signal: new AbortController().signal,
    kill: () => jail.child.kill("SIGKILL"),
  });
  await jail.cgroup?.remove().catch(() => {});
  const text = await Deno.readTextFile(stdoutPath).catch(() => "");
  await Deno.remove(stdoutPath).catch(() => {});
  if (seen.observation.exitCode !== 0) {
    const stderr = new TextDecoder().decode(seen.stderr).trim();
    throw new Error(
      `Cannot start bwrap sandbox: the jailed interpreter failed (status ${seen.observation.exitCode}): ${stderr}`,
    );
  }
  const sysPath: unknown = JSON.parse(text);
  if (!Array.isArray(sysPath) || !sysPath.every((entry) => typeof entry === "string")) {
    throw new Error(
      `Cannot start bwrap sandbox: unexpected sys.path from the interpreter: ${text}`,
    );
  }
  return sysPath;
}

async function hostLayout(pythonPath: string): Promise<HostLayout> {
  const topLevel: Record<string, HostPathKind> = {};
  for (const path of ["/lib", "/lib64", "/bin", "/sbin"]) topLevel[path] = await pathKind(path);
  const realPython = await Deno.realPath(pythonPath);
  // An interpreter outside /usr (e.g. /opt/pypy/bin/pypy3): bind its prefix.
  const prefix = realPython.split("/").slice(0, -2).join("/");
  const extraReadOnly = realPython.startsWith("/usr/") || prefix === "" ? [] : [prefix];
  return { topLevel, hasLdSoCache: await exists("/etc/ld.so.cache"), extraReadOnly };
}

async function pathKind(path: string): Promise<HostPathKind> {
  try {
    const info = await Deno.lstat(path);
    if (info.isSymlink) return { kind: "symlink", target: await Deno.readLink(path) };
    return info.isDirectory ? { kind: "directory" } : { kind: "absent" };
  } catch {
    return { kind: "absent" };
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function firstExisting(paths: readonly string[]): Promise<string | null> {
  for (const path of paths) if (await exists(path)) return path;
  return null;
}

async function requireExecutable(path: string, what: string): Promise<void> {
  try {
    const info = await Deno.stat(path);
    if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return;
  } catch {
    // Reported below.
  }
  throw new Error(`Cannot start bwrap sandbox: ${what} not found or not executable: ${path}`);
}

async function isRoot(): Promise<boolean> {
  try {
    return Deno.uid() === 0;
  } catch {
    const status = await Deno.readTextFile("/proc/self/status").catch(() => "");
    return /^Uid:\s+0\s/m.test(status);
  }
}
