import assert from "node:assert/strict";
import { type CgroupFiles, hostCgroupFiles, openCgroupV2, V2JobCgroup } from "./cgroup_v2.ts";
import { cgroupV2Directory } from "./cgroup_paths.ts";

/**
 * A fake cgroupfs in a temporary directory that keeps the rules of the
 * kernel's v2 hierarchy this module depends on: `mkdir` adds the control
 * files of the controllers the parent gives its children; a controller can
 * be given to children only if the cgroup has it and (but for the root)
 * holds no processes; a process lives in one cgroup at a time and not in a
 * cgroup that gives controllers to children; `cgroup.kill` kills every
 * process; `rmdir` refuses a cgroup with processes or children.
 */
class FakeCgroupFs implements CgroupFiles {
  readonly root: string;
  readonly alive = new Set<number>();
  readonly killed: number[] = [];
  /** Whether `cgroup.kill` exists (Linux 5.14+). */
  hasKill = true;

  private constructor(root: string) {
    this.root = root;
  }

  /** A tree whose top cgroup (not the hierarchy's root) has `controllers` and holds `pids`. */
  static async make(controllers: string[], pids: number[]): Promise<FakeCgroupFs> {
    const fs = new FakeCgroupFs(await Deno.makeTempDir({ prefix: "cloud-fake-cgroupfs-" }));
    Deno.writeTextFileSync(`${fs.root}/cgroup.controllers`, controllers.join(" ") + "\n");
    fs.#controlFiles(fs.root, controllers);
    for (const pid of pids) fs.#addProcess(fs.root, pid);
    return fs;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.root, { recursive: true });
  }

  read(path: string): string {
    return Deno.readTextFileSync(path);
  }

  write(path: string, text: string): void {
    Deno.statSync(path); // Control files exist or the write fails, as in cgroupfs.
    const dir = path.slice(0, path.lastIndexOf("/"));
    const file = path.slice(path.lastIndexOf("/") + 1);
    if (file === "cgroup.subtree_control") return this.#enable(dir, text);
    if (file === "cgroup.procs") return this.#move(dir, Number(text));
    if (file === "cgroup.kill") {
      for (const pid of this.pids(dir)) this.kill(pid);
      return;
    }
    Deno.writeTextFileSync(path, text);
  }

  mkdir(path: string): void {
    Deno.mkdirSync(path);
    const parent = path.slice(0, path.lastIndexOf("/"));
    const given = this.#words(`${parent}/cgroup.subtree_control`);
    Deno.writeTextFileSync(`${path}/cgroup.controllers`, given.join(" ") + "\n");
    this.#controlFiles(path, given);
  }

  rmdir(path: string): void {
    if (!this.exists(path)) throw new Deno.errors.NotFound(`No such cgroup: ${path}`);
    if (this.pids(path).length > 0 || this.children(path).length > 0) {
      throw new Deno.errors.Busy(`Device or resource busy: ${path}`);
    }
    Deno.removeSync(path, { recursive: true });
  }

  children(dir: string): string[] {
    return [...Deno.readDirSync(dir)].filter((entry) => entry.isDirectory).map((e) => e.name);
  }

  exists(path: string): boolean {
    try {
      Deno.statSync(path);
      return true;
    } catch {
      return false;
    }
  }

  kill(pid: number): void {
    this.killed.push(pid);
    this.alive.delete(pid);
    for (const dir of this.#allCgroups(this.root)) this.#removeProcess(dir, pid);
  }

  processExists(pid: number): boolean {
    return this.alive.has(pid);
  }

  /** The processes listed in `dir`. */
  pids(dir: string): number[] {
    return this.#words(`${dir}/cgroup.procs`).map(Number);
  }

  /** Adds a live process to a cgroup (a job's process, started there). */
  spawnIn(dir: string, pid: number): void {
    this.#move(dir, pid);
  }

  #controlFiles(dir: string, controllers: string[]): void {
    const files: Record<string, string> = {
      "cgroup.subtree_control": "",
      "cgroup.procs": "",
      "cgroup.events": "populated 0\nfrozen 0\n",
    };
    if (this.hasKill) files["cgroup.kill"] = "";
    if (controllers.includes("pids")) files["pids.max"] = "max\n";
    if (controllers.includes("memory")) {
      Object.assign(files, {
        "memory.max": "max\n",
        "memory.swap.max": "max\n",
        "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
      });
    }
    for (const [name, text] of Object.entries(files)) {
      Deno.writeTextFileSync(`${dir}/${name}`, text);
    }
  }

  #enable(dir: string, text: string): void {
    const available = this.#words(`${dir}/cgroup.controllers`);
    const on = new Set(this.#words(`${dir}/cgroup.subtree_control`));
    for (const token of text.trim().split(/\s+/)) {
      const controller = token.slice(1);
      if (!token.startsWith("+") || !available.includes(controller)) {
        throw new Error(`No such file or directory: ${controller} in ${dir}`);
      }
      // The top of the fake tree is not the hierarchy's root: no internal processes.
      if (this.pids(dir).length > 0) throw new Deno.errors.Busy(`Device or resource busy: ${dir}`);
      on.add(controller);
    }
    Deno.writeTextFileSync(`${dir}/cgroup.subtree_control`, [...on].join(" ") + "\n");
  }

  #move(dir: string, pid: number): void {
    if (this.#words(`${dir}/cgroup.subtree_control`).length > 0) {
      throw new Deno.errors.Busy(`Device or resource busy: ${dir} gives controllers to children`);
    }
    for (const other of this.#allCgroups(this.root)) this.#removeProcess(other, pid);
    this.#addProcess(dir, pid);
  }

  #addProcess(dir: string, pid: number): void {
    this.alive.add(pid);
    const pids = [...this.pids(dir), pid];
    Deno.writeTextFileSync(`${dir}/cgroup.procs`, pids.map((p) => `${p}\n`).join(""));
  }

  #removeProcess(dir: string, pid: number): void {
    const pids = this.pids(dir).filter((p) => p !== pid);
    Deno.writeTextFileSync(`${dir}/cgroup.procs`, pids.map((p) => `${p}\n`).join(""));
  }

  #allCgroups(dir: string): string[] {
    return [dir, ...this.children(dir).flatMap((name) => this.#allCgroups(`${dir}/${name}`))];
  }

  #words(path: string): string[] {
    return Deno.readTextFileSync(path).trim().split(/\s+/).filter((word) => word !== "");
  }
}

