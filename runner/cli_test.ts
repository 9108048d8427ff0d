import assert from "node:assert/strict";
import { runCloud, ServerProcess } from "../tests/harness.ts";

const skipBwrap = Deno.env.get("CLOUD_SKIP_BWRAP") === "1";

/** Runs `cloud runner` against a closed port and returns its status and stderr lines. */
async function runnerFails(args: string[]): Promise<{ code: number; lines: string[] }> {
  // Port 9 (discard) on loopback: nothing is reached before the sandbox starts.
  const result = await runCloud(["runner", "127.0.0.1", "9", ...args], { env: { NO_COLOR: "1" } });
  // Deno's own progress lines when its cache is cold are not the runner's.
  const lines = result.stderr.trim().split("\n").filter((line) => !/^Download https?:/.test(line));
  return { code: result.code, lines };
}

Deno.test("runnerCommand() exits at once with one line when its sandbox cannot start", async () => {
  const bwrap = await runnerFails(["--sandbox", "bwrap", "--python", "/nonexistent/pypy3"]);
  assert.equal(bwrap.code, 1);
  assert.equal(bwrap.lines.length, 1, bwrap.lines.join("\n"));
  assert.match(
    bwrap.lines[0]!,
    /^cloud: Cannot start bwrap sandbox: the Python interpreter not found or not executable: \/nonexistent\/pypy3; fix: /,
  );
  const packages = await runnerFails(["--sandbox", "pyodide", "--packages", "/tmp"]);
  assert.equal(packages.code, 1);
  assert.equal(packages.lines.length, 1, packages.lines.join("\n"));
  assert.match(packages.lines[0]!, /^cloud: Cannot start pyodide sandbox: package directories/);
});

Deno.test({
  name: "runnerCommand() runs a PyPy job under --memory-mb 256 and 64",
  ignore: skipBwrap,
  fn: async () => {
    await using server = await ServerProcess.start();
    const at = ["client", "-s", server.id];
    for (const memoryMb of ["256", "64"]) {
      // A different source per limit: identical jobs would be one job.
      const submitted = await runCloud(
        [...at, "--json", "add-job", "six", "-", "out", "--detach"],
        {
          stdin: new TextEncoder().encode(`print(6 * 7)  # under ${memoryMb} MB\n`),
        },
      );
      assert.equal(submitted.code, 0, submitted.stderr);
      const { output } = JSON.parse(submitted.stdout) as { output: string };
      const ran = await runCloud([
        "runner",
        server.host,
        String(server.port),
        "--sandbox",
        "bwrap",
        "--python",
        "pypy3",
        "--memory-mb",
        memoryMb,
        "--jobs",
        "1",
      ], { role: "runner" });
      assert.equal(ran.code, 0, ran.stderr);
      assert.match(ran.stderr, /sandbox bwrap \(fork mode, \S*pypy3\S*: pypy 3\./);
      assert.match(ran.stderr, /runner: 1 done, 0 failed/);
      const got = await runCloud([...at, "get", output]);
      assert.equal(got.stdout, "42\n", got.stderr);
    }
  },
});

Deno.test({
  name: "runnerCommand() stops with one line when the ring refuses its credential for jobs",
  ignore: skipBwrap,
  fn: async () => {
    await using server = await ServerProcess.start();
    // A client token authenticates, but GETJ is a runner's command.
    const ran = await runCloud([
      "runner",
      server.host,
      String(server.port),
      "--sandbox",
      "bwrap",
      "--python",
      "pypy3",
    ], { role: "client" });
    assert.equal(ran.code, 1, ran.stderr);
    assert.match(
      ran.stderr,
      /Cannot take jobs: the ring refused this runner's credential \(forbidden: .*fix: give the runner a runner token/,
    );
  },
});
