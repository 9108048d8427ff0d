import assert from "node:assert/strict";
import { ComputeCloud } from "../client/cloud.ts";
import { ring } from "../client/_test_servers.ts";
import { runnerSandboxFailuresMax } from "../limits.ts";
import { runJobs } from "./runner.ts";
import {
  defaultSandboxLimits,
  type Sandbox,
  type SandboxJob,
  type SandboxResult,
} from "./sandbox/sandbox.ts";

const encoder = new TextEncoder();

/**
 * A sandbox that runs no Python: the job's source says what to do. `echo`
 * prints its inputs' contents (by name), `fail` fails, `broken` is a
 * sandbox failure, `hang` runs until the runner is stopped.
 */
class ScriptedSandbox implements Sandbox {
  readonly name = "pyodide" as const;
  readonly limits = defaultSandboxLimits;
  readonly jobs: SandboxJob[] = [];

  async run(job: SandboxJob): Promise<SandboxResult> {
    this.jobs.push(job);
    const base = { stderr: new Uint8Array(), wallMs: 1, exitCode: 0, reason: null, detail: "" };
    switch (job.source) {
      case "echo": {
        const parts = [];
        for (const input of job.inputs) {
          parts.push(`${input.name}=${await Deno.readTextFile(input.path)}`);
        }
        const stdout = encoder.encode(parts.join(","));
        return { ...base, stdout, stdoutBytes: stdout.length };
      }
      case "file": {
        await Deno.writeTextFile(job.stdoutPath, "from the file");
        return { ...base, stdoutBytes: 13 };
      }
      case "fail":
        return {
          ...base,
          exitCode: 1,
          reason: "exception",
          detail: "ValueError: no",
          stdoutBytes: 0,
        };
      case "broken":
        return {
          ...base,
          exitCode: null,
          reason: "sandbox-error",
          detail: "jail died",
          stdoutBytes: 0,
        };
      default:
        await new Promise<void>((resolve) =>
          job.signal?.addEventListener("abort", () => resolve())
        );
        return { ...base, exitCode: null, reason: "killed", detail: "stopped", stdoutBytes: 0 };
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

async function workDir() {
  const path = await Deno.makeTempDir({ prefix: "runner-test-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

Deno.test("runJobs() runs every job with its inputs, reports each, and stops when none is left", async () => {
  await using r = await ring(2);
  await using dir = await workDir();
  const cloud = await ComputeCloud.connect("127.0.0.1", r.servers[0]!.port);
  try {
    const a = await cloud.addString("a", "1");
    const b = await cloud.addString("b", "2");
    const [, echoed] = await cloud.addJob("echo", "echo", "echo.out", [a, b]);
    const [, fromFile] = await cloud.addJob("file", "file", "file.out");
    const [failing, failed] = await cloud.addJob("fail", "fail", "fail.out");
    const sandbox = new ScriptedSandbox();
    const summary = await runJobs({
      host: "127.0.0.1",
      port: r.servers[1]!.port,
      sandbox,
      jobs: 2,
      watch: false,
      workDir: dir.path,
    });
    assert.deepEqual(summary, { done: 2, failed: 1, returned: 0 });
    assert.equal(await echoed.text(), "a=1,b=2");
    assert.equal(await fromFile.text(), "from the file");
    await assert.rejects(failed.get(), /ValueError: no/);
    assert.equal((await failing.status()).reason, "exception");
  } finally {
    cloud.close();
  }
});

Deno.test("runJobs() gives back the jobs its sandbox fails on, and stops when it keeps failing", async () => {
  await using r = await ring(1);
  await using dir = await workDir();
  const cloud = await ComputeCloud.connect("127.0.0.1", r.servers[0]!.port);
  try {
    const [job] = await cloud.addJob("broken", "broken", "broken.out");
    const sandbox = new ScriptedSandbox();
    await assert.rejects(
      runJobs({
        host: "127.0.0.1",
        port: r.servers[0]!.port,
        sandbox,
        jobs: 1,
        watch: false,
        workDir: dir.path,
      }),
      new RegExp(`failed ${runnerSandboxFailuresMax} times in a row \\(last: jail died\\)`),
    );
    assert.equal(sandbox.jobs.length, runnerSandboxFailuresMax);
    assert.equal((await job.status()).state, "released", "given back each time, not failed");
  } finally {
    cloud.close();
  }
});

Deno.test("runJobs() stopped by its signal gives back the job it runs", async () => {
  await using r = await ring(1);
  await using dir = await workDir();
  const cloud = await ComputeCloud.connect("127.0.0.1", r.servers[0]!.port);
  try {
    const [job] = await cloud.addJob("hang", "hang", "hang.out");
    const sandbox = new ScriptedSandbox();
    const stop = new AbortController();
    const running = runJobs({
      host: "127.0.0.1",
      port: r.servers[0]!.port,
      sandbox,
      jobs: 1,
      watch: true,
      workDir: dir.path,
      signal: stop.signal,
    });
    while (sandbox.jobs.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    stop.abort();
    assert.deepEqual(await running, { done: 0, failed: 0, returned: 1 });
    assert.equal((await job.status()).state, "released");
  } finally {
    cloud.close();
  }
});
