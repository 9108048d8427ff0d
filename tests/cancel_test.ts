/**
 * Cancelling jobs with real processes: a running `while True` job is
 * stopped by its runner, its dependents fail naming it, a waiting job
 * never runs, and cancelling a finished job says so.
 */

import assert from "node:assert/strict";
import { eventually, runCloud, ServerProcess, startRunner, TestAuth } from "./harness.ts";

Deno.test({
  name: "cancel stops a running job on its runner, fails its dependents, and skips a waiting job",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await ServerProcess.start();
    const cloud = server.client();
    // One lane: the runner takes another job only once the cancelled one is dead.
    const runner = startRunner(server, ["--jobs", "1"]);
    try {
      const [spin, spinOut] = await cloud.addJob("spin", "while True:\n    pass\n", "spin-out", []);
      const [child] = await cloud.addJob("child", "print(open('/net/spin-out').read())", "c", [
        spinOut,
      ]);
      await eventually(async () => (await spin.status()).state === "leased", {
        what: "the runner to take the spinning job",
      });
      assert.equal(await cloud.cancel(spin), "cancelled");
      const spinStatus = await spin.status();
      assert.equal(spinStatus.state, "failed");
      assert.equal(spinStatus.reason, "cancelled");
      await eventually(async () => (await child.status()).state === "failed", {
        what: "the dependent to fail",
      });
      const childStatus = await child.status();
      assert.equal(childStatus.reason, "input-failed");
      assert.match(String(childStatus.detail), /spin-out/);
      assert.match(String(childStatus.detail), /cancelled/);
      assert.equal(childStatus.attempt, 0, "the dependent never ran");

      // The lane is free again only if the runner killed the spinning job.
      const [next, nextOut] = await cloud.addJob("next", "print('free')", "next-out", []);
      assert.equal((await nextOut.text({ timeoutMs: 20_000 })).trim(), "free");
      assert.equal((await next.status()).state, "done");

      // A waiting job, cancelled before its input is ready, never runs.
      const [slow, slowOut] = await cloud.addJob("slow", "import time\ntime.sleep(2)\n", "s", []);
      const [waiting] = await cloud.addJob("waiting", "print(1)", "w", [slowOut]);
      assert.equal(await cloud.cancel(waiting), "cancelled");
      await slow.wait(20_000);
      assert.equal((await slow.status()).state, "done");
      const waited = await waiting.status();
      assert.equal(waited.state, "failed");
      assert.equal(waited.attempt, 0, "never handed out");

      // Cancelling a finished job changes nothing and says so.
      assert.equal(await cloud.cancel(next), "done");
      const cli = await runCloud([
        "client",
        "-s",
        `${server.host}:${server.port}`,
        "cancel",
        next.hash,
        spin.hash,
      ]);
      assert.equal(cli.code, 0, cli.stderr);
      assert.equal(
        cli.stdout,
        `${next.hash} had already finished (done): nothing to cancel\n` +
          `${spin.hash} had already finished (failed): nothing to cancel\n`,
      );
      assert.equal((await next.status()).state, "done");
    } finally {
      runner.kill("SIGKILL");
      await runner.status;
      cloud.close();
    }
  },
});

Deno.test({
  name: "Ctrl-C of a waiting add-job leaves the job to run and says how to cancel it",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await ServerProcess.start();
    const dir = await Deno.makeTempDir();
    const code = `${dir}/job.py`;
    await Deno.writeTextFile(code, "print('later')\n");
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../main.ts", import.meta.url).pathname,
        "client",
        "-s",
        `${server.host}:${server.port}`,
        "add-job",
        "later",
        code,
        "later-out",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { CLOUD_TOKEN_FILE: (await TestAuth.shared()).tokenFile("client") },
    }).spawn();
    const cloud = server.client();
    try {
      // No runner: the job waits; once it is in the ring, interrupt the client.
      await eventually(submitted, { what: "the job to be submitted" });
      child.kill("SIGINT");
      const output = await child.output();
      const stderr = new TextDecoder().decode(output.stderr);
      assert.equal(output.code, 130, stderr);
      const line = stderr.split("\n").find((l) => l.includes("keeps running"));
      assert.ok(line, `one line says how to cancel: ${stderr}`);
      const hash = line.match(/cancel ([0-9a-f]{8})$/)?.[1];
      assert.ok(hash, line);
      assert.equal((await cloud.file(hash).status()).state, "ready", "the job stays");
    } finally {
      cloud.close();
      await Deno.remove(dir, { recursive: true });
    }

    async function submitted(): Promise<boolean> {
      const listed = await runCloud(["client", "-s", `${server.host}:${server.port}`, "jobs"]);
      return listed.stdout.includes("later");
    }
  },
});
