/**
 * The default backend: PyPy (or CPython) inside bubblewrap. See
 * `bwrap_args.ts` for what the jail is, flag by flag, and `cgroup.ts` for
 * what bounds a job's processes. Two modes:
 *
 * - `"fork"` (the default when it works; `bwrap_fork.ts`): a pool of
 *   long-lived jails, each running a zygote that forks one fresh child per
 *   job (see `zygote.ts` for the design and the isolation argument). A
 *   trivial job costs a fork instead of an interpreter start.
 * - `"fresh"` (`bwrap_fresh.ts`): one jail and one interpreter per job. The
 *   interpreter takes 15-40 ms to start, so the sandbox keeps `warm` jails
 *   started ahead of time, each blocked reading one job from its stdin, and
 *   discards each after its one job.
 *
 * This file finds the tools and probes the interpreter (`bwrap_probe.ts`),
 * then starts the mode asked for.
 *
 * In both modes a jail started ahead of time has its own empty host
 * directory bound read-only as `/net`, in a staging directory at the top of
 * `/dev/shm` where it can be (so the jail's mount table names no host path,
 * see `net_staging.ts`); a job's inputs are hard-linked into it, or copied
 * when they are on another file system, before the job starts (they appear
 * in the jail at once; the job still cannot write there). A job with more
 * than `bwrapNetCopyBytesMax` to copy gets a jail started for it with each
 * input bind-mounted instead.
 *
 * @module
 */

import { BwrapFork } from "./bwrap_fork.ts";
import { BwrapFresh } from "./bwrap_fresh.ts";
import type { Base } from "./bwrap_jail.ts";
import {
  findTools,
  hostLayout,
  isRoot,
  packageDirectories,
  probeInterpreter,
} from "./bwrap_probe.ts";
import type { BwrapMode, BwrapSandbox } from "./bwrap_types.ts";
import { openCgroups } from "./cgroup.ts";
import { interpreterEnvironment, jailMemory, jobSysPath } from "./jail_python.ts";
import { closeNetStaging, openNetStaging } from "./net_staging.ts";
import { defaultSandboxLimits, type SandboxLimits } from "./sandbox.ts";
import { seccompFilter } from "./seccomp.ts";
import { bwrapForkWarmCount } from "../../limits.ts";

export { defaultPythons } from "./bwrap_probe.ts";
export type { BwrapMode, BwrapProbe, BwrapSandbox } from "./bwrap_types.ts";

/** Options of {@linkcode createBwrapSandbox}. */
export interface BwrapOptions {
  /**
   * Interpreter: a name looked up in `PATH` or a path; a script (a pyenv
   * shim) stands for the interpreter it runs. Default: the first of
   * {@linkcode defaultPythons} found.
   */
  readonly python?: string;
  /** bubblewrap: a name looked up in `PATH` or a path; default `bwrap`. */
  readonly bwrapPath?: string;
  /** `prlimit` (util-linux): a name looked up in `PATH` or a path; default `prlimit`. */
  readonly prlimitPath?: string;
  /**
   * Directories of extra Python packages (a virtualenv's `site-packages`),
   * bound read-only at their own paths and put on jobs' `sys.path` (with
   * their `.pth` files' entries) before the system's site directories.
   */
  readonly packages?: readonly string[];
  /**
   * A file shown to jobs as `/proc/cpuinfo` (default: the real one). Tests
   * use it to stand for another CPU: PyPy would size its GC from it.
   */
  readonly procCpuinfo?: string;
  /** Overrides of {@linkcode defaultSandboxLimits}. */
  readonly limits?: Partial<SandboxLimits>;
  /**
   * `"fork"`: long-lived jails, a fork of a zygote per job; `"fresh"`: a new
   * jail and interpreter per job. Default: fork when it works (a probe job
   * runs in it), else fresh; an explicit `"fork"` throws when it does not.
   */
  readonly mode?: BwrapMode;
  /**
   * Jails started ahead of time. Fresh mode keeps this many waiting; default
   * `bwrapWarmCount`, 0 for none. Fork mode starts this many (at least one)
   * and grows to the number of jobs run at once; default `bwrapForkWarmCount`.
   */
  readonly warm?: number;
  /**
   * Fork mode: how long a jail beyond `warm` may stay idle before it is
   * stopped (default `bwrapForkIdleRetireMs`).
   */
  readonly idleRetireMs?: number;
  /**
   * Fork mode: a job that ends within this long has its output read in one
   * go after its end rather than streamed (default `zygotePumpDelayMs`).
   */
  readonly pumpDelayMs?: number;
  /**
   * Where the sandbox makes its own directory (for the seccomp filter, and
   * for the jails' `/net` directories when `/dev/shm` is not a usable tmpfs;
   * removed by `close`). Default: the system's temporary directory.
   */
  readonly workDir?: string;
}

