/**
 * Measures the sandbox backends on this machine (not a test: numbers, no
 * assertions): sandbox creation, a trivial job's round trip from `run()` to
 * result with a cold start and from a warm pool (p50/p99), trivial jobs per
 * second at a few concurrencies, and a CPU-bound job (a pure-Python loop).
 * bwrap is measured in both modes (fork and fresh) unless `--mode` picks one.
 *
 *     deno run --allow-all runner/sandbox/measure.ts [--jobs 200] [--only bwrap|pyodide]
 *         [--mode fork|fresh] [--python /usr/bin/pypy3] [--cpu-runs 3]
 *
 * @module
 */

import { type BwrapMode, createBwrapSandbox } from "./bwrap.ts";
import { createPyodideSandbox } from "./pyodide.ts";
import type { Sandbox } from "./sandbox.ts";

const trivial = "print(1)";

/** A pure-Python loop of `steps` steps: 1-2 s on one core with the steps below. */
function cpuBound(steps: number): string {
  return [
    "total = 0",
    `for i in range(${steps}):`,
    "    total = (total + i * i) % 1_000_003",
    "print(total)",
  ].join("\n");
}

/** Loop steps for about 1-2 s: PyPy's JIT runs the loop about ten times faster. */
function cpuBoundSteps(python: string): number {
  return python.includes("pypy") ? 300_000_000 : 30_000_000;
}

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

async function runOnce(
  sandbox: Sandbox,
  dir: string,
  id: number,
  source = trivial,
): Promise<number> {
  const started = performance.now();
  const result = await sandbox.run({ source, inputs: [], stdoutPath: `${dir}/out-${id}` });
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

interface BwrapPlan {
  readonly jobs: number;
  readonly modes: readonly BwrapMode[];
  readonly pythons: readonly string[];
  readonly cpuRuns: number;
}

async function measureBwrap(dir: string, plan: BwrapPlan): Promise<void> {
  for (const python of plan.pythons) {
    for (const mode of plan.modes) {
      console.log(`\n== bwrap ${mode} + ${python}`);
      if (mode === "fresh") await measureFreshStart(dir, python, plan.jobs);
      const [sandbox, createMs] = await timed(() => createBwrapSandbox({ python, mode, warm: 4 }));
      console.log(`${"sandbox creation (probe, pool of 4)".padEnd(46)} ${createMs.toFixed(1)} ms`);
      try {
        await new Promise((resolve) => setTimeout(resolve, 500));
        console.log(
          summary(
            "warm: one job at a time, 60 ms apart",
            await serial(sandbox, dir, Math.min(plan.jobs, 100), 60),
          ),
        );
        for (const concurrency of [1, 2, 4, 8]) {
          // Let the pool grow to the concurrency first (fork mode grows on demand).
          await throughput(sandbox, dir, 2 * concurrency, concurrency);
          const { perSecond, samples } = await throughput(sandbox, dir, plan.jobs, concurrency);
          console.log(
            `${summary(`back to back, ${concurrency} in flight`, samples)}  ${
              perSecond.toFixed(0)
            } jobs/s`,
          );
        }
        const steps = cpuBoundSteps(python);
        const cpu = await serialSource(sandbox, dir, plan.cpuRuns, cpuBound(steps));
        console.log(summary(`CPU-bound job (${steps / 1e6}M-step Python loop)`, cpu));
      } finally {
        await sandbox.close();
      }
    }
  }
}

/** Fresh mode without a pool: a jail started for each job. */
async function measureFreshStart(dir: string, python: string, jobs: number): Promise<void> {
  const [cold, createMs] = await timed(() =>
    createBwrapSandbox({ python, mode: "fresh", warm: 0 })
  );
  console.log(`${"sandbox creation (probe)".padEnd(46)} ${createMs.toFixed(1)} ms`);
  try {
    console.log(
      summary("cold: jail started per job", await serial(cold, dir, Math.min(jobs, 100), 0)),
    );
  } finally {
    await cold.close();
  }
}

/** Round trips of `count` runs of `source`, one at a time. */
async function serialSource(
  sandbox: Sandbox,
  dir: string,
  count: number,
  source: string,
): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) samples.push(await runOnce(sandbox, dir, i, source));
  return samples;
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

function option(name: string): string | undefined {
  const at = Deno.args.indexOf(name);
  return at >= 0 ? Deno.args[at + 1] : undefined;
}

if (import.meta.main) {
  const jobs = Number(option("--jobs") ?? 200);
  const only = option("--only");
  const mode = option("--mode");
  const python = option("--python");
  const plan: BwrapPlan = {
    jobs,
    modes: mode === undefined ? ["fork", "fresh"] : [mode as BwrapMode],
    pythons: python === undefined ? ["/usr/bin/pypy3", "/usr/bin/python3"] : [python],
    cpuRuns: Number(option("--cpu-runs") ?? 3),
  };
  console.log(`cores: ${navigator.hardwareConcurrency}, trivial job: ${JSON.stringify(trivial)}`);
  const dir = await Deno.makeTempDir({ prefix: "cloud-sandbox-measure-" });
  try {
    if (only !== "pyodide") await measureBwrap(dir, plan);
    if (only !== "bwrap") await measurePyodide(dir, jobs);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
