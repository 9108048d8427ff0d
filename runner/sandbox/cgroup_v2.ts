/**
 * Per-job cgroups on the cgroup v2 (unified) hierarchy, where current
 * distributions mount only that: a job's processes go into
 * `<ours>/cloud-sandbox-<pid>-<id>/job-<n>`, bounded by `pids.max` and
 * `memory.max` (`memory.swap.max` 0 where swap is accounted), its OOM kills
 * counted by `oom_kill` in `memory.events`, and its processes killed at once
 * by `cgroup.kill` (Linux 5.14+; SIGKILL of each listed process before).
 *
 * It needs a delegated subtree: our cgroup writable by us with the `pids`
 * (and, to bound memory, `memory`) controller available in
 * `cgroup.controllers`. Because v2 lets only a cgroup without processes give
 * controllers to its children (the root excepted), when our cgroup holds
 * processes {@linkcode openCgroupV2} first moves this process alone into a
 * leaf `<ours>/cloud-runner-<pid>`; if other processes share our cgroup it
 * gives up and says how to give the runner a cgroup of its own.
 *
 * Every file operation goes through {@linkcode CgroupFiles}, so the tests
 * drive this module over a fake cgroupfs tree in a temporary directory.
 *
 * @module
 */

/** How long to wait for a job cgroup's last processes to be reaped. */
const removeWaitMs = 2_000;

/** The file operations on cgroupfs (synchronous: it lives in kernel memory). */
export interface CgroupFiles {
  /** Text of a file; throws if absent. */
  read(path: string): string;
  /** Writes `text` to an existing control file; throws if the kernel refuses. */
  write(path: string, text: string): void;
  /** Makes a cgroup (the kernel adds its control files). */
  mkdir(path: string): void;
  /** Removes a cgroup; throws while it holds processes or child cgroups. */
  rmdir(path: string): void;
  /** The names of the child cgroups of `dir` (empty if unreadable). */
  children(dir: string): string[];
  /** Whether a file exists. */
  exists(path: string): boolean;
  /** SIGKILLs a process (no error if gone). */
  kill(pid: number): void;
  /** Whether a process with this pid exists. */
  processExists(pid: number): boolean;
}

/** The real cgroupfs. */
export const hostCgroupFiles: CgroupFiles = {
  read: (path) => Deno.readTextFileSync(path),
  write: (path, text) => Deno.writeTextFileSync(path, text, { create: false }),
  mkdir: (path) => Deno.mkdirSync(path),
  rmdir: (path) => Deno.removeSync(path),
  children: (dir) => {
    try {
      return [...Deno.readDirSync(dir)].filter((entry) => entry.isDirectory).map((e) => e.name);
    } catch {
      return [];
    }
  },
  exists: (path) => {
    try {
      Deno.statSync(path);
      return true;
    } catch {
      return false;
    }
  },
  kill: (pid) => {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  },
  processExists: (pid) => {
    try {
      Deno.statSync(`/proc/${pid}`);
      return true;
    } catch {
      return false;
    }
  },
};

/** One job's cgroup. */
export class V2JobCgroup {
  readonly #dir: string;
  readonly #memory: boolean;
  readonly #files: CgroupFiles;

  constructor(dir: string, memory: boolean, files: CgroupFiles) {
    this.#dir = dir;
    this.#memory = memory;
    this.#files = files;
  }

  /** The `cgroup.procs` file a process writes its pid into to join. */
  get procsFiles(): string[] {
    return [`${this.#dir}/cgroup.procs`];
  }

