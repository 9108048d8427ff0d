/**
 * Repair and membership timings on a real ring (loopback):
 * - time from SIGKILL of one server to every object being back to two
 *   copies on the live servers;
 * - time for every server's table to include a server that joins.
 *
 * `deno run -A bench/repair.ts [--objects 10000] [--servers 5]`
 *
 * @module
 */

import { ComputeCloud } from "../client/cloud.ts";
import { Connection } from "../protocol/connection.ts";
import { ProcessRegistry } from "./procs.ts";
import { BenchRing, type BenchServer } from "./ring.ts";

/** What one repair measurement found. */
export interface RepairResult {
  readonly objects: number;
  readonly servers: number;
  /** SIGKILL to all copies back, as far as the servers' own counts tell. */
  readonly repairMs: number;
  /** SIGKILL to every live server having dropped the dead one from its ring. */
  readonly detectMs: number;
  /** Start of the joining server's process to every server listing it. */
  readonly joinConvergeMs: number;
  /** Checked object by object after the timing: objects without exactly `replicas` copies. */
  readonly wrongCopies: number;
}

async function infoOf(server: BenchServer): Promise<Record<string, unknown>> {
  const cloud = new ComputeCloud(server.host, server.port);
  try {
    return await cloud.info();
  } finally {
    cloud.close();
  }
}

async function countWrong(
  servers: readonly BenchServer[],
  hashes: readonly number[],
  copies: number,
) {
  const counts = new Map<number, number>();
  await Promise.all(servers.map(async (server) => {
    const connection = await Connection.open(server.host, server.port);
    try {
      for (const hash of hashes) {
        const reply = await connection.request({ command: "PULL", hash, metaOnly: true });
        if (reply.ok) counts.set(hash, (counts.get(hash) ?? 0) + 1);
      }
    } finally {
      connection.close();
    }
  }));
  return hashes.filter((hash) => counts.get(hash) !== copies).length;
}

async function fill(ring: BenchRing, objects: number): Promise<number[]> {
  const hashes: number[] = [];
  const padding = "x".repeat(1000);
  const encoder = new TextEncoder();
  await Promise.all(ring.servers.map(async (server, lane) => {
    const connection = await Connection.open(server.host, server.port);
    try {
      for (let i = lane; i < objects; i += ring.servers.length) {
        const data = encoder.encode(`${i}${padding}`);
        const reply = await connection.request({ command: "ADD", name: `r${i}`, data });
        if (!reply.ok) throw new Error(`ADD failed: ${reply.reason} ${reply.detail}`);
        hashes.push(Number.parseInt(reply.fields[0]!, 16));
      }
    } finally {
      connection.close();
    }
  }));
  return hashes;
}

const total = (infos: Record<string, unknown>[], key: "objects" | "stray") =>
  infos.reduce((sum, info) => sum + (info.objects as Record<string, number>)[key]!, 0);

/** Fills a ring, kills one server, times the repair, then times a join. Stops what it started. */
export async function measureRepair(
  procs: ProcessRegistry,
  root: string,
  options: { objects?: number; servers?: number; replicas?: number } = {},
): Promise<RepairResult> {
  const objects = options.objects ?? 10_000;
  const servers = options.servers ?? 5;
  const copies = options.replicas ?? 2;
  const ring = await BenchRing.start(procs, root, servers, ["--replicas", String(copies)]);
  try {
    const hashes = await fill(ring, objects);
    const victim = ring.servers[Math.floor(servers / 2)]!;
    const started = performance.now();
    await ring.kill(victim);
    let detectMs = 0;
    for (;;) {
      const infos = await Promise.all(ring.live.map(infoOf));
      const detected = infos.every((info) => !(info.ring as string[]).includes(victim.id));
      if (detected && detectMs === 0) detectMs = performance.now() - started;
      if (detected && total(infos, "objects") === copies * objects && total(infos, "stray") === 0) {
        break;
      }
      if (performance.now() - started > 300_000) {
        throw new Error("Repair did not finish within 5 minutes");
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const repairMs = performance.now() - started;
    const wrongCopies = await countWrong(ring.live, hashes, copies);

    const joinStarted = performance.now();
    const joined = await ring.add();
    for (;;) {
      const infos = await Promise.all(ring.live.map(infoOf));
      if (infos.every((info) => (info.ring as string[]).includes(joined.id))) break;
      if (performance.now() - joinStarted > 60_000) {
        throw new Error("Tables did not converge within a minute");
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const joinConvergeMs = performance.now() - joinStarted;
    return { objects, servers, repairMs, detectMs, joinConvergeMs, wrongCopies };
  } finally {
    await ring.stop();
  }
}

if (import.meta.main) {
  const option = (name: string, fallback: number) => {
    const index = Deno.args.indexOf(name);
    return index >= 0 ? Number(Deno.args[index + 1]) : fallback;
  };
  const procs = new ProcessRegistry();
  const root = await Deno.makeTempDir({ prefix: "cloud-bench-repair-" });
  try {
    const result = await measureRepair(procs, root, {
      objects: option("--objects", 10_000),
      servers: option("--servers", 5),
    });
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await procs.stopAll();
    await Deno.remove(root, { recursive: true });
  }
}
