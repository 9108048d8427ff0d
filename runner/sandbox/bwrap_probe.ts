/**
 * What the bubblewrap backend finds out before its first job: where
 * bubblewrap, `prlimit` and the interpreter are, what of the host the jail
 * binds, and what the jailed interpreter says about itself (its `sys.path`,
 * its footprint) in one probe run. Every failure is one line naming the
 * cause and the fix.
 *
 * @module
 */

import { type HostLayout, type HostPathKind, jailEtcPaths } from "./bwrap_args.ts";
import { type Base, spawnJail } from "./bwrap_jail.ts";
import { findExecutable, hostSearchPath, interpreterBinary } from "./executables.ts";
import { explainUsernsRefusal, usernsSettingFiles, type UsernsSettings } from "./jail_failure.ts";
import { type InterpreterProbe, parseProbe, probeProgram } from "./jail_python.ts";
import { supervise } from "./supervise.ts";

/** Interpreters tried in order when none is given (names looked up in `PATH`). */
export const defaultPythons = ["pypy3", "python3"] as const;

/** What to use for pyodide instead, named in the fixes. */
const orPyodide = "or run jobs in Pyodide instead (--sandbox pyodide)";

/** The programs a jail runs, found. */
export interface Tools {
  readonly bwrapPath: string;
  readonly prlimitPath: string;
  /** The interpreter binary (a script such as a pyenv shim is resolved to what it runs). */
  readonly pythonPath: string;
}

/**
 * Finds bubblewrap, `prlimit` and the interpreter from names (looked up in
 * `PATH`) or paths. Throws `Error` naming what is missing and how to get it.
 */
export async function findTools(
  options: { bwrap?: string; prlimit?: string; python?: string },
): Promise<Tools> {
  const searchPath = hostSearchPath();
  const where = (name: string) => (name.includes("/") ? name : `${name} on PATH`);
  const bwrap = options.bwrap ?? "bwrap";
  const bwrapPath = await findExecutable(bwrap, searchPath);
  if (bwrapPath === null) {
    throw new Error(
      `Cannot start bwrap sandbox: bubblewrap not found (${
        where(bwrap)
      }); fix: install it (apt-get install bubblewrap), ${orPyodide}`,
    );
  }
  const prlimit = options.prlimit ?? "prlimit";
  const prlimitPath = await findExecutable(prlimit, searchPath);
  if (prlimitPath === null) {
    throw new Error(
      `Cannot start bwrap sandbox: prlimit not found (${
        where(prlimit)
      }); fix: install util-linux, ${orPyodide}`,
    );
  }
  return { bwrapPath, prlimitPath, pythonPath: await findPython(options.python, searchPath) };
}

async function findPython(python: string | undefined, searchPath: string): Promise<string> {
  const candidates = python === undefined ? defaultPythons : [python];
  for (const candidate of candidates) {
    const found = await findExecutable(candidate, searchPath);
    if (found === null) continue;
    try {
      return await interpreterBinary(found);
    } catch (error) {
      throw new Error(`Cannot start bwrap sandbox: ${(error as Error).message}`);
    }
  }
  if (python !== undefined) {
    throw new Error(
      `Cannot start bwrap sandbox: the Python interpreter not found or not executable: ${python}; fix: install it (apt-get install pypy3 or python3) or give --python a name on PATH or a path`,
    );
  }
  throw new Error(
    `Cannot start bwrap sandbox: no Python interpreter found (tried ${
      defaultPythons.join(", ")
    } on PATH); fix: apt-get install pypy3, ${orPyodide}`,
  );
}

/**
 * Checks the extra package directories: each must be an existing directory,
 * given by an absolute path. Returns their real paths. Throws `Error` if not.
 */
