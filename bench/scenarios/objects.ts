/**
 * Scenarios 1 and 2: the object store (cloud ADD/GET, one server and a
 * 3-server ring with 2 copies) and its Redis peer (SET/GET), all driven by
 * the same closed-loop generator at 1 and 50 connections.
 *
 * @module
 */

import { startCloudObjectStore } from "../cloud.ts";
import { runLoad } from "../load.ts";
import type { ObjectStore } from "../object_store.ts";
import { startRedis } from "../redis.ts";
import { type Comparison, measure, type Row, statusRows } from "../results.ts";
import { type BenchContext, classify, measuredRow, type Scenario, sortByCase } from "./context.ts";

const scenario = "objects";
const valueBytes = 1024;

interface Case {
  key: string;
  label: string;
  kind: "write" | "read";
  connections: number;
}

const cases: Case[] = [1, 50].flatMap((connections) => {
  const conns = connections === 1 ? "1 conn" : `${connections} conns`;
  return [
    { key: `write-c${connections}`, label: `ADD/SET 1 KB, ${conns}`, kind: "write", connections },
    { key: `read-c${connections}`, label: `GET 1 KB, ${conns}`, kind: "read", connections },
  ] as Case[];
});

interface System {
  key: string;
  label: string;
  missing?: string;
  start(): Promise<ObjectStore>;
}

function systems(context: BenchContext): System[] {
  const redis = context.tools.redisServer;
  return [
    {
      key: "cloud-1",
      label: "cloud, 1 server",
      start: () => startCloudObjectStore(context, { servers: 1, replicaCount: 1 }),
    },
    {
      key: "cloud-3",
      label: "cloud, 3 servers, 2 copies",
      start: () => startCloudObjectStore(context, { servers: 3, replicaCount: 2 }),
    },
    {
      key: "redis",
      label: redis ? `redis ${redis.version}` : "redis",
      missing: redis ? undefined : "redis-server not found",
      start: () =>
        startRedis(context.procs, {
          server: redis!.path,
          version: redis!.version,
          dir: context.tmpDir,
        }),
    },
  ];
}

async function measureCase(context: BenchContext, store: ObjectStore, c: Case, system: System) {
  const base = {
    scenario,
    caseLabel: c.label,
    system: system.label,
    key: `${scenario}/${c.key}/${system.key}`,
  };
  const open = c.kind === "write" ? () => store.openWriter(valueBytes) : () => store.openReader();
  const results = [];
  try {
    for (let run = 0; run < context.runs; run++) {
      results.push(
        await runLoad(open, {
          connections: c.connections,
          durationMs: context.sizes.loadMs,
          warmupMs: run === 0 ? context.sizes.warmupMs : 0,
        }),
      );
    }
  } catch (error) {
    return { ...base, measures: [], ...classify(error) };
  }
  const operations = results.reduce((sum, result) => sum + result.operations, 0);
  return measuredRow({ ...base, note: `${operations} ops in ${results.length} runs` }, [
    measure("throughput", "ops/s", "higher", results.map((result) => result.opsPerSecond)),
    measure("latency p50", "ms", "lower", results.map((result) => result.p50Ms)),
    measure("latency p99", "ms", "lower", results.map((result) => result.p99Ms)),
  ]);
}

async function runSystem(context: BenchContext, system: System): Promise<Row[]> {
  if (system.missing) return statusRows(scenario, cases, system, "not installed", system.missing);
  let store: ObjectStore;
  try {
    store = await system.start();
  } catch (error) {
    const { status, note } = classify(error);
    return statusRows(scenario, cases, system, status, note);
  }
  try {
    context.log(`${system.label}: storing ${context.sizes.preloadObjects} objects for GET`);
    await store.preload(context.sizes.preloadObjects, valueBytes);
    const rows: Row[] = [];
    for (const c of cases) {
      context.log(`${system.label}: ${c.label}`);
      rows.push(await measureCase(context, store, c, system));
    }
    return rows;
  } catch (error) {
    const { status, note } = classify(error);
    return statusRows(scenario, cases, system, status, note);
  } finally {
    await store.stop();
  }
}

function comparisons(): Comparison[] {
  const list: Comparison[] = [];
  for (const c of cases) {
    for (const cloud of ["cloud-1", "cloud-3"]) {
      const target = c.kind === "read"
        ? { op: ">=" as const, value: 0.6 }
        : cloud === "cloud-3"
        ? { op: ">=" as const, value: 0.3 }
        : undefined;
      const servers = cloud === "cloud-1" ? "1 server" : "3 servers/2 copies";
      list.push({
        label: `${c.label.replace("ADD/SET", "ADD")} (${servers}) / Redis ${
          c.kind === "write" ? "SET" : "GET"
        }`,
        subject: { key: `${scenario}/${c.key}/${cloud}`, metric: "throughput" },
        peer: { key: `${scenario}/${c.key}/redis`, metric: "throughput" },
        target,
      });
    }
  }
  return list;
}

/** Scenarios 1 and 2 of the issue. */
export const objectsScenario: Scenario = {
  id: scenario,
  issueNumbers: [1, 2],
  title: "Object store: 1 KB ADD/GET vs Redis SET/GET",
  run: async (context) => {
    const rows: Row[] = [];
    for (const system of systems(context)) rows.push(...await runSystem(context, system));
    return sortByCase(rows, cases.map((c) => c.key));
  },
  comparisons: comparisons(),
};
