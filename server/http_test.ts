import assert from "node:assert/strict";
import { TestRing } from "./_test_ring.ts";
import { isLoopback, startHttp } from "./http.ts";
import { keyspaceShares, ringView } from "./http_ring.ts";
import { RequestMetrics } from "./metrics_server.ts";
import { Ring } from "../protocol/ring.ts";

Deno.test("isLoopback() tells loopback addresses from the others", () => {
  for (const host of ["127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost"]) {
    assert.ok(isLoopback(host), host);
  }
  for (const host of ["0.0.0.0", "::", "10.0.0.1", "example.com"]) {
    assert.ok(!isLoopback(host), host);
  }
});

Deno.test("startHttp() refuses a non-loopback address without authentication, serves loopback", async () => {
  await using ring = await TestRing.start(1);
  const base = {
    port: 0,
    node: ring.servers[0]!.node,
    metrics: new RequestMetrics(),
    connections: () => 0,
  };
  assert.throws(() => startHttp({ ...base, hostname: "0.0.0.0" }), /loopback only/);
  const http = startHttp({ ...base, hostname: "127.0.0.1" });
  try {
    const response = await fetch(`http://${http.address}/healthz`);
    assert.deepEqual(await response.json(), { status: "ok", id: "s0:7000" });
    const metrics = await fetch(`http://${http.address}/metrics`);
    assert.match(metrics.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    await metrics.body?.cancel();
  } finally {
    await http.close();
  }
  // With an authorize function, any address may be served (refused here: no credential).
  const open = startHttp({ ...base, hostname: "0.0.0.0", authorize: () => false });
  try {
    const response = await fetch(`http://127.0.0.1:${open.port}/api/ring`);
    assert.equal(response.status, 401);
    await response.body?.cancel();
  } finally {
    await open.close();
  }
});

Deno.test("keyspaceShares() splits the whole keyspace among the members", () => {
  const ring = new Ring([{ id: "a:1", salts: [0, 1, 2] }, { id: "b:1", salts: [0] }]);
  const shares = keyspaceShares(ring);
  assert.ok(Math.abs((shares.get("a:1") ?? 0) + (shares.get("b:1") ?? 0) - 1) < 1e-12);
  assert.equal(keyspaceShares(new Ring([{ id: "a:1", salts: [5] }])).get("a:1"), 1);
});

Deno.test("ringView() calls a member suspect when it does not answer or a peer suspects it", () => {
  const ring = new Ring([{ id: "a:1", salts: [0] }, { id: "b:1", salts: [0] }, {
    id: "c:1",
    salts: [0],
  }]);
  const table = ["a:1", "b:1", "c:1", "d:1"].map((id) => ({
    id,
    incarnation: 1,
    alive: id !== "d:1",
    vnodes: 1,
  }));
  const view = ringView(
    table,
    new Map<string, Error | { id: string; suspects?: string[]; heard?: Record<string, number> }>([
      ["a:1", { id: "a:1", suspects: ["b:1"], heard: { "b:1": 100, "c:1": 200 } }],
      ["b:1", { id: "b:1", heard: { "a:1": 50 } }],
      ["c:1", new Error("timed out")],
    ]),
    ring,
  );
  assert.deepEqual(view.map((m) => `${m.id} ${m.state}`), [
    "a:1 alive",
    "b:1 suspect",
    "c:1 suspect",
    "d:1 dead",
  ]);
  assert.deepEqual(view.map((m) => m.lastHeardMs), [50, 100, 200, null]);
  assert.equal(view[2]!.error, "timed out");
  assert.equal(view[3]!.share, 0);
});