const runnerPid = 4242;

Deno.test("openCgroupV2() moves a runner alone in its cgroup into a leaf and bounds jobs", async () => {
  await using fs = await FakeCgroupFs.make(["cpu", "memory", "pids"], [runnerPid]);
  const opened = openCgroupV2(fs.root, { pid: runnerPid, name: "cloud-sandbox-4242-a", files: fs });
  assert.ok(opened.parent !== null, "why" in opened ? opened.why : "");
  const parent = opened.parent;
  assert.equal(parent.version, 2);
  assert.equal(parent.hasMemory, true);
  assert.deepEqual(fs.pids(`${fs.root}/cloud-runner-4242`), [runnerPid]);
  assert.deepEqual(fs.pids(fs.root), []);
  assert.equal(fs.read(`${fs.root}/cgroup.subtree_control`).trim(), "pids memory");
  const sandbox = `${fs.root}/cloud-sandbox-4242-a`;
  assert.equal(fs.read(`${sandbox}/cgroup.subtree_control`).trim(), "pids memory");

  const job = parent.create({ processes: 16, memoryBytes: 64 * 1024 * 1024 });
  const dir = `${sandbox}/job-0`;
  assert.deepEqual(job.procsFiles, [`${dir}/cgroup.procs`]);
  assert.equal(fs.read(`${dir}/pids.max`), "16");
  assert.equal(fs.read(`${dir}/memory.max`), String(64 * 1024 * 1024));
  assert.equal(fs.read(`${dir}/memory.swap.max`), "0");

  fs.spawnIn(dir, 100);
  fs.spawnIn(dir, 101);
  Deno.writeTextFileSync(`${dir}/memory.events`, "oom 1\noom_kill 1\n");
  assert.equal(job.oomKills(), 1);
  await job.empty();
  assert.deepEqual(fs.killed.sort((a, b) => a - b), [100, 101]);
  assert.deepEqual(fs.pids(dir), []);
  await job.remove();
  assert.equal(fs.exists(dir), false);
  await parent.close();
  assert.equal(fs.exists(sandbox), false);
});

Deno.test("openCgroupV2() refuses a cgroup shared with other processes and says how to fix it", async () => {
  await using fs = await FakeCgroupFs.make(["memory", "pids"], [runnerPid, 77]);
  const opened = openCgroupV2(fs.root, { pid: runnerPid, name: "cloud-sandbox-4242-a", files: fs });
  assert.equal(opened.parent, null);
  assert.match("why" in opened ? opened.why : "", /holds other processes \(77\).*Delegate=yes/);
  // Nothing was moved or made.
  assert.deepEqual(fs.pids(fs.root).sort((a, b) => a - b), [77, runnerPid]);
  assert.deepEqual(fs.children(fs.root), []);
});