  /** How often the OOM killer acted in the job (0 without the memory controller). */
  oomKills(): number {
    if (!this.#memory) return 0;
    try {
      const match = /^oom_kill (\d+)$/m.exec(this.#files.read(`${this.#dir}/memory.events`));
      return match === null ? 0 : Number(match[1]);
    } catch {
      return 0;
    }
  }

  /**
   * Kills every process in the job until none is left. Throws `Error` if
   * some are still there after two seconds.
   */
  async empty(): Promise<void> {
    const deadline = Date.now() + removeWaitMs;
    while (this.#kill() > 0) {
      if (Date.now() > deadline) {
        throw new Error(`Cannot empty cgroup ${this.#dir}: processes left after SIGKILL`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Kills every process left in the job, then removes its cgroup. */
  async remove(): Promise<void> {
    const deadline = Date.now() + removeWaitMs;
    while (true) {
      this.#kill();
      try {
        this.#files.rmdir(this.#dir);
        return;
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return;
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
  }

  /** SIGKILLs the job's processes; returns how many were listed. */
  #kill(): number {
    const pids = listedPids(this.#files, this.#dir);
    if (pids.length === 0) return 0;
    try {
      this.#files.write(`${this.#dir}/cgroup.kill`, "1");
    } catch {
      // No cgroup.kill before Linux 5.14: one by one.
      for (const pid of pids) this.#files.kill(pid);
    }
    return pids.length;
  }
}

/** The cgroup under which one sandbox makes its job cgroups. */
export class V2CgroupParent {
  readonly version = 2 as const;
  readonly #dir: string;
  readonly #memory: boolean;
  readonly #files: CgroupFiles;
  #next = 0;

  constructor(dir: string, memory: boolean, files: CgroupFiles) {
    this.#dir = dir;
    this.#memory = memory;
    this.#files = files;
  }

  /** Whether job memory is bounded as a whole (not only per process). */
  get hasMemory(): boolean {
    return this.#memory;
  }

  /**
   * Creates a job cgroup with its process limit and, where the memory
   * controller is ours, its memory limit (none when `memoryBytes` is null).
   * Throws if cgroupfs refuses.
   */
  create(limits: { processes: number; memoryBytes: number | null }): V2JobCgroup {
    const dir = `${this.#dir}/job-${this.#next++}`;
    this.#files.mkdir(dir);
    try {
      this.#files.write(`${dir}/pids.max`, String(limits.processes));
      if (this.#memory && limits.memoryBytes !== null) {
        this.#files.write(`${dir}/memory.max`, String(limits.memoryBytes));
        if (this.#files.exists(`${dir}/memory.swap.max`)) {
          this.#files.write(`${dir}/memory.swap.max`, "0");
        }
      }
    } catch (error) {
      try {
        this.#files.rmdir(dir);
      } catch {
        // Reported below.
      }
      throw error;
    }
    return new V2JobCgroup(dir, this.#memory, this.#files);
  }

  /** Removes the sandbox's cgroup (its job cgroups must be removed first). */
  close(): Promise<void> {
    try {
      this.#files.rmdir(this.#dir);
    } catch {
      // Still busy or already gone: swept by the next runner.
    }
    return Promise.resolve();
  }
}

/** What {@linkcode openCgroupV2} made, or why it could not. */
export type V2Opening = { readonly parent: V2CgroupParent } | {
  readonly parent: null;
  readonly why: string;
};

/**
 * Prepares `ours` (this process's v2 cgroup) for job cgroups and makes this
 * sandbox's cgroup under it, after removing empty ones left by runners that
 * died. Moves this process into a leaf of its own when `ours` holds
 * processes (see the module documentation).
 */
export function openCgroupV2(
  ours: string,
  options: { pid: number; name: string; files?: CgroupFiles },
): V2Opening {
  const files = options.files ?? hostCgroupFiles;
  let available: string[];
  try {
    available = files.read(`${ours}/cgroup.controllers`).trim().split(/\s+/);
  } catch {
    return { parent: null, why: `cgroup v2: cannot read ${ours}/cgroup.controllers` };
  }
  if (!available.includes("pids")) {
    return {
      parent: null,
      why: `cgroup v2: the pids controller is not delegated to ${ours} (available: ${
        available.join(" ") || "none"
      })`,
    };
  }
  const wanted = available.includes("memory") ? ["pids", "memory"] : ["pids"];
  sweepStale(files, ours);
  const enabled = enableControllers(files, ours, wanted, options.pid);
  if (typeof enabled === "string") return { parent: null, why: enabled };
  const dir = `${ours}/${options.name}`;
  try {
    files.mkdir(dir);
    files.write(`${dir}/cgroup.subtree_control`, enabled.map((c) => `+${c}`).join(" "));
  } catch (error) {
    try {
      files.rmdir(dir);
    } catch {
      // Never made.
    }
    return { parent: null, why: `cgroup v2: cannot make ${dir}: ${message(error)}` };
  }
  return { parent: new V2CgroupParent(dir, enabled.includes("memory"), files) };
}

/**
 * Turns on `wanted` in `ours`'s `cgroup.subtree_control` (those already on
 * stay): first as it is, then after moving this process into a leaf when
 * it was the only process there. Returns the controllers on (pids at least)
 * or why not.
 */
function enableControllers(
  files: CgroupFiles,
  ours: string,
  wanted: string[],
  pid: number,
): string[] | string {
  const on = () => files.read(`${ours}/cgroup.subtree_control`).trim().split(/\s+/);
  const tryEnable = () => {
    for (const controller of wanted) {
      if (on().includes(controller)) continue;
      try {
        files.write(`${ours}/cgroup.subtree_control`, `+${controller}`);
      } catch {
        // Checked below.
      }
    }
    return wanted.filter((controller) => on().includes(controller));
  };
  try {
    let enabled = tryEnable();
    if (enabled.includes("pids")) return enabled;
    const others = listedPids(files, ours).filter((listed) => listed !== pid);
    if (others.length > 0) {
      return `cgroup v2: ${ours} holds other processes (${
        others.slice(0, 5).join(", ")
      }), so it cannot give controllers to job cgroups; run the runner in a cgroup of its own (systemd: a unit with Delegate=yes, or systemd-run --scope -p Delegate=yes cloud runner …)`;
    }
    const leaf = `${ours}/cloud-runner-${pid}`;
    if (!files.exists(leaf)) files.mkdir(leaf);
    files.write(`${leaf}/cgroup.procs`, String(pid));
    enabled = tryEnable();
    if (enabled.includes("pids")) return enabled;
    return `cgroup v2: cannot enable the pids controller in ${ours}/cgroup.subtree_control`;
  } catch (error) {
    return `cgroup v2: cannot prepare ${ours}: ${message(error)}`;
  }
}

/** Removes what runners that died left under `ours`: empty sandbox cgroups and runner leaves. */
function sweepStale(files: CgroupFiles, ours: string): void {
  for (const name of files.children(ours)) {
    const match = /^cloud-(?:sandbox|runner)-(\d+)(?:-|$)/.exec(name);
    if (match === null || files.processExists(Number(match[1]))) continue;
    const dir = `${ours}/${name}`;
    for (const child of files.children(dir)) {
      try {
        files.rmdir(`${dir}/${child}`);
      } catch {
        // Not empty: left alone.
      }
    }
    try {
      files.rmdir(dir);
    } catch {
      // Not empty: left alone.
    }
  }
}

function listedPids(files: CgroupFiles, dir: string): number[] {
  let text = "";
  try {
    text = files.read(`${dir}/cgroup.procs`);
  } catch {
    return [];
  }
  return text.split("\n").map(Number).filter((pid) => Number.isInteger(pid) && pid > 0);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
