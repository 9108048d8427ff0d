/**
 * The Python client against the TypeScript client on the same server:
 * ADD and GET of 1 KB objects at one connection (closed loop), and the
 * submit-to-result latency of trivial jobs (`print(1)`, fresh each, one at
 * a time) through a bubblewrap runner. Rounds alternate between the two
 * clients so that both see the same machine load.
 *
 * ```sh
 * deno run -A bench/python_client.ts [--seconds 5] [--rounds 3] [--jobs 50] [--python /usr/bin/python3]
 * ```
 *
 * Prints a table and, last, one JSON line. Starts one server and one
 * runner on loopback and stops them (by pid) before it exits.
 *
 * @module
 */

import { ComputeCloud, type FileObject } from "../client/cloud.ts";
import { ServerProcess, startRunner } from "../tests/harness.ts";

const root = new URL("..", import.meta.url).pathname;

function option(name: string, fallback: string): string {
  const index = Deno.args.indexOf(`--${name}`);
  return index >= 0 && Deno.args[index + 1] !== undefined ? Deno.args[index + 1]! : fallback;
}

const seconds = Number(option("seconds", "5"));
const rounds = Number(option("rounds", "3"));
const jobCount = Number(option("jobs", "50"));
const python = option("python", "/usr/bin/python3");
const objectBytes = 1000;

interface Rate {
  opsPerS: number;
  p50Ms: number;
}

function quantile(samples: number[], fraction: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

function median(values: number[]): number {
  return quantile(values, 0.5);
}

function valueOf(i: number, body: Uint8Array): Uint8Array {
  const data = body.slice();
  new DataView(data.buffer).setBigUint64(0, BigInt(i));
  return data;
}

async function tsObjects(server: ServerProcess): Promise<{ add: Rate; get: Rate }> {
  const cloud = await ComputeCloud.connect(server.host, server.port, { connections: 1 });
  try {
    const tag = crypto.randomUUID().slice(0, 8);
    const body = crypto.getRandomValues(new Uint8Array(objectBytes));
    const loop = async (op: (i: number) => Promise<void>): Promise<Rate> => {
      const latencies: number[] = [];
      const started = performance.now();
      let i = 0;
      while (performance.now() - started < seconds * 1000) {
        const begin = performance.now();
        await op(i++);
        latencies.push(performance.now() - begin);
      }
      return { opsPerS: i / ((performance.now() - started) / 1000), p50Ms: median(latencies) };
    };
    const add = await loop(async (i) => {
      await cloud.addBytes(`w-${tag}-${i}`, valueOf(i, body));
    });
    const preloaded: FileObject[] = [];
    for (let i = 0; i < 100; i++) {
      preloaded.push(await cloud.addBytes(`pre-${tag}-${i}`, valueOf(i, body)));
    }
    const get = await loop(async (i) => {
      const data = await preloaded[i % preloaded.length]!.get();
      if (data.length !== objectBytes) throw new Error(`GET returned ${data.length} bytes`);
    });
    return { add, get };
  } finally {
    cloud.close();
  }
}

async function tsJobs(server: ServerProcess): Promise<number[]> {
  const cloud = await ComputeCloud.connect(server.host, server.port, { connections: 1 });
  try {
    const [, warm] = await cloud.addJob("bench-warm", "print(1)\n", "bench-warm", [], {
      fresh: true,
    });
    await warm.text();
    const latencies: number[] = [];
    for (let i = 0; i < jobCount; i++) {
      const begin = performance.now();
      const [, out] = await cloud.addJob("bench-trivial", "print(1)\n", "bench-trivial", [], {
        fresh: true,
      });
      const text = await out.text();
      latencies.push(performance.now() - begin);
      if (text !== "1\n") throw new Error(`unexpected output ${JSON.stringify(text)}`);
    }
    return latencies;
  } finally {
    cloud.close();
  }
}

async function py(args: string[]): Promise<Record<string, unknown>> {
  const output = await new Deno.Command(python, {
    args: [`${root}python/bench_client.py`, ...args],
    env: { PYTHONDONTWRITEBYTECODE: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error(`bench_client.py ${args[0]} exited with ${output.code}`);
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

async function main(): Promise<void> {
  await using server = await ServerProcess.start();
  const runner = startRunner(server, ["--sandbox", "bwrap"]);
  try {
    const host = server.host;
    const port = String(server.port);
    const results = {
      ts: { add: [] as Rate[], get: [] as Rate[] },
      py: { add: [] as Rate[], get: [] as Rate[] },
    };
    let pythonVersion = "";
    for (let round = 0; round < rounds; round++) {
      const ts = await tsObjects(server);
      results.ts.add.push(ts.add);
      results.ts.get.push(ts.get);
      const p = await py([
        "objects",
        host,
        port,
        "--seconds",
        String(seconds),
        "--size",
        String(objectBytes),
      ]);
      const add = p.add as { ops_per_s: number; p50_ms: number };
      const get = p.get as { ops_per_s: number; p50_ms: number };
      results.py.add.push({ opsPerS: add.ops_per_s, p50Ms: add.p50_ms });
      results.py.get.push({ opsPerS: get.ops_per_s, p50Ms: get.p50_ms });
      pythonVersion = String(p.python);
      console.error(
        `round ${round + 1}/${rounds}: TS add ${ts.add.opsPerS.toFixed(0)}/s get ${
          ts.get.opsPerS.toFixed(0)
        }/s; Python add ${add.ops_per_s.toFixed(0)}/s get ${get.ops_per_s.toFixed(0)}/s`,
      );
    }
    const tsLatencies = await tsJobs(server);
    const pyJobs = await py(["jobs", host, port, "--count", String(jobCount)]);
    const rate = (list: Rate[]) => ({
      opsPerS: median(list.map((r) => r.opsPerS)),
      p50Ms: median(list.map((r) => r.p50Ms)),
    });
    const summary = {
      seconds,
      rounds,
      objectBytes,
      python: pythonVersion,
      ts: { add: rate(results.ts.add), get: rate(results.ts.get) },
      py: { add: rate(results.py.add), get: rate(results.py.get) },
      jobs: {
        count: jobCount,
        tsMedianMs: median(tsLatencies),
        tsP90Ms: quantile(tsLatencies, 0.9),
        pyMedianMs: Number(pyJobs.median_ms),
        pyP90Ms: Number(pyJobs.p90_ms),
      },
      loadAverage: Deno.loadavg(),
    };
    const f = (n: number) => n.toFixed(n < 10 ? 2 : 0);
    console.log(
      `| 1 KB objects, 1 connection (median of ${rounds} rounds of ${seconds} s) | TypeScript | Python | Python ÷ TS |`,
    );
    console.log("| --- | --- | --- | --- |");
    for (const op of ["add", "get"] as const) {
      const ts = summary.ts[op];
      const p = summary.py[op];
      console.log(
        `| ${op.toUpperCase()} ops/s (p50 ms) | ${f(ts.opsPerS)} (${f(ts.p50Ms)}) | ${
          f(p.opsPerS)
        } (${f(p.p50Ms)}) | ${(p.opsPerS / ts.opsPerS).toFixed(2)}× |`,
      );
    }
    console.log(
      `| trivial job, submit to result, median (p90) ms over ${jobCount} | ${
        f(summary.jobs.tsMedianMs)
      } (${f(summary.jobs.tsP90Ms)}) | ${f(summary.jobs.pyMedianMs)} (${
        f(summary.jobs.pyP90Ms)
      }) | |`,
    );
    console.log(JSON.stringify(summary));
  } finally {
    try {
      runner.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await runner.status;
  }
}

if (import.meta.main) await main();
