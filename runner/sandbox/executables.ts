/**
 * Finds the programs the bubblewrap backend runs (bubblewrap, `prlimit`, the
 * interpreter) from a name or a path, as a shell would: a name is looked up
 * in `PATH`, a path is taken as it is. An interpreter that is a script (a
 * pyenv shim, a wrapper) cannot run inside the jail, which holds only
 * `/usr` and the interpreter's own prefix: the script is asked for the
 * interpreter it runs (`sys.executable`) once, on the host.
 *
 * @module
 */

/** How long a script interpreter may take to say which interpreter it runs. */
const scriptAnswerMs = 10_000;

/**
 * The path of the executable regular file `nameOrPath` names (a name is
 * looked up in `searchPath`, colon-separated), or null when there is none.
 */
export async function findExecutable(
  nameOrPath: string,
  searchPath: string,
): Promise<string | null> {
  if (nameOrPath.includes("/")) return (await isExecutable(nameOrPath)) ? nameOrPath : null;
  for (const dir of searchPath.split(":")) {
    if (dir === "" || !dir.startsWith("/")) continue;
    const path = `${dir}/${nameOrPath}`;
    if (await isExecutable(path)) return path;
  }
  return null;
}

/** The runner's `PATH` (a usual system one when it has none or may not read it). */
export function hostSearchPath(): string {
  try {
    return Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin";
  } catch {
    return "/usr/local/bin:/usr/bin:/bin";
  }
}

/**
 * The interpreter binary that `path` (an executable file) is or runs: the
 * file itself when it is a compiled program, else what the script reports
 * as `sys.executable`. Throws `Error` when the script does not answer with
 * an executable compiled program.
 */
export async function interpreterBinary(path: string): Promise<string> {
  if (await isCompiled(path)) return path;
  const child = new Deno.Command(path, {
    args: ["-c", "import sys; print(sys.executable)"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), scriptAnswerMs);
  try {
    const output = await child.output();
    const answer = new TextDecoder().decode(output.stdout).trim();
    if (output.success && answer.startsWith("/") && (await isCompiled(answer))) return answer;
    const said = new TextDecoder().decode(output.stderr).trim().split("\n").at(-1) ?? "";
    throw new Error(
      `Cannot use ${path} as the interpreter: it is a script that did not name a compiled interpreter (${
        answer || said || `status ${output.code}`
      })`,
    );
  } finally {
    clearTimeout(timer);
  }
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    const info = await Deno.stat(path);
    return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** Whether the file starts with the ELF magic number. */
async function isCompiled(path: string): Promise<boolean> {
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(path);
    const head = new Uint8Array(4);
    const count = await file.read(head);
    return count === 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c &&
      head[3] === 0x46;
  } catch {
    return false;
  } finally {
    file?.close();
  }
}
