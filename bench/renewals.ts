/**
 * `deno run -A bench/renewals.ts [--jobs 1000] [--rounds 30] [--kills 5]`:
 * what leases that follow the runner cost and buy.
 *
 * 1. Cost: one server process, `--jobs` jobs leased to one runner-role
 *    client, which renews them all in one RNEW `--rounds` times back to
 *    back. Prints the request's size, the server's CPU time per renewal
 *    (from /proc, less an idle window of the same length) and what that
 *    comes to per runner at the default pace (a renewal every third of the
 *    10 s lease).
 * 2. Recovery: a ring of two servers; a real runner takes a job that sleeps
 *    30 s and is killed with -9; a second runner attached to the other
 *    server waits. Prints the time from the kill until the job is leased
 *    again (running elsewhere), `--kills` times, and their median.
 *
 * @module
 */

import { Command } from "commander";
import { encodeRequest, type HeldLease } from "../protocol/message.ts";
import { leaseMsDefault, leaseRenewalsPerLease, leaseRenewMsMax } from "../limits.ts";
import { Cluster, ServerProcess, startRunner } from "../tests/harness.ts";

const options = new Command()
  .option("--jobs <n>", "running jobs renewed at once", (v) => Number.parseInt(v, 10), 1_000)
  .option("--rounds <n>", "renewals measured", (v) => Number.parseInt(v, 10), 30)
  .option("--kills <n>", "runners killed", (v) => Number.parseInt(v, 10), 5)
  .parse()
  .opts<{ jobs: number; rounds: number; kills: number }>();

const ticksPerSecond = 100;

async function cpuMs(pid: number): Promise<number> {
  const fields = (await Deno.readTextFile(`/proc/${pid}/stat`)).split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 1_000 / ticksPerSecond;
}

async function renewalCost(): Promise<void> {
  await using server = await ServerProcess.start();
  const client = server.client();
  const runner = server.client({ role: "runner", connections: 1 });
  try {
    for (let i = 0; i < options.jobs; i++) {
      await client.addJob(`renew-${i}`, `print(${i})`, `renew-out-${i}`, []);
    }
    const leases: HeldLease[] = [];
    while (leases.length < options.jobs) {
      const taken = await runner.takeJob();
      if (typeof taken !== "object") throw new Error(`Cannot take job ${leases.length}: ${taken}`);
      leases.push({ hash: taken.hashValue, lease: taken.lease! });
    }
    const bytes = new TextEncoder().encode(encodeRequest({ command: "RNEW", leases })).length;
    const started = performance.now();
    const cpuBefore = await cpuMs(server.pid);
    for (let round = 0; round < options.rounds; round++) {
      const reply = await runner.request({ command: "RNEW", leases });
      if (!reply.ok || reply.fields.slice(1).some((status) => status !== "ok")) {
        throw new Error(`Renewal ${round} failed: ${JSON.stringify(reply).slice(0, 200)}`);
      }
    }
    const busyMs = performance.now() - started;
    const cpuBusy = (await cpuMs(server.pid)) - cpuBefore;
    const idleBefore = await cpuMs(server.pid);
    await new Promise((resolve) => setTimeout(resolve, busyMs));
    const cpuIdle = (await cpuMs(server.pid)) - idleBefore;
    const perRenewalMs = Math.max(0, cpuBusy - cpuIdle) / options.rounds;
    const intervalMs = Math.min(leaseMsDefault / leaseRenewalsPerLease, leaseRenewMsMax);
    console.log(`renewal of ${options.jobs} leases: ${bytes} bytes, one message`);
    console.log(
      `server CPU: ${perRenewalMs.toFixed(2)} ms per renewal ` +
        `(${cpuBusy} ms busy, ${cpuIdle} ms idle over ${
          busyMs.toFixed(0)
        } ms, ${options.rounds} rounds); ` +
        `round trip ${(busyMs / options.rounds).toFixed(2)} ms`,
    );
    console.log(
      `per runner at one renewal every ${intervalMs.toFixed(0)} ms: ` +
        `${(1_000 / intervalMs).toFixed(2)} messages/s, ` +
        `${(100 * perRenewalMs / intervalMs).toFixed(3)} % of one core`,
    );
  } finally {
    client.close();
    runner.close();
  }
}

async function kill(cluster: Cluster, round: number): Promise<number> {
  const [first, second] = cluster.servers as [ServerProcess, ServerProcess];
  const client = first.client();
  const doomed = startRunner(first);
  let rescuer: Deno.ChildProcess | null = null;
  try {
    const [job] = await client.addJob(
      `kill-${round}`,
      "import time\ntime.sleep(30)\n",
      `k-${round}`,
      [],
    );
    while ((await job.status()).state !== "leased") await sleep(50);
    rescuer = startRunner(second);
    await sleep(1_000); // the rescuer is up and polling
    doomed.kill("SIGKILL");
    const killedMs = performance.now();
    await doomed.status;
    for (;;) {
      const status = await job.status();
      if (status.state === "leased" && status.attempt === 2) return performance.now() - killedMs;
      await sleep(50);
    }
  } finally {
    for (const child of [doomed, rescuer]) {
      try {
        child?.kill("SIGKILL");
      } catch {
        // Gone already.
      }
      await child?.status;
    }
    client.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

await renewalCost();
{
  const times: number[] = [];
  for (let round = 0; round < options.kills; round++) {
    // A ring of its own per kill: no job of an earlier round competes.
    await using cluster = await Cluster.start(2);
    times.push(await kill(cluster, round));
    console.log(
      `kill -9 ${round + 1}: job running elsewhere after ${(times.at(-1)! / 1000).toFixed(2)} s`,
    );
  }
  times.sort((a, b) => a - b);
  console.log(
    `median of ${times.length}: ${(times[Math.floor(times.length / 2)]! / 1000).toFixed(2)} s`,
  );
}
