/**
 * `deno run -A bench/metrics_cost.ts [--rounds 5] [--seconds 5] [--connections 16]`:
 * what the metrics cost GET throughput. One server (one copy of each
 * object), 100 objects of 1 KB, a closed loop of GETs from `connections`
 * clients, in three variants measured in turn, round after round (so that
 * the machine's load spreads over all three):
 *
 * - `plain`: no HTTP side, no request observer;
 * - `http`: `--http 0`: the observer counts every request, the HTTP side idles;
 * - `http+scrape`: as `http`, with one dashboard and one Prometheus polling it
 *   every second (/api/ring, /api/jobs, /api/runners, /metrics).
 *
 * Prints, per variant, the median ops/s, p50 latency and the server's CPU
 * time per GET (user + system, from /proc: less sensitive than throughput
 * to other work on the machine), and the cost relative to `plain`.
 *
 * @module
 */

import { Command } from "commander";
import { ComputeCloud } from "../client/cloud.ts";
import { ServerProcess } from "../tests/harness.ts";
import { runLoad } from "./load.ts";

interface Options {
  rounds: number;
  seconds: number;
  connections: number;
}

const variants = ["plain", "http", "http+scrape"] as const;
type Variant = typeof variants[number];

function options(): Options {
  const count = (text: string) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) throw new Error(`Cannot use ${text}: not a count`);
    return n;
  };
  return new Command()
    .option("--rounds <n>", "rounds of the three variants", count, 5)
    .option("--seconds <n>", "seconds of load per measurement", count, 5)
    .option("--connections <n>", "clients, each with one GET in flight", count, 16)
    .parse(Deno.args, { from: "user" })
    .opts<Options>();
}

/** Polls like one open dashboard and one Prometheus, until `signal` aborts. */
async function scrape(http: string, signal: AbortSignal): Promise<number> {
  let polls = 0;
  while (!signal.aborted) {
    await Promise.all(
      ["/api/ring", "/api/jobs", "/api/runners", "/metrics"].map(async (path) => {
        const response = await fetch(`http://${http}${path}`);
        await response.arrayBuffer();
      }),
    );
    polls++;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  return polls;
}

async function measure(variant: Variant, options: Options) {
  const dataDir = await Deno.makeTempDir({ prefix: "cloud-bench-metrics-" });
  const server = await ServerProcess.start({
    dataDir,
    args: ["--replicas", "1", "-q", ...(variant === "plain" ? [] : ["--http", "0"])],
  });
  const stopScraping = new AbortController();
  try {
    const loader = server.client();
    const hashes: number[] = [];
    for (let i = 0; i < 100; i++) {
      hashes.push((await loader.addBytes(`object-${i}`, new Uint8Array(1024).fill(i))).hashValue);
    }
    const http = variant === "plain" ? null : (await loader.info()).http as string;
    loader.close();
    const scraping = variant === "http+scrape" ? scrape(http!, stopScraping.signal) : null;
    const open = () => {
      const cloud = new ComputeCloud(server.host, server.port, { connections: 1 });
      return Promise.resolve({
        async op(i: number) {
          const data = await cloud.file(hashes[i % hashes.length]!).get();
          if (data.length !== 1024) throw new Error(`GET returned ${data.length} bytes`);
        },
        close: () => Promise.resolve(cloud.close()),
      });
    };
    await runLoad(open, { connections: options.connections, durationMs: 1000 });
    const cpuBefore = await cpuMicros(server.pid);
    const result = await runLoad(open, {
      connections: options.connections,
      durationMs: options.seconds * 1000,
    });
    const cpuPerGet = (await cpuMicros(server.pid) - cpuBefore) / result.operations;
    stopScraping.abort();
    const polls = await scraping;
    return { ...result, polls, cpuPerGet };
  } finally {
    stopScraping.abort();
    await server.kill("SIGTERM");
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}

/** The CPU time (user + system) a process used so far, in microseconds (Linux /proc). */
async function cpuMicros(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of the line, in clock ticks (100 per second here).
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function main(): Promise<void> {
  const opts = options();
  const results = new Map<Variant, { ops: number[]; p50: number[]; cpu: number[] }>(
    variants.map((v) => [v, { ops: [], p50: [], cpu: [] }]),
  );
  for (let round = 1; round <= opts.rounds; round++) {
    for (const variant of variants) {
      const result = await measure(variant, opts);
      results.get(variant)!.ops.push(result.opsPerSecond);
      results.get(variant)!.p50.push(result.p50Ms);
      results.get(variant)!.cpu.push(result.cpuPerGet);
      console.error(
        `round ${round} ${variant.padEnd(11)} ${Math.round(result.opsPerSecond)} GET/s, p50 ${
          result.p50Ms.toFixed(2)
        } ms, server CPU ${result.cpuPerGet.toFixed(1)} µs/GET${
          result.polls ? `, ${result.polls} scrapes` : ""
        }`,
      );
    }
  }
  const base = median(results.get("plain")!.ops);
  const baseCpu = median(results.get("plain")!.cpu);
  console.log(
    `GET throughput, 1 server, ${opts.connections} clients, ${opts.rounds} rounds of ${opts.seconds} s (medians):`,
  );
  for (const variant of variants) {
    const { ops, p50, cpu } = results.get(variant)!;
    const m = median(ops);
    const c = median(cpu);
    const cost = variant === "plain"
      ? ""
      : `  (throughput ${((m / base - 1) * 100).toFixed(1)}%, CPU per GET ${
        ((c / baseCpu - 1) * 100).toFixed(1)
      }% vs plain)`;
    console.log(
      `  ${variant.padEnd(11)} ${Math.round(m)} GET/s, p50 ${median(p50).toFixed(2)} ms, ${
        c.toFixed(1)
      } µs CPU/GET; runs ${ops.map(Math.round).join(", ")}${cost}`,
    );
  }
}

if (import.meta.main) await main();
