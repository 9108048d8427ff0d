/**
 * Where the CPU of trivial jobs goes: one server and one runner on loopback,
 * a batch of `print(1)` jobs submitted and gathered as the bench's jobs
 * scenario does (16 in flight), and the CPU seconds each process used during
 * the batch: the server, the runner (Deno), this client, and the rest of the
 * machine over the same time (on an otherwise idle machine: the sandboxes,
 * that is bubblewrap, the zygotes and the jobs' interpreters). A diagnostic
 * for steering work on job throughput, not a scenario of the table.
 *
 * ```sh
 * deno run -A bench/jobs_cpu.ts                          # 2000 jobs, pypy3, --jobs 2
 * deno run -A bench/jobs_cpu.ts --python /usr/bin/python3 --jobs 4 --count 500
 * deno run -A bench/jobs_cpu.ts --rounds 5              # the same runner, batch after batch
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ComputeCloud, type FileObject } from "../client/cloud.ts";
import { ProcessRegistry } from "./procs.ts";
import { BenchRing, startRunner } from "./ring.ts";

/** CPU seconds (user + system) of one process, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds the whole machine has spent busy (user, nice, system, irq, softirq). */
function machineCpuSeconds(): number {
  const line = Deno.readTextFileSync("/proc/stat").split("\n")[0]!;
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  return (ticks[0]! + ticks[1]! + ticks[2]! + ticks[5]! + ticks[6]!) / 100;
}

async function batch(cloud: ComputeCloud, count: number): Promise<void> {
  const outputs: FileObject[] = [];
  let submitted = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (submitted < count) {
      submitted++;
      const [, output] = await cloud.addJob("trivial", "print(1)", "out", [], { fresh: true });
      outputs.push(output);
    }
  }));
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < outputs.length) {
      const text = await outputs[next++]!.text({ timeoutMs: 600_000 });
      if (text !== "1\n") throw new Error(`A trivial job printed ${JSON.stringify(text)}`);
    }
  }));
}

/** Runs one batch and prints the CPU each process used for it. */
async function measure(
  cloud: ComputeCloud,
  pids: { server: number; runner: number },
  count: number,
): Promise<void> {
  const before = {
    server: cpuSeconds(pids.server),
    runner: cpuSeconds(pids.runner),
    client: cpuSeconds(Deno.pid),
    machine: machineCpuSeconds(),
  };
  const started = performance.now();
  await batch(cloud, count);
  const seconds = (performance.now() - started) / 1000;
  const used = {
    server: cpuSeconds(pids.server) - before.server,
    runner: cpuSeconds(pids.runner) - before.runner,
    client: cpuSeconds(Deno.pid) - before.client,
    machine: machineCpuSeconds() - before.machine,
  };
  const rest = used.machine - used.server - used.runner - used.client;
  const perJob = (cpu: number) => `${(cpu / count * 1000).toFixed(2)} ms`;
  console.log(
    `${count} jobs in ${seconds.toFixed(2)} s: ${(count / seconds).toFixed(0)} jobs/s`,
  );
  console.log(
    `CPU per job: server ${perJob(used.server)}, runner ${perJob(used.runner)}, client ${
      perJob(used.client)
    }, rest of the machine (sandboxes) ${perJob(rest)}; all ${perJob(used.machine)} of ${
      perJob(seconds * navigator.hardwareConcurrency)
    } available`,
  );
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      python: { type: "string", default: "/usr/bin/pypy3" },
      jobs: { type: "string", default: "2" },
      count: { type: "string", default: "2000" },
      rounds: { type: "string", default: "1" },
    },
  });
  const count = Number(values.count);
  const procs = new ProcessRegistry();
  const root = await Deno.makeTempDir({ prefix: "cloud-jobs-cpu-" });
  try {
    const ring = await BenchRing.start(procs, root, 1);
    const server = ring.servers[0]!;
    const runner = startRunner(procs, server, [
      "--sandbox",
      "bwrap",
      "--python",
      values.python,
      "--jobs",
      values.jobs,
    ]);
    const cloud = await ComputeCloud.connect(server.host, server.port, { connections: 16 });
    try {
      await batch(cloud, 50); // Warm-up: jails started, code paths compiled.
      const pids = { server: server.process.pid, runner: runner.pid };
      for (let round = 0; round < Number(values.rounds); round++) {
        await measure(cloud, pids, count);
      }
    } finally {
      cloud.close();
      await runner.stop(5_000);
      await ring.stop();
    }
  } finally {
    await procs.stopAll();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}
