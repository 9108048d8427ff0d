/**
 * Issue 19's measurement: five servers, each in its own network namespace;
 * small writes one after another, each on a new connection, through the
 * four healthy servers only (and, at the same time from another host,
 * reads of objects written before), while the fifth is fine, cut off,
 * frozen (SIGSTOP), or has its link cut and restored every 2 s. After each
 * fault is healed, every write acknowledged during it is read back through
 * all five servers. Prints the table.
 *
 * `deno run -A tests/netns/availability.ts [--seconds S]` (default 5 s per
 * situation, 10 s for the flapping link). Needs root.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { NetCluster } from "./harness.ts";
import { netnsUnavailable } from "./netns.ts";
import type { ReadLoopResult, WriteLoopResult } from "./agent.ts";

const { values } = parseArgs({ args: Deno.args, options: { seconds: { type: "string" } } });
const seconds = Number(values.seconds ?? "5");
if (!Number.isFinite(seconds) || seconds <= 0) {
  console.error(`availability: --seconds must be a positive number (got ${values.seconds})`);
  Deno.exit(2);
}
const unavailable = await netnsUnavailable();
if (unavailable) {
  console.error(`availability: cannot run: ${unavailable}`);
  Deno.exit(77);
}

/** The value at quantile `q` of `values`. */
function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

await using cluster = await NetCluster.start({ servers: 5 });
const writer = await cluster.agent("w0");
const reader = await cluster.agent("w1");
const checker = await cluster.agent("ctl");
const healthy = cluster.servers.slice(0, 4).map((s) => s.id);
const everyone = cluster.servers.map((s) => s.id);
const sick = 4;

// Objects to read, written before any fault.
const seed = await writer.value<WriteLoopResult>({
  op: "writes",
  servers: healthy,
  durationMs: 1_000,
  prefix: "seed",
});
const readable = seed.acked.map((a) => a.hash);

interface Row {
  situation: string;
  writes: WriteLoopResult;
  reads: ReadLoopResult;
  lost: number;
  checked: number;
}
const rows: Row[] = [];

async function measure(
  situation: string,
  ms: number,
  fault: () => Promise<void> | void,
  heal: () => Promise<void> | void,
): Promise<void> {
  await fault();
  const [writes, reads] = await Promise.all([
    writer.value<WriteLoopResult>(
      { op: "writes", servers: healthy, durationMs: ms, prefix: `${rows.length}-` },
      ms + 120_000,
    ),
    reader.value<ReadLoopResult>(
      { op: "reads", servers: healthy, durationMs: ms, hashes: readable },
      ms + 120_000,
    ),
  ]);
  await heal();
  // Every acknowledged write, through every server, within 10 s of healing.
  const deadline = Date.now() + 10_000;
  let missing = writes.acked;
  while (missing.length > 0 && Date.now() < deadline) {
    const results = await Promise.all(missing.map(async (a) => {
      for (const server of everyone) {
        const reply = await checker.call({ op: "get", server, hash: a.hash }, 10_000);
        if (!reply.ok || reply.value !== a.text) return a;
      }
      return null;
    }));
    missing = results.filter((a) => a !== null);
    if (missing.length > 0) await sleep(500);
  }
  rows.push({ situation, writes, reads, lost: missing.length, checked: writes.acked.length });
  console.error(`measured: ${situation}`);
  await sleep(2_000);
}

const ms = seconds * 1_000;
await measure("no fault", ms, () => {}, () => {});
await measure(
  `the first ${seconds} s after one server is cut off`,
  ms,
  () => cluster.network.isolate(`s${sick}`),
  () => cluster.network.heal(),
);
await measure(
  `the first ${seconds} s after one server is frozen (SIGSTOP)`,
  ms,
  () => cluster.pause(sick),
  () => cluster.resume(sick),
);
let flapping = true;
let flapper: Promise<void> = Promise.resolve();
await measure(
  "one server's link cut and restored every 2 s",
  2 * ms,
  () => {
    flapper = (async () => {
      while (flapping) {
        await cluster.network.isolate(`s${sick}`);
        await sleep(2_000);
        await cluster.network.heal();
        if (flapping) await sleep(2_000);
      }
    })();
  },
  async () => {
    flapping = false;
    await flapper;
  },
);

const perSecond = (count: number, ms: number) => count / (ms / 1000);
const rate = (count: number, ms: number) => `${perSecond(count, ms).toFixed(1)}/s`;
const base = rows[0]!;
console.log(
  "\n| situation | acknowledged writes/s | write p99 | reads/s | read p99 | vs no fault (writes, reads) | acknowledged writes lost |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const row of rows) {
  const writesOk = row.writes.acked.length;
  const readsOk = row.reads.attempted - row.reads.failures;
  const writeRatio = perSecond(writesOk, row.writes.elapsedMs) /
    perSecond(base.writes.acked.length, base.writes.elapsedMs);
  const readRatio = perSecond(readsOk, row.reads.elapsedMs) /
    perSecond(base.reads.attempted - base.reads.failures, base.reads.elapsedMs);
  console.log(
    `| ${row.situation} | ${rate(writesOk, row.writes.elapsedMs)} (${writesOk} in ${
      (row.writes.elapsedMs / 1000).toFixed(1)
    } s) | ${quantile(row.writes.latenciesMs, 0.99).toFixed(0)} ms | ${
      rate(readsOk, row.reads.elapsedMs)
    } | ${quantile(row.reads.latenciesMs, 0.99).toFixed(0)} ms | ${writeRatio.toFixed(2)}×, ${
      readRatio.toFixed(2)
    }× | ${row.lost} of ${row.checked} |`,
  );
}
