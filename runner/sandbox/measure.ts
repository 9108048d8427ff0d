/**
 * Measures the sandbox backends on this machine (not a test: numbers, no
 * assertions): sandbox creation, a trivial job's round trip from `run()` to
 * result with a cold start and from a warm pool (p50/p99), and trivial jobs
 * per second at a few concurrencies.
 *
 *     deno run --allow-all runner/sandbox/measure.ts [--jobs 200] [--only bwrap|pyodide]
 *
 * @module
 */

import { createBwrapSandbox } from "./bwrap.ts";
import { createPyodideSandbox } from "./pyodide.ts";
import type { Sandbox } from "./sandbox.ts";

const trivial = "print(1)";

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function summary(label: string, samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const f = (n: number) => n.toFixed(1).padStart(8);
  return `${label.padEnd(46)} n=${String(samples.length).padStart(4)}  p50 ${
    f(percentile(sorted, 50))
  } ms  p99 ${f(percentile(sorted, 99))} ms`;
}

async function runOnce(sandbox: Sandbox, dir: string, id: number): Promise<number> {
  const started = performance.now();
  const result = await sandbox.run({ source: trivial, inputs: [], stdoutPath: `${dir}/out-${id}` });
  const elapsed = performance.now() - started;
  if (result.reason !== null) {
    throw new Error(`Trivial job failed: ${result.reason}: ${result.detail}`);
  }
  return elapsed;
}

/** Round trips of jobs run one at a time, `pauseMs` apart (lets a pool refill). */
async function serial(
  sandbox: Sandbox,
  dir: string,
  count: number,
  pauseMs: number,
): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    samples.push(await runOnce(sandbox, dir, i));
    if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
  return samples;
}

/** Jobs per second with `concurrency` jobs in flight, and their round trips. */
async function throughput(
  sandbox: Sandbox,
  dir: string,
  count: number,
  concurrency: number,
): Promise<{ perSecond: number; samples: number[] }> {
  const samples: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) samples.push(await runOnce(sandbox, dir, next++));
  }));
  return { perSecond: count / ((performance.now() - started) / 1000), samples };
}

async function timed<T>(body: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const value = await body();
  return [value, performance.now() - started];
}

async function measureBwrap(dir: string, jobs: number): Promise<void> {
  for (const python of ["/usr/bin/pypy3", "/usr/bin/python3"]) {
    console.log(`\n== bwrap + ${python}`);
    const [cold, createMs] = await timed(() => createBwrapSandbox({ python, warm: 0 }));
    console.log(`sandbox creation (probe)                        ${createMs.toFixed(1)} ms`);
    try {
      console.log(
        summary("cold: jail started per job", await serial(cold, dir, Math.min(jobs, 100), 0)),
      );
    } finally {
      await cold.close();
    }
    const warm = await createBwrapSandbox({ python, warm: 4 });
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      console.log(
        summary(
          "warm: pool of 4, refilled between jobs",
          await serial(warm, dir, Math.min(jobs, 100), 60),
        ),
      );
      for (const concurrency of [1, 2, 4, 8]) {
        const { perSecond, samples } = await throughput(warm, dir, jobs, concurrency);
        console.log(
          `${summary(`warm pool 4, back to back, ${concurrency} in flight`, samples)}  ${
            perSecond.toFixed(0)
          } jobs/s`,
        );
      }
    } finally {
      await warm.close();
    }
  }
}

async function measurePyodide(dir: string, jobs: number): Promise<void> {
  console.log("\n== pyodide");
  const [sandbox, createMs] = await timed(() => createPyodideSandbox({ warm: 2 }));
  console.log(`sandbox creation (snapshot + first worker)      ${createMs.toFixed(1)} ms`);
  const count = Math.min(jobs, 20);
  try {
    console.log(
      summary("warm: pool of 2, refilled between jobs", await serial(sandbox, dir, count, 1_500)),
    );
    console.log(
      summary("back to back: waits for workers to load", await serial(sandbox, dir, count, 0)),
    );
    for (const concurrency of [2, 4]) {
      const { perSecond, samples } = await throughput(sandbox, dir, count, concurrency);
      console.log(
        `${summary(`back to back, ${concurrency} in flight`, samples)}  ${
          perSecond.toFixed(1)
        } jobs/s`,
      );
    }
  } finally {
    await sandbox.close();
  }
}

if (import.meta.main) {
  const jobsAt = Deno.args.indexOf("--jobs");
  const jobs = jobsAt >= 0 ? Number(Deno.args[jobsAt + 1]) : 200;
  const onlyAt = Deno.args.indexOf("--only");
  const only = onlyAt >= 0 ? Deno.args[onlyAt + 1] : undefined;
  console.log(`cores: ${navigator.hardwareConcurrency}, trivial job: ${JSON.stringify(trivial)}`);
  const dir = await Deno.makeTempDir({ prefix: "cloud-sandbox-measure-" });
  try {
    if (only !== "pyodide") await measureBwrap(dir, jobs);
    if (only !== "bwrap") await measurePyodide(dir, jobs);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
