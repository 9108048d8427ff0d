/**
 * `deno run -A bench/observer_cost.ts [--rounds 10] [--gets 100000]`: the
 * request observer's cost per request, in process (no sockets, so other
 * work on the machine disturbs it less than bench/metrics_cost.ts): one
 * server on a store in memory serves GETs of 1 KB objects through
 * `Node.handle`, without an observer and with the one `--http` installs
 * (a counter and a histogram per request), in alternating rounds. Prints
 * the median CPU time per GET of each and the difference; then the CPU time
 * of one request to each route a dashboard and Prometheus poll (served in
 * process, without the HTTP transport).
 *
 * @module
 */

import { Command } from "commander";
import { cpuUsage } from "node:process";
import { Node } from "../server/node.ts";
import { Store } from "../server/store.ts";
import { RequestMetrics } from "../server/metrics_server.ts";
import { httpHandler } from "../server/http_routes.ts";
import type { PeerTransport } from "../server/peers.ts";
import { ConnectionError } from "../protocol/connection.ts";

const alone: PeerTransport = {
  request: () => Promise.reject(new ConnectionError("connect", "no peers: refused")),
  forget: () => {},
  close: () => {},
};

async function server(
  observed: boolean,
): Promise<{ node: Node; store: Store; hashes: number[]; metrics: RequestMetrics }> {
  const store = new Store(":memory:");
  const metrics = new RequestMetrics();
  const node = new Node({
    host: "127.0.0.1",
    port: 1,
    store,
    replicas: 1,
    vnodes: 32,
    leaseMs: 60_000,
    heartbeatMs: 3_600_000,
    transport: alone,
    ...(observed ? { observe: metrics.observe } : {}),
  });
  await node.start();
  const hashes: number[] = [];
  for (let i = 0; i < 100; i++) {
    const reply = await node.handle(
      { command: "ADD", name: `o${i}`, data: new Uint8Array(1024).fill(i) },
      { peer: null },
    );
    if (!reply.ok) throw new Error(`ADD failed: ${reply.reason}`);
    hashes.push(Number.parseInt(reply.fields[0]!, 16));
  }
  return { node, store, hashes, metrics };
}

/** CPU microseconds per GET over `gets` GETs, one at a time. */
async function measure(
  target: { node: Node; hashes: number[] },
  gets: number,
): Promise<number> {
  const before = cpuUsage();
  for (let i = 0; i < gets; i++) {
    const reply = await target.node.handle(
      { command: "GET", hash: target.hashes[i % target.hashes.length]! },
      { peer: null },
    );
    if (!reply.ok) throw new Error(`GET failed: ${reply.reason}`);
  }
  const used = cpuUsage(before);
  return (used.user + used.system) / gets;
}

/** CPU microseconds of one request to each polled route, served in process. */
async function routeCosts(
  target: { node: Node; metrics: RequestMetrics },
): Promise<[string, number][]> {
  const fetch = httpHandler({ node: target.node, metrics: target.metrics, connections: () => 16 });
  const costs: [string, number][] = [];
  for (const path of ["/api/ring", "/api/jobs", "/api/runners", "/metrics"]) {
    const once = async () => await (await fetch(new Request(`http://127.0.0.1${path}`))).text();
    for (let i = 0; i < 20; i++) await once();
    const before = cpuUsage();
    for (let i = 0; i < 200; i++) await once();
    const used = cpuUsage(before);
    costs.push([path, (used.user + used.system) / 200]);
  }
  return costs;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function main(): Promise<void> {
  const options = new Command()
    .option("--rounds <n>", "alternating rounds", (text) => Number(text), 10)
    .option("--gets <n>", "GETs per round and variant", (text) => Number(text), 100_000)
    .parse(Deno.args, { from: "user" })
    .opts<{ rounds: number; gets: number }>();
  const plain = await server(false);
  const observed = await server(true);
  await measure(plain, options.gets / 10);
  await measure(observed, options.gets / 10);
  const results = { plain: [] as number[], observed: [] as number[] };
  for (let round = 0; round < options.rounds; round++) {
    results.plain.push(await measure(plain, options.gets));
    results.observed.push(await measure(observed, options.gets));
  }
  const routes = await routeCosts(observed);
  for (const target of [plain, observed]) {
    target.node.stop();
    target.store.close();
  }
  const p = median(results.plain);
  const o = median(results.observed);
  console.log(
    `Node.handle(GET 1 KB), ${options.rounds} rounds of ${options.gets}: without observer ${
      p.toFixed(2)
    } µs CPU/GET, with ${o.toFixed(2)} µs (${(o - p).toFixed(2)} µs, ${
      ((o / p - 1) * 100).toFixed(1)
    }%)`,
  );
  console.log(`  runs without: ${results.plain.map((v) => v.toFixed(2)).join(", ")}`);
  console.log(`  runs with:    ${results.observed.map((v) => v.toFixed(2)).join(", ")}`);
  console.log(
    `one poll, in process: ${
      routes.map(([path, micros]) => `${path} ${micros.toFixed(0)} µs`).join(", ")
    } (CPU per request)`,
  );
}

if (import.meta.main) await main();
