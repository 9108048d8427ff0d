/**
 * What the bench runs on: the machine (cores, memory, OS) and the tools it
 * found (Deno, PyPy, the Python that imports Dask, Redis, bubblewrap), with
 * their versions, so every results file says where its figures come from.
 *
 * @module
 */

import { commandOutput } from "./procs.ts";

/** A tool found on this machine. */
export interface Tool {
  path: string;
  version: string;
}

/** The Python interpreter that imports Dask, with the versions it reports. */
export interface DaskPython extends Tool {
  dask: string;
  distributed: string;
}

/** External programs the scenarios use; a missing one makes its rows say "not installed". */
export interface Tools {
  redisServer?: Tool;
  pypy?: Tool;
  /** Plain CPython for the single-process baseline: the Dask interpreter when there is one. */
  python?: Tool;
  daskPython?: DaskPython;
  bwrap?: Tool;
}

/** The machine and the tools, as written into every results file. */
export interface Machine {
  cores: number;
  cpuModel: string;
  memoryBytes: number;
  os: string;
  kernel: string;
  arch: string;
  deno: typeof Deno.version;
  tools: Tools;
  git?: { commit: string; dirty: boolean };
  /** 1, 5 and 15 minute load averages when the bench started: other work on the machine skews figures. */
  loadAverage: number[];
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    const info = await Deno.stat(path);
    return info.isFile && ((info.mode ?? 0) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** Every executable called `name` on PATH, then in `extraDirs`, by real path, first occurrence first. */
export async function findOnPath(name: string, extraDirs: string[] = []): Promise<string[]> {
  const dirs = [...(Deno.env.get("PATH") ?? "").split(":"), ...extraDirs].filter(Boolean);
  const found: string[] = [];
  const seen = new Set<string>();
  for (const dir of dirs) {
    const path = `${dir}/${name}`;
    if (!(await isExecutable(path))) continue;
    const real = await Deno.realPath(path).catch(() => path);
    if (seen.has(real)) continue;
    seen.add(real);
    found.push(path);
  }
  return found;
}

async function findTool(
  name: string,
  versionArgs: string[],
  pattern: RegExp,
  format: (match: RegExpExecArray) => string = (match) => match[1]!,
): Promise<Tool | undefined> {
  for (const path of await findOnPath(name, ["/usr/bin", "/usr/local/bin"])) {
    const output = await commandOutput(path, versionArgs);
    const match = output === undefined ? null : pattern.exec(output);
    if (match) return { path, version: format(match) };
  }
  return undefined;
}

const daskProbe = "import json, sys, dask, distributed; " +
  "print(json.dumps([sys.version.split()[0], dask.__version__, distributed.__version__]))";

/**
 * The first Python interpreter that can import `distributed`, trying every
 * `python3` on PATH (a pyenv shim may come first and lack it), then
 * /usr/bin/python3 and /usr/local/bin/python3, then `python`.
 */
export async function findDaskPython(): Promise<DaskPython | undefined> {
  const extra = ["/usr/bin", "/usr/local/bin"];
  const candidates = [...await findOnPath("python3", extra), ...await findOnPath("python", extra)];
  for (const path of candidates) {
    const output = await commandOutput(path, ["-c", daskProbe]);
    if (output === undefined) continue;
    try {
      const [version, dask, distributed] = JSON.parse(output.split("\n").pop()!) as string[];
      return { path, version: version!, dask: dask!, distributed: distributed! };
    } catch {
      continue;
    }
  }
  return undefined;
}

/** Find the external tools the scenarios use. */
export async function findTools(): Promise<Tools> {
  const [redisServer, pypy, bwrap, daskPython] = await Promise.all([
    findTool("redis-server", ["--version"], /v=(\d[\w.\-]*)/),
    findTool(
      "pypy3",
      ["--version"],
      /Python (\d\S*)[\s\S]*\[PyPy (\d[\w.\-]*)/,
      (match) => `${match[2]} (Python ${match[1]})`,
    ),
    findTool("bwrap", ["--version"], /bubblewrap (\d[\w.\-]*)/),
    findDaskPython(),
  ]);
  const python = daskPython ??
    await findTool("python3", ["--version"], /Python (\d[\w.\-]*)/);
  const pythonTool = python && { path: python.path, version: python.version };
  return { redisServer, pypy, python: pythonTool, daskPython, bwrap };
}

async function readText(path: string): Promise<string> {
  return await Deno.readTextFile(path).catch(() => "");
}

async function gitState(repoRoot: string): Promise<Machine["git"]> {
  const commit = await commandOutput("git", ["-C", repoRoot, "rev-parse", "HEAD"]);
  if (commit === undefined) return undefined;
  const status = await commandOutput("git", ["-C", repoRoot, "status", "--porcelain"]);
  return { commit, dirty: (status ?? "") !== "" };
}

/** Describe this machine and the given tools. */
export async function describeMachine(repoRoot: string, tools: Tools): Promise<Machine> {
  const cpuinfo = await readText("/proc/cpuinfo");
  const osRelease = await readText("/etc/os-release");
  return {
    cores: navigator.hardwareConcurrency,
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? "unknown",
    memoryBytes: Deno.systemMemoryInfo().total,
    os: /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(osRelease)?.[1] ?? Deno.build.os,
    kernel: Deno.osRelease(),
    arch: Deno.build.arch,
    deno: Deno.version,
    tools,
    git: await gitState(repoRoot),
    loadAverage: Deno.loadavg(),
  };
}
