/**
 * Runs the Python client's tests (python/tests, unittest from the standard
 * library) from the project's test command: the whole suite under Debian's
 * CPython (real servers and runners included), and the tests that need no
 * ring under PyPy as well.
 *
 * @module
 */

import assert from "node:assert/strict";

const root = new URL("..", import.meta.url).pathname;
const pythonDir = `${root}python`;
const testsDir = `${pythonDir}/tests`;
const decoder = new TextDecoder();

/** Modules that start no server: quick enough to run under a second interpreter. */
const unitModules = [
  "test_wire",
  "test_frames",
  "test_transfer",
  "test_auth",
  "test_tls",
  "test_api",
];

function which(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/** Debian's interpreter when present (pyenv shims may shadow `python3` on PATH). */
function python3(): string {
  try {
    if (Deno.statSync("/usr/bin/python3").isFile) return "/usr/bin/python3";
  } catch {
    // Not Debian's layout.
  }
  return which("python3") ?? "python3";
}

async function unittest(
  interpreter: string,
  args: string[],
): Promise<{ code: number; output: string; ran: number }> {
  const child = new Deno.Command(interpreter, {
    args: ["-m", "unittest", ...args],
    cwd: testsDir,
    env: { PYTHONPATH: pythonDir, DENO: Deno.execPath(), PYTHONDONTWRITEBYTECODE: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(15 * 60_000),
  }).spawn();
  const result = await child.output();
  const output = decoder.decode(result.stdout) + decoder.decode(result.stderr);
  const ran = Number(/^Ran (\d+) tests? in/m.exec(output)?.[1] ?? 0);
  return { code: result.code, output, ran };
}

function summary(output: string): string {
  return output.trimEnd().split("\n").slice(-3).join(" | ");
}

Deno.test("python client passes its unittest suite under python3", async () => {
  const { code, output, ran } = await unittest(python3(), ["discover", "-s", testsDir, "-v"]);
  assert.equal(code, 0, `python3 -m unittest failed:\n${output}`);
  assert.ok(ran >= 90, `expected at least 90 Python tests, ran ${ran}:\n${output}`);
  console.log(`python3: ${summary(output)}`);
});

const pypy = which("pypy3");

Deno.test({
  name: "python client passes its ring-free tests under pypy3",
  ignore: pypy === undefined,
  fn: async () => {
    const { code, output, ran } = await unittest(pypy!, unitModules);
    assert.equal(code, 0, `pypy3 -m unittest failed:\n${output}`);
    assert.ok(ran >= 70, `expected at least 70 Python tests under pypy3, ran ${ran}:\n${output}`);
    console.log(`pypy3: ${summary(output)}`);
  },
});
