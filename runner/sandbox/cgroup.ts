/**
 * Per-job cgroups for the bubblewrap backend. They are what bounds a fork
 * bomb when the runner is root: the kernel does not apply RLIMIT_NPROC to
 * uid 0, and a job in a user namespace created by root is still uid 0
 * outside it. The memory cgroup also bounds the job's processes together,
 * where RLIMIT_AS bounds each one alone.
 *
 * {@linkcode openCgroups} chooses from what the host mounts: the v1 `pids`
 * and `memory` hierarchies (here), or the v2 unified one (`cgroup_v2.ts`).
 * Without either (or without write access) it says why, and the backend
 * relies on RLIMIT_NPROC, which works for a non-root runner.
 *
 * The per-job reads and writes of cgroup files are synchronous: cgroupfs
 * lives in kernel memory and never waits on a disk, and a synchronous call
 * costs a fraction of a trip through the runtime's blocking thread pool
 * (fork mode makes several per job).
 *
 * @module
 */

import { chooseCgroupLayout, parseOomKills } from "./cgroup_paths.ts";
import { openCgroupV2 } from "./cgroup_v2.ts";

/** How long to wait for a job cgroup's last processes to be reaped. */
const removeWaitMs = 2_000;

/** One job's cgroups (v1: one per controller; v2: one). */
export interface JobCgroup {
  /** The `cgroup.procs` files a process writes its pid into to join. */
  readonly procsFiles: string[];
  /** How often the OOM killer acted in the job (0 without a memory cgroup). */
  oomKills(): number;
  /** Kills every process of the job until none is left; throws `Error` if some stay. */
  empty(): Promise<void>;
  /** Kills every process left in the job, then removes its cgroups. */
  remove(): Promise<void>;
}

/** Where one sandbox makes its job cgroups. */
export interface CgroupParent {
  /** The cgroup hierarchy: 1 or 2. */
  readonly version: 1 | 2;
  /** Whether job memory is bounded as a whole (not only per process). */
  readonly hasMemory: boolean;
  /**
   * Creates a job cgroup with its process and memory limits (no memory limit
   * when `memoryBytes` is null). Throws if cgroupfs refuses.
   */
  create(limits: { processes: number; memoryBytes: number | null }): JobCgroup;
  /** Removes the sandbox's own cgroups (job cgroups must be removed first). */
  close(): Promise<void>;
}

/** What {@linkcode openCgroups} found: a parent, or why there is none. */
export type CgroupOpening = { readonly parent: CgroupParent } | {
  readonly parent: null;
  readonly why: string;
};

/**
 * Makes this sandbox's cgroups (`cloud-sandbox-<pid>-<id>`) in the hierarchy
 * the host mounts: v1 when a v1 `pids` hierarchy is mounted, else v2 (see
 * `cgroup_v2.ts`). Returns why not when neither is mounted or writable.
 */
export async function openCgroups(): Promise<CgroupOpening> {
  let mountinfo: string, procCgroup: string;
  try {
    mountinfo = await Deno.readTextFile("/proc/self/mountinfo");
    procCgroup = await Deno.readTextFile("/proc/self/cgroup");
  } catch {
    return { parent: null, why: "cannot read /proc/self/mountinfo or /proc/self/cgroup" };
  }
  const layout = chooseCgroupLayout(mountinfo, procCgroup);
  const name = `cloud-sandbox-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  if (layout === null) return { parent: null, why: "no cgroup hierarchy is mounted" };
  if (layout.version === 2) return openCgroupV2(layout.dir, { pid: Deno.pid, name });
  const pidsDir = await makeDirectory(layout.pidsDir, name);
  if (pidsDir === null) {
    return { parent: null, why: `cgroup v1: cannot write to ${layout.pidsDir}` };
  }
  const memoryDir = layout.memoryDir === null ? null : await makeDirectory(layout.memoryDir, name);
  return { parent: new V1CgroupParent(pidsDir, memoryDir) };
}

/** One job's v1 cgroups. */
class V1JobCgroup implements JobCgroup {
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

/** A v1 directory per controller under which this sandbox makes job cgroups. */
class V1CgroupParent implements CgroupParent {
  readonly version = 1 as const;
  readonly #pidsDir: string;
  readonly #memoryDir: string | null;
  #next = 0;

  constructor(pidsDir: string, memoryDir: string | null) {
    this.#pidsDir = pidsDir;
    this.#memoryDir = memoryDir;
  }

  get hasMemory(): boolean {
    return this.#memoryDir !== null;
  }

  create(limits: { processes: number; memoryBytes: number | null }): JobCgroup {
    const name = `job-${this.#next++}`;
    const pidsDir = `${this.#pidsDir}/${name}`;
    Deno.mkdirSync(pidsDir);
    Deno.writeTextFileSync(`${pidsDir}/pids.max`, String(limits.processes));
    let memoryDir: string | null = null;
    if (this.#memoryDir !== null) {
      memoryDir = `${this.#memoryDir}/${name}`;
      Deno.mkdirSync(memoryDir);
    }
    if (memoryDir !== null && limits.memoryBytes !== null) {
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
    return new V1JobCgroup(pidsDir, memoryDir);
  }

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
