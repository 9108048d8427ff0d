/**
 * Per-job cgroups (v1 `pids` and `memory` controllers) for the bubblewrap
 * backend. They are what bounds a fork bomb when the runner is root: the
 * kernel does not apply RLIMIT_NPROC to uid 0, and a job in a user namespace
 * created by root is still uid 0 outside it. The memory cgroup also bounds the
 * job's processes together, where RLIMIT_AS bounds each one alone.
 *
 * cgroup v2 is not handled yet: on a v2-only host (or without write access)
 * {@linkcode CgroupParent.open} returns `null` and the backend relies on
 * RLIMIT_NPROC, which works for a non-root runner.
 *
 * The per-job reads and writes of cgroup files are synchronous: cgroupfs
 * lives in kernel memory and never waits on a disk, and a synchronous call
 * costs a fraction of a trip through the runtime's blocking thread pool
 * (fork mode makes several per job).
 *
 * @module
 */

import { cgroupV1Directory, parseOomKills } from "./cgroup_paths.ts";

/** How long to wait for a job cgroup's last processes to be reaped. */
const removeWaitMs = 2_000;

/** One job's cgroups. */
export class JobCgroup {
  readonly #pidsDir: string;
  readonly #memoryDir: string | null;

  constructor(pidsDir: string, memoryDir: string | null) {
    this.#pidsDir = pidsDir;
    this.#memoryDir = memoryDir;
  }

  /** The `cgroup.procs` files a process writes its pid into to join. */
  get procsFiles(): string[] {
    const dirs = this.#memoryDir === null ? [this.#pidsDir] : [this.#pidsDir, this.#memoryDir];
    return dirs.map((dir) => `${dir}/cgroup.procs`);
  }

  /** How often the OOM killer acted in the memory cgroup (0 without one). */
  oomKills(): number {
    if (this.#memoryDir === null) return 0;
    try {
      return parseOomKills(Deno.readTextFileSync(`${this.#memoryDir}/memory.oom_control`));
    } catch {
      return 0;
    }
  }

  /**
   * SIGKILLs every process in the job's cgroups until none is left, so the
   * cgroups can take the next job. Throws `Error` if some are still there
   * after two seconds.
   */
  async empty(): Promise<void> {
    const deadline = Date.now() + removeWaitMs;
    while (killAll(this.#pidsDir) > 0) {
      if (Date.now() > deadline) {
        throw new Error(`Cannot empty cgroup ${this.#pidsDir}: processes left after SIGKILL`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** SIGKILLs every process left in the job, then removes its cgroups. */
  async remove(): Promise<void> {
    const deadline = Date.now() + removeWaitMs;
    for (const dir of [this.#pidsDir, this.#memoryDir]) {
      if (dir === null) continue;
      while (true) {
        killAll(dir);
        try {
          await Deno.remove(dir);
          break;
        } catch (error) {
          if (error instanceof Deno.errors.NotFound) break;
          if (Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      }
    }
  }
}

/** SIGKILLs the processes listed in `dir`'s `cgroup.procs`; returns how many were listed. */
function killAll(dir: string): number {
  let text = "";
  try {
    text = Deno.readTextFileSync(`${dir}/cgroup.procs`);
  } catch {
    return 0;
  }
  let listed = 0;
  for (const line of text.split("\n")) {
    const pid = Number(line);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    listed++;
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  return listed;
}

/** A directory per controller under which this sandbox makes job cgroups. */
export class CgroupParent {
  readonly #pidsDir: string;
  readonly #memoryDir: string | null;
  #next = 0;

  private constructor(pidsDir: string, memoryDir: string | null) {
    this.#pidsDir = pidsDir;
    this.#memoryDir = memoryDir;
  }

  /**
   * Makes `cloud-sandbox-<pid>-<n>` under this process's pids (and, if
   * writable, memory) cgroup, after removing empty ones left by runners that
   * died. Returns `null` if there is no writable v1 pids hierarchy.
   */
  static async open(): Promise<CgroupParent | null> {
    let mountinfo: string, procCgroup: string;
    try {
      mountinfo = await Deno.readTextFile("/proc/self/mountinfo");
      procCgroup = await Deno.readTextFile("/proc/self/cgroup");
    } catch {
      return null;
    }
    const name = `cloud-sandbox-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
    const pidsBase = cgroupV1Directory("pids", mountinfo, procCgroup);
    if (pidsBase === null) return null;
    const pidsDir = await makeDirectory(pidsBase, name);
    if (pidsDir === null) return null;
    const memoryBase = cgroupV1Directory("memory", mountinfo, procCgroup);
    const memoryDir = memoryBase === null ? null : await makeDirectory(memoryBase, name);
    return new CgroupParent(pidsDir, memoryDir);
  }

  /** Whether job memory is bounded as a whole (not only per process). */
  get hasMemory(): boolean {
    return this.#memoryDir !== null;
  }

  /** Creates a job cgroup with its process and memory limits. Throws if cgroupfs refuses. */
  create(limits: { processes: number; memoryBytes: number }): JobCgroup {
    const name = `job-${this.#next++}`;
    const pidsDir = `${this.#pidsDir}/${name}`;
    Deno.mkdirSync(pidsDir);
    Deno.writeTextFileSync(`${pidsDir}/pids.max`, String(limits.processes));
    let memoryDir: string | null = null;
    if (this.#memoryDir !== null) {
      memoryDir = `${this.#memoryDir}/${name}`;
      Deno.mkdirSync(memoryDir);
      Deno.writeTextFileSync(`${memoryDir}/memory.limit_in_bytes`, String(limits.memoryBytes));
      try {
        Deno.writeTextFileSync(
          `${memoryDir}/memory.memsw.limit_in_bytes`,
          String(limits.memoryBytes),
        );
      } catch {
        // No swap accounting: nothing more to bound.
      }
    }
    return new JobCgroup(pidsDir, memoryDir);
  }

  /** Removes the parent directories (job cgroups must be removed first). */
  async close(): Promise<void> {
    for (const dir of [this.#pidsDir, this.#memoryDir]) {
      if (dir === null) continue;
      await Deno.remove(dir).catch(() => {});
    }
  }
}

/** Makes `base/name`, first sweeping empty cgroups of dead runners. */
async function makeDirectory(base: string, name: string): Promise<string | null> {
  await sweepStale(base);
  try {
    await Deno.mkdir(`${base}/${name}`);
    return `${base}/${name}`;
  } catch {
    return null;
  }
}

async function sweepStale(base: string): Promise<void> {
  try {
    for await (const entry of Deno.readDir(base)) {
      const match = /^cloud-sandbox-(\d+)-/.exec(entry.name);
      if (match === null || (await processExists(Number(match[1])))) continue;
      const dir = `${base}/${entry.name}`;
      for await (const child of Deno.readDir(dir)) {
        if (child.isDirectory) await Deno.remove(`${dir}/${child.name}`).catch(() => {});
      }
      await Deno.remove(dir).catch(() => {});
    }
  } catch {
    // Unreadable base: nothing to sweep.
  }
}

async function processExists(pid: number): Promise<boolean> {
  try {
    await Deno.stat(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}
