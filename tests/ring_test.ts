/**
 * Multi-process ring tests on loopback: five servers, objects written
 * through random servers while one is killed with SIGKILL, repair back to
 * two copies, a second failure, a join, and a restart from an old data
 * directory. Every process a test starts is killed by the test.
 */

import assert from "node:assert/strict";
import { ComputeCloud } from "../client/cloud.ts";
import { Cluster, eventually, type ServerProcess } from "./harness.ts";

const replicas = 2;

/** How many live servers hold each hash (PULL is answered from the local store only). */
async function copyCounts(
  servers: readonly ServerProcess[],
  hashes: readonly number[],
): Promise<Map<number, number>> {
  const counts = new Map<number, number>(hashes.map((hash) => [hash, 0]));
  await Promise.all(servers.map(async (server) => {
    const connection = await server.connect("server");
    try {
      for (const hash of hashes) {
        const reply = await connection.request({ command: "PULL", hash, metaOnly: true });
        if (reply.ok) counts.set(hash, counts.get(hash)! + 1);
      }
    } finally {
      connection.close();
    }
  }));
  return counts;
}

async function assertCopies(
  servers: readonly ServerProcess[],
  hashes: readonly number[],
  what: string,
) {
  let last = "";
  await eventually(async () => {
    const counts = await copyCounts(servers, hashes);
    const wrong = [...counts].filter(([, count]) => count !== replicas);
    last = wrong.slice(0, 5).map(([hash, count]) => `${hash.toString(16)}:${count}`).join(", ");
    return wrong.length === 0;
  }, {
    timeoutMs: 60_000,
    intervalMs: 300,
    what: `${what} (objects without ${replicas} copies, e.g. ${last})`,
  })
    .catch((error) => {
      throw new Error(`${error.message}; last: ${last}`);
    });
}

async function assertReadable(
  servers: readonly ServerProcess[],
  objects: ReadonlyMap<string, string>,
): Promise<void> {
  await Promise.all(servers.map(async (server) => {
    const cloud = server.client({ connections: 4 });
    try {
      for (const [hash, text] of objects) {
        assert.equal(
          await cloud.file(hash).text({ timeoutMs: 10_000 }),
          text,
          `${hash} via ${server.id}`,
        );
      }
    } finally {
      cloud.close();
    }
  }));
}

async function assertConverged(servers: readonly ServerProcess[]): Promise<void> {
  const expected = servers.map((s) => s.id).sort();
  await eventually(async () => {
    const views = await Promise.all(servers.map(async (server) => {
      const cloud = server.client();
      try {
        return (await cloud.info()).ring as string[];
      } finally {
        cloud.close();
      }
    }));
    return views.every((view) => JSON.stringify([...view].sort()) === JSON.stringify(expected));
  }, { timeoutMs: 30_000, what: "server tables to converge" });
}

Deno.test({
  name:
    "ring keeps every object at two copies through a kill -9, a second failure, a join and a restart",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using cluster = await Cluster.start(5);
    const live = () => cluster.live;
    const objects = new Map<string, string>();
    const clients = await Promise.all(
      cluster.servers.map((s) => ComputeCloud.connect(s.host, s.port, s.cloudOptions())),
    );
    const victim = cluster.servers[2]!;
    try {
      let written = 0;
      let killed: Promise<void> | undefined;
      await Promise.all(Array.from({ length: 16 }, async (_, lane) => {
        for (let i = lane; i < 2000; i += 16) {
          const text = `object ${i} ${crypto.randomUUID()}`;
          const client = clients[(i * 7 + lane) % clients.length]!;
          const file = await client.addString(`o${i}`, text);
          objects.set(file.hash, text);
          if (++written === 1000) {
            killed = victim.kill("SIGKILL");
          }
        }
      }));
      await killed;
      assert.equal(objects.size, 2000);
      const hashes = [...objects.keys()].map((h) => Number.parseInt(h, 16));

      await assertCopies(live(), hashes, "repair after the first kill");
      await assertReadable(live(), objects);

      const second = cluster.servers[4]!;
      await second.kill("SIGKILL");
      await assertCopies(live(), hashes, "repair after the second kill");
      await assertReadable(live(), objects);

      await cluster.add();
      await assertConverged(live());
      await assertCopies(live(), hashes, "rebalancing after a join");

      const restarted = await cluster.restart(victim);
      assert.equal(restarted.port, victim.port);
      await assertConverged(live());
      await assertCopies(live(), hashes, "reconciling after a restart");
      await assertReadable(live(), objects);
    } finally {
      for (const client of clients) client.close();
    }
  },
});
