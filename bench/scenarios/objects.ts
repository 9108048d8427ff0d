/**
 * Scenarios 1 and 2: the object store (cloud ADD/GET, one server and a
 * 3-server ring with 2 copies) and its Redis peer (SET/GET), all driven by
 * the same closed-loop generator at 1 and 50 connections.
 *
 * @module
 */

import { startCloudObjectStore } from "../cloud.ts";
import { type LoadResult, runLoad } from "../load.ts";
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

interface Started {
  system: System;
  store: ObjectStore;
}

/** Start and fill every system that can run; the others get their status rows in `rows`. */
async function startAll(context: BenchContext, list: System[], rows: Row[]): Promise<Started[]> {
  const started: Started[] = [];
  for (const system of list) {
    if (system.missing) {
      rows.push(...statusRows(scenario, cases, system, "not installed", system.missing));
      continue;
    }
    let store: ObjectStore | undefined;
    try {
      store = await system.start();
      context.log(`${system.label}: storing ${context.sizes.preloadObjects} objects for GET`);
      await store.preload(context.sizes.preloadObjects, valueBytes);
      started.push({ system, store });
    } catch (error) {
      await store?.stop();
      const { status, note } = classify(error);
      rows.push(...statusRows(scenario, cases, system, status, note));
    }
  }
  return started;
}

/**
 * One case on every started system, runs interleaved (run 1 of each system,
 * then run 2 of each, …) so that other work on the machine falls on all of
 * them alike and the ratios hold.
 */
async function measureCase(context: BenchContext, started: Started[], c: Case): Promise<Row[]> {
  const results = new Map<string, LoadResult[]>();
  const failures = new Map<string, unknown>();
  context.log(`${c.label}: ${started.map(({ system }) => system.label).join(" / ")}`);
  for (let run = 0; run < context.runs; run++) {
    for (const { system, store } of started) {
      if (failures.has(system.key)) continue;
      const open = c.kind === "write"
        ? () => store.openWriter(valueBytes)
        : () => store.openReader();
      try {
        const result = await runLoad(open, {
          connections: c.connections,
          durationMs: context.sizes.loadMs,
          warmupMs: run === 0 ? context.sizes.warmupMs : 0,
        });
        results.set(system.key, [...results.get(system.key) ?? [], result]);
      } catch (error) {
        failures.set(system.key, error);
      }
    }
  }
  return started.map(({ system }) => {
    const base = {
      scenario,
      caseLabel: c.label,
      system: system.label,
      key: `${scenario}/${c.key}/${system.key}`,
    };
    if (failures.has(system.key)) {
      return { ...base, measures: [], ...classify(failures.get(system.key)) };
    }
    const runs = results.get(system.key) ?? [];
    const operations = runs.reduce((sum, result) => sum + result.operations, 0);
    return measuredRow({ ...base, note: `${operations} ops in ${runs.length} runs` }, [
      measure("throughput", "ops/s", "higher", runs.map((result) => result.opsPerSecond)),
      measure("latency p50", "ms", "lower", runs.map((result) => result.p50Ms)),
      measure("latency p99", "ms", "lower", runs.map((result) => result.p99Ms)),
    ]);
  });
}

async function runScenario(context: BenchContext): Promise<Row[]> {
  const list = systems(context);
  const rows: Row[] = [];
  const started = await startAll(context, list, rows);
  try {
    for (const c of cases) {
      if (started.length > 0) rows.push(...await measureCase(context, started, c));
    }
  } finally {
    await Promise.all(started.map(({ store }) => store.stop()));
  }
  const systemOrder = (row: Row) => list.findIndex((system) => row.key.endsWith(`/${system.key}`));
  return sortByCase(rows.sort((a, b) => systemOrder(a) - systemOrder(b)), cases.map((c) => c.key));
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
  run: runScenario,
  comparisons: comparisons(),
};
