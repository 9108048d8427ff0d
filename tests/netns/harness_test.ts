/**
 * The network-namespace harness itself: a partition stops traffic (both
 * ways and one way), healing restores it, SIGSTOP freezes a server, a full
 * tmpfs refuses writes, and closing removes every namespace and mount.
 * Needs root; skipped with the reason printed elsewhere.
 */

import assert from "node:assert/strict";
import { NetCluster } from "./harness.ts";
import { namespacePrefix, netnsUnavailable, removeStaleNamespaces, run } from "./netns.ts";

const unavailable = await netnsUnavailable();
if (unavailable) console.log(`tests/netns/harness_test.ts: skipped (${unavailable})`);

const options = { ignore: unavailable !== null, sanitizeOps: false, sanitizeResources: false };

async function namespaces(id: string): Promise<string[]> {
  const list = await run("ip", ["netns", "list"]);
  return list.split("\n").filter((line) => line.startsWith(`${namespacePrefix}${id}-`));
}

Deno.test({
  ...options,
  name: "NetCluster partitions, heals, pauses and fills a disk, and removes all it made",
  async fn() {
    const cluster = await NetCluster.start({ servers: 2, diskMb: { 1: 8 } });
    const id = cluster.network.id;
    try {
      assert.equal((await namespaces(id)).length, 3, "switch and two server hosts");
      const agent = await cluster.agent("c0");
      const [s0, s1] = cluster.servers as [typeof cluster.servers[0], typeof cluster.servers[0]];
      const added = await agent.value<string>({ op: "add", server: s0.id, name: "x", text: "one" });
      assert.equal(await agent.value({ op: "get", server: s1.id, hash: added }), "one");

      await cluster.network.isolate("c0");
      const cut = await agent.call({ op: "get", server: s0.id, hash: added }, 3_000);
      assert.equal(cut.ok, false);
      await cluster.network.heal();
      assert.equal(await agent.value({ op: "get", server: s0.id, hash: added }, 10_000), "one");

      // One way: c0's packets reach s0, s0's replies never come back.
      await cluster.network.block(["s0"], ["c0"]);
      const oneWay = await agent.call({ op: "info", server: s0.id }, 3_000);
      assert.equal(oneWay.ok, false);
      await cluster.network.heal();

      cluster.pause(0);
      const frozen = await agent.call({ op: "info", server: s0.id }, 2_000);
      assert.equal(frozen.ok, false);
      assert.equal(frozen.ok ? "" : frozen.error.kind, "timeout");
      cluster.resume(0);
      assert.ok(await agent.value({ op: "info", server: s0.id }, 10_000));

      const filled = await cluster.fillDisk(1);
      assert.ok(filled > 4 * 1024 * 1024, `filled ${filled} bytes of an 8 MB tmpfs`);
      await assert.rejects(Deno.writeTextFile(`${s1.dataDir}/more`, "x".repeat(65_536)));
      await cluster.freeDisk(1);
      await Deno.writeTextFile(`${s1.dataDir}/more`, "x".repeat(65_536));

      await cluster.kill(1);
      await cluster.restart(1);
      assert.equal(await agent.value({ op: "get", server: s1.id, hash: added }, 10_000), "one");
    } finally {
      await cluster.close();
    }
    assert.deepEqual(await namespaces(id), []);
    const mounts = await Deno.readTextFile("/proc/mounts");
    assert.ok(!mounts.includes(`cnx-${id}`), "the tmpfs is unmounted");
  },
});

Deno.test({
  ...options,
  name: "removeStaleNamespaces() removes only namespaces of its prefix older than the age given",
  async fn() {
    const prefix = `${namespacePrefix}stale${crypto.randomUUID().slice(0, 6)}-`;
    const other = `${namespacePrefix}other${crypto.randomUUID().slice(0, 6)}`;
    await run("ip", ["netns", "add", `${prefix}a`]);
    await run("ip", ["netns", "add", other]);
    try {
      assert.deepEqual(await removeStaleNamespaces({ prefix }), [], "younger than an hour: kept");
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(await removeStaleNamespaces({ prefix, maxAgeMs: 10 }), [`${prefix}a`]);
      const list = await run("ip", ["netns", "list"]);
      assert.ok(!list.includes(`${prefix}a`));
      assert.ok(list.includes(other), "another prefix is left alone");
    } finally {
      await run("ip", ["netns", "del", `${prefix}a`]).catch(() => {});
      await run("ip", ["netns", "del", other]).catch(() => {});
    }
  },
});