export async function packageDirectories(dirs: readonly string[]): Promise<string[]> {
  return await Promise.all(dirs.map(async (dir) => {
    try {
      if (!dir.startsWith("/")) throw new Error("not an absolute path");
      const real = await Deno.realPath(dir);
      if (!(await Deno.stat(real)).isDirectory) throw new Error("not a directory");
      if (["/proc", "/dev", "/net"].some((top) => real === top || real.startsWith(`${top}/`))) {
        throw new Error("inside a directory the jail makes itself");
      }
      return real;
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw new Error(`Cannot use package directory ${dir}: ${why}`);
    }
  }));
}

/**
 * The host facts the command line depends on: how `/lib*`, `/bin`, `/sbin`
 * look, the interpreter's prefix if it lives outside `/usr`, the package
 * directories, and the file to show as `/proc/cpuinfo` (null: the real one).
 */
export async function hostLayout(
  pythonPath: string,
  options: { packages: readonly string[]; procCpuinfo: string | null },
): Promise<HostLayout> {
  const topLevel: Record<string, HostPathKind> = {};
  for (const path of ["/lib", "/lib64", "/bin", "/sbin"]) topLevel[path] = await pathKind(path);
  const realPython = await Deno.realPath(pythonPath);
  // An interpreter outside /usr (e.g. /opt/pypy/bin/pypy3): bind its prefix.
  const prefix = realPython.split("/").slice(0, -2).join("/");
  const outside = realPython.startsWith("/usr/") || prefix === "" ? [] : [prefix];
  const extraReadOnly = [...new Set([...outside, ...options.packages])]
    .filter((path) => !path.startsWith("/usr/"));
  return {
    topLevel,
    etcPaths:
      (await Promise.all(jailEtcPaths.map(async (path) => (await exists(path)) ? [path] : [])))
        .flat(),
    extraReadOnly,
    procCpuinfo: options.procCpuinfo,
  };
}

/**
 * Runs the jailed interpreter once, without a memory bound, to learn its
 * `sys.path` and footprint (`jail_python.ts`). Throws `Error` with one line
 * when it fails: for a refused user namespace, the host setting and its fix.
 */
export async function probeInterpreter(
  base: Base,
  packages: readonly string[],
): Promise<InterpreterProbe> {
  const stdoutPath = `${base.workDir}/probe-stdout`;
  const unbounded = { ...base, memory: { addressSpaceBytes: null, cgroupBytes: null } };
  const jail = await spawnJail(unbounded, probeProgram(packages), {
    net: { kind: "files", entries: [] },
    netDir: null,
  });
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
    const stderr = new TextDecoder().decode(seen.stderr);
    const refusal = explainUsernsRefusal(stderr, await readUsernsSettings());
    if (refusal !== null) throw new Error(refusal);
    throw new Error(
      `Cannot start bwrap sandbox: the jailed interpreter failed (status ${seen.observation.exitCode}): ${
        summary(stderr)
      }`,
    );
  }
  try {
    return parseProbe(text);
  } catch (error) {
    throw new Error(`Cannot start bwrap sandbox: ${(error as Error).message}`);
  }
}

/** The line of a failure's stderr that says most: bubblewrap's own, else the last. */
function summary(stderr: string): string {
  const lines = stderr.split("\n").map((line) => line.trim()).filter((line) => line !== "");
  return (lines.find((line) => line.startsWith("bwrap: ")) ?? lines.at(-1) ?? "no output")
    .slice(0, 300);
}

/** The host's user-namespace settings (see `jail_failure.ts`). */
async function readUsernsSettings(): Promise<UsernsSettings> {
  const read = (path: string) => Deno.readTextFile(path).catch(() => null);
  return {
    apparmorRestrict: await read(usernsSettingFiles.apparmorRestrict),
    unprivilegedClone: await read(usernsSettingFiles.unprivilegedClone),
    maxUserNamespaces: await read(usernsSettingFiles.maxUserNamespaces),
  };
}

/** Whether this process runs as root. */
export async function isRoot(): Promise<boolean> {
  try {
    return Deno.uid() === 0;
  } catch {
    const status = await Deno.readTextFile("/proc/self/status").catch(() => "");
    return /^Uid:\s+0\s/m.test(status);
  }
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