Deno.test("openCgroupV2() needs the pids controller and works without memory", async () => {
  await using noPids = await FakeCgroupFs.make(["cpu", "memory"], [runnerPid]);
  const refused = openCgroupV2(noPids.root, { pid: runnerPid, name: "s", files: noPids });
  assert.equal(refused.parent, null);
  assert.match("why" in refused ? refused.why : "", /pids controller is not delegated.*cpu memory/);

  await using fs = await FakeCgroupFs.make(["pids"], [runnerPid]);
  const opened = openCgroupV2(fs.root, { pid: runnerPid, name: "s", files: fs });
  assert.ok(opened.parent !== null);
  assert.equal(opened.parent.hasMemory, false);
  opened.parent.create({ processes: 8, memoryBytes: 1024 });
  assert.equal(fs.read(`${fs.root}/s/job-0/pids.max`), "8");
  assert.equal(fs.exists(`${fs.root}/s/job-0/memory.max`), false);
});

Deno.test("openCgroupV2() sweeps what dead runners left and keeps live ones'", async () => {
  await using fs = await FakeCgroupFs.make(["memory", "pids"], [runnerPid]);
  assert.ok(
    openCgroupV2(fs.root, { pid: runnerPid, name: "cloud-sandbox-4242-a", files: fs }).parent,
  );
  // Another runner, pid 555, alive with an empty job cgroup; then it dies.
  fs.alive.add(555);
  fs.mkdir(`${fs.root}/cloud-sandbox-555-b`);
  fs.write(`${fs.root}/cloud-sandbox-555-b/cgroup.subtree_control`, "+pids");
  fs.mkdir(`${fs.root}/cloud-sandbox-555-b/job-3`);
  assert.ok(
    openCgroupV2(fs.root, { pid: runnerPid, name: "cloud-sandbox-4242-c", files: fs }).parent,
  );
  assert.equal(fs.exists(`${fs.root}/cloud-sandbox-555-b`), true);
  fs.alive.delete(555);
  assert.ok(
    openCgroupV2(fs.root, { pid: runnerPid, name: "cloud-sandbox-4242-d", files: fs }).parent,
  );
  assert.equal(fs.exists(`${fs.root}/cloud-sandbox-555-b`), false);
  assert.equal(fs.exists(`${fs.root}/cloud-sandbox-4242-a`), true);
});

Deno.test("V2JobCgroup.empty() kills one by one where cgroup.kill is missing", async () => {
  await using fs = await FakeCgroupFs.make(["pids"], [runnerPid]);
  fs.hasKill = false;
  const opened = openCgroupV2(fs.root, { pid: runnerPid, name: "s", files: fs });
  assert.ok(opened.parent !== null);
  const job = opened.parent.create({ processes: 8, memoryBytes: null });
  assert.equal(fs.exists(`${fs.root}/s/job-0/cgroup.kill`), false);
  fs.spawnIn(`${fs.root}/s/job-0`, 300);
  await job.remove();
  assert.deepEqual(fs.killed, [300]);
  assert.equal(fs.exists(`${fs.root}/s/job-0`), false);
});

/** A writable v2 hierarchy on this host (a hybrid host has one without controllers), or null. */
function realCgroupV2(): string | null {
  try {
    const dir = cgroupV2Directory(
      Deno.readTextFileSync("/proc/self/mountinfo"),
      Deno.readTextFileSync("/proc/self/cgroup"),
    );
    if (dir === null) return null;
    const probe = `${dir}/cloud-test-probe-${Deno.pid}`;
    Deno.mkdirSync(probe);
    Deno.removeSync(probe);
    return dir;
  } catch {
    return null;
  }
}

const realV2 = realCgroupV2();

// The kernel's side of what the fake stands for, where this host lets us:
// cgroup.procs, cgroup.kill and rmdir on a real v2 hierarchy (the pids and
// memory controllers may belong to v1 here, so limits cannot be checked).
Deno.test({
  name: `V2JobCgroup kills and removes a real v2 cgroup${
    realV2 === null ? " (skipped: no writable cgroup v2 hierarchy)" : ""
  }`,
  ignore: realV2 === null,
  fn: async () => {
    const dir = `${realV2}/cloud-test-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
    Deno.mkdirSync(dir);
    const child = new Deno.Command("/bin/sleep", { args: ["60"], stdin: "null" }).spawn();
    try {
      const job = new V2JobCgroup(dir, false, hostCgroupFiles);
      Deno.writeTextFileSync(job.procsFiles[0]!, String(child.pid));
      assert.equal(Deno.readTextFileSync(`${dir}/cgroup.procs`).trim(), String(child.pid));
      await job.remove();
      const status = await child.status;
      assert.equal(status.signal, "SIGKILL");
      assert.equal(hostCgroupFiles.exists(dir), false);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await child.status;
      try {
        Deno.removeSync(dir);
      } catch {
        // Removed by the test.
      }
    }
  },
});
