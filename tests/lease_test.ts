/**
 * Leases that follow the runner, with real processes: a job longer than
 * the lease runs once while its runner lives, and a runner killed with -9
 * has its job run elsewhere once renewals stop (docs/OPERATIONS.md,
 * "Leases").
 */

import assert from "node:assert/strict";
import { Cluster, eventually, ServerProcess, startRunner } from "./harness.ts";

async function stopRunner(runner: Deno.ChildProcess): Promise<void> {
  try {
    runner.kill("SIGKILL");
  } catch {
    // Already gone.
  }
  await runner.status;
}

Deno.test({
  name: "runner renews the lease of a job longer than the lease: it runs once, with two runners",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await ServerProcess.start({ args: ["--lease-ms", "1500"] });
    const cloud = server.client();
    const runners: Deno.ChildProcess[] = [];
    try {
      const [job, out] = await cloud.addJob(
        "long",
        "import time\ntime.sleep(6)\nprint('slept')\n",
        "long-out",
        [],
      );
      runners.push(startRunner(server));
      await eventually(async () => (await job.status()).state === "leased", {
        what: "the first runner to take the job",
      });
      runners.push(startRunner(server));
      await eventually(async () => (await job.status()).state === "done", {
        timeoutMs: 40_000,
        what: "the job to finish",
      });
      const status = await job.status();
      assert.equal(status.attempt, 1, `handed out once: ${JSON.stringify(status)}`);
      assert.equal(status.lost, 0);
      assert.equal(await out.text(), "slept\n");
    } finally {
      await Promise.all(runners.map(stopRunner));
      cloud.close();
    }
  },
});

Deno.test({
  name: "runner killed with -9: its job completes on another runner once renewals stop",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // The default lease (10 s): a dead runner's jobs are handed out again within 15 s.
    await using cluster = await Cluster.start(2);
    const [first, second] = cluster.servers as [ServerProcess, ServerProcess];
    const cloud = first.client();
    const runners: Deno.ChildProcess[] = [];
    try {
      const [job, out] = await cloud.addJob(
        "victim",
        "import time\ntime.sleep(2)\nprint('ran')\n",
        "victim-out",
        [],
      );
      const doomed = startRunner(first);
      runners.push(doomed);
      await eventually(async () => (await job.status()).state === "leased", {
        what: "the first runner to take the job",
      });
      doomed.kill("SIGKILL");
      await doomed.status;
      runners.push(startRunner(second));
      // 15 s for the lease to run out and the job to be handed out again, 2 s of work, 8 s spare.
      await eventually(async () => (await job.status()).state === "done", {
        timeoutMs: 25_000,
        what: "the job to complete on the second runner",
      });
      const status = await job.status();
      assert.equal(status.attempt, 2, `run again once: ${JSON.stringify(status)}`);
      assert.equal(status.lost, 1, "the killed runner's lease counted as lost");
      assert.equal(await out.text(), "ran\n");
    } finally {
      await Promise.all(runners.map(stopRunner));
      cloud.close();
    }
  },
});
