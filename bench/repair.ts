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
import { Cluster, type ServerProcess } from "../tests/harness.ts";

/** What one repair measurement found. */
export interface RepairResult {
  readonly objects: number;
  readonly servers: number;
  /** SIGKILL to two copies of everything, as far as the servers' counts tell. */
  readonly repairMs: number;
  /** SIGKILL to every live server having dropped the dead one from its ring. */
  readonly detectMs: number;
  /** Join start to every server listing the new one. */
  readonly joinConvergeMs: number;
  /** Checked object by object after the timing: objects without exactly two copies. */
  readonly wrongCopies: number;
}

async function infoOf(server: ServerProcess): Promise<Record<string, unknown>> {
  const cloud = new ComputeCloud(server.host, server.port);
  try {
    return await cloud.info();
  } finally {
    cloud.close();
  }
}

async function countCopies(
  servers: readonly ServerProcess[],
  hashes: readonly number[],
): Promise<number> {
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
  return hashes.filter((hash) => counts.get(hash) !== 2).length;
}

/** Fills a ring, kills one server, times the repair, then times a join. */
export async function measureRepair(
  options: { objects?: number; servers?: number } = {},
): Promise<RepairResult> {
  const objects = options.objects ?? 10_000;
  const serverCount = options.servers ?? 5;
  await using cluster = await Cluster.start(serverCount, ["--quiet"]);
  const hashes: number[] = [];
  const value = "x".repeat(1000);
  await Promise.all(cluster.servers.map(async (server, lane) => {
    const connection = await Connection.open(server.host, server.port);
    try {
      for (let i = lane; i < objects; i += serverCount) {
        const reply = await connection.request({
          command: "ADD",
          name: `r${i}`,
          data: new TextEncoder().encode(`${i}${value}`),
        });
        if (!reply.ok) throw new Error(`ADD failed: ${reply.reason} ${reply.detail}`);
        hashes.push(Number.parseInt(reply.fields[0]!, 16));
      }
    } finally {
      connection.close();
    }
  }));

  const victim = cluster.servers[Math.floor(serverCount / 2)]!;
  const started = performance.now();
  await victim.kill("SIGKILL");
  let detectMs = 0;
  for (;;) {
    const infos = await Promise.all(cluster.live.map(infoOf));
    const detected = infos.every((info) => !(info.ring as string[]).includes(victim.id));
    if (detected && detectMs === 0) detectMs = performance.now() - started;
    const held = infos.reduce(
      (sum, info) => sum + (info.objects as { objects: number }).objects,
      0,
    );
    const stray = infos.reduce((sum, info) => sum + (info.objects as { stray: number }).stray, 0);
    if (detected && held === 2 * objects && stray === 0) break;
    if (performance.now() - started > 300_000) {
      throw new Error("Repair did not finish within 5 minutes");
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const repairMs = performance.now() - started;
  const wrongCopies = await countCopies(cluster.live, hashes);

  const joinStarted = performance.now();
  const joined = await cluster.add({ args: ["--quiet"] });
  for (;;) {
    const infos = await Promise.all(cluster.live.map(infoOf));
    if (infos.every((info) => (info.ring as string[]).includes(joined.id))) break;
    if (performance.now() - joinStarted > 60_000) {
      throw new Error("Tables did not converge within a minute");
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const joinConvergeMs = performance.now() - joinStarted;
  return { objects, servers: serverCount, repairMs, detectMs, joinConvergeMs, wrongCopies };
}

if (import.meta.main) {
  const objects = Number(Deno.args[Deno.args.indexOf("--objects") + 1] || 10_000);
  const servers = Number(Deno.args[Deno.args.indexOf("--servers") + 1] || 5);
  const result = await measureRepair({ objects, servers });
  console.log(JSON.stringify(result, null, 2));
}