/**
 * Finds bubblewrap and the interpreter, probes the interpreter (one jailed
 * run that reports its `sys.path` and footprint), starts the pool of the
 * mode asked for (fork mode: runs a probe job in its first zygote) and
 * returns the sandbox.
 *
 * Throws `Error` (one line naming the cause and the fix) when bubblewrap,
 * `prlimit` or the interpreter is missing or the jailed run fails, when the
 * process limit cannot be enforced (root without a writable pids cgroup:
 * the kernel ignores RLIMIT_NPROC for root), or when `mode: "fork"` was
 * asked for and the fork server does not work.
 */
export async function createBwrapSandbox(options: BwrapOptions = {}): Promise<BwrapSandbox> {
  const limits = { ...defaultSandboxLimits, ...options.limits };
  const tools = await findTools({
    bwrap: options.bwrapPath,
    prlimit: options.prlimitPath,
    python: options.python,
  });
  const packages = await packageDirectories(options.packages ?? []);
  const layout = await hostLayout(tools.pythonPath, {
    packages,
    procCpuinfo: options.procCpuinfo ?? null,
  });
  const cgroups = await openCgroups();
  if (cgroups.parent === null && (await isRoot())) {
    throw new Error(
      `Cannot start bwrap sandbox: cannot bound a job's processes (the runner is root, which RLIMIT_NPROC ignores, and ${cgroups.why}); fix: run the runner as another user or in a cgroup of its own (docs/OPERATIONS.md), or run jobs in Pyodide instead (--sandbox pyodide)`,
    );
  }
  // Our own directory even inside a given workDir: sandboxes may share one.
  const workDir = await Deno.makeTempDir({ dir: options.workDir, prefix: "cloud-sandbox-" });
  const netStaging = await openNetStaging(workDir);
  try {
    const seccompPath = await writeSeccompFilter(workDir);
    const probeBase: Base = {
      ...tools,
      limits,
      memory: { addressSpaceBytes: null, cgroupBytes: null },
      environment: interpreterEnvironment(limits.memoryBytes),
      layout,
      cgroups: cgroups.parent,
      workDir,
      netStaging,
      seccompPath,
    };
    const interpreter = await probeInterpreter(probeBase, packages);
    const base = { ...probeBase, memory: jailMemory(limits.memoryBytes, interpreter) };
    const probe = {
      pythonPath: tools.pythonPath,
      interpreter,
      sysPath: jobSysPath(interpreter),
      processLimit: cgroups.parent === null ? "rlimit" as const : "cgroup" as const,
      cgroupVersion: cgroups.parent?.version ?? null,
      cgroupUnavailable: cgroups.parent === null ? cgroups.why : null,
      memoryCgroup: cgroups.parent?.hasMemory ?? false,
      netDirectory: netStaging.dir,
    };
    if (options.mode === "fresh") {
      return new BwrapFresh(base, { ...probe, forkUnavailable: null }, options.warm);
    }
    try {
      const warm = Math.max(1, options.warm ?? bwrapForkWarmCount);
      return await BwrapFork.create(
        base,
        { ...probe, forkUnavailable: null },
        warm,
        { idleRetireMs: options.idleRetireMs, pumpDelayMs: options.pumpDelayMs },
      );
    } catch (error) {
      if (options.mode === "fork") throw error;
      const why = error instanceof Error ? error.message : String(error);
      return new BwrapFresh(base, { ...probe, forkUnavailable: why }, options.warm);
    }
  } catch (error) {
    await cgroups.parent?.close();
    await closeNetStaging(netStaging);
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
    throw error;
  }
}

/** Writes the seccomp filter into `workDir`; null off x86-64. */
async function writeSeccompFilter(workDir: string): Promise<string | null> {
  const filter = seccompFilter(Deno.build.arch);
  if (filter === null) return null;
  const path = `${workDir}/seccomp.bpf`;
  await Deno.writeFile(path, filter, { mode: 0o600 });
  return path;
}
