import assert from "node:assert/strict";
import { Node, type RequestEvent } from "./node.ts";
import { Store } from "./store.ts";
import { fieldsOf, TestRing } from "./_test_ring.ts";

const encoder = new TextEncoder();

Deno.test("Node.handle() serves a file round trip through its dispatch table", async () => {
  await using ring = await TestRing.start(1);
  const server = ring.servers[0]!;
  const [hash] = fieldsOf(
    await ring.call(server, { command: "ADD", name: "a", data: encoder.encode("x") }),
  );
  const [data] = fieldsOf(await ring.call(server, { command: "GET", hash: parseInt(hash!, 16) }));
  assert.equal(data, encoder.encode("x").toBase64());
  assert.ok(fieldsOf(await ring.call(server, { command: "STOP" })));
});

Deno.test("Node.handle() answers a malformed manifest with its NACK, not an exception", async () => {
  await using ring = await TestRing.start(1);
  // Straight to the node: the wire parser would refuse this manifest before.
  const reply = await ring.servers[0]!.node.handle({
    command: "MADD",
    name: "big",
    manifest: encoder.encode("not a manifest"),
  }, { peer: null });
  assert.equal(reply.ok, false);
  assert.ok(!reply.ok && reply.reason === "manifest", JSON.stringify(reply));
});

Deno.test("Node.handle() turns an unexpected error into NACK:internal and logs it", async () => {
  class FailingStore extends Store {
    override durable(): Promise<void> {
      return Promise.reject(new Error("disk on fire"));
    }
  }
  const logged: string[] = [];
  const store = new FailingStore(":memory:");
  const node = new Node({
    host: "h",
    port: 1,
    store,
    replicas: 1,
    vnodes: 2,
    leaseMs: 1_000,
    heartbeatMs: 60_000,
    log: (message) => logged.push(message),
  });
  try {
    const reply = await node.handle({ command: "GETS" }, { peer: null });
    assert.deepEqual(reply, { ok: false, reason: "internal", detail: "disk on fire" });
    assert.ok(logged.some((line) => line.startsWith("internal error on GETS")), logged.join());
  } finally {
    node.stop();
    store.close();
  }
});

Deno.test("Node observe is told of every request served, and what it throws is only logged", async () => {
  const events: RequestEvent[] = [];
  const logged: string[] = [];
  await using ring = await TestRing.start(2, {
    node: {
      observe: (event) => {
        events.push(event);
        if (event.command === "STAT") throw new Error("observer broke");
      },
      log: (message) => logged.push(message),
    },
  });
  const server = ring.servers[0]!;
  const before = events.length;
  fieldsOf(await ring.call(server, { command: "ADD", name: "a", data: encoder.encode("x") }));
  const missing = await ring.call(server, { command: "STAT", hash: 0x1234 });
  assert.equal(missing.ok, false);
  const mine = events.slice(before).filter((event) => !event.fromPeer);
  assert.deepEqual(mine.map((e) => [e.command, e.ok, e.reason]), [
    ["ADD", true, ""],
    ["STAT", false, "not-found"],
  ]);
  // The ADD's copy reached the other server as a peer's BADD.
  assert.ok(events.some((e) => e.command === "BADD" && e.fromPeer && e.ok));
  assert.ok(logged.some((line) => line.includes("request observer failed: observer broke")));
});

Deno.test("Node.stop() ends a WAIT that waits here", async () => {
  await using ring = await TestRing.start(1);
  const server = ring.servers[0]!;
  const [, output] = fieldsOf(
    await ring.call(server, {
      command: "JADD",
      name: "job",
      source: encoder.encode("print(1)"),
      outputName: "out",
      inputs: [],
    }),
  );
  const waiting = ring.call(server, {
    command: "WAIT",
    hash: parseInt(output!, 16),
    timeoutMs: 60_000,
  });
  await new Promise((resolve) => setTimeout(resolve, 20));
  const started = performance.now();
  server.node.stop();
  assert.deepEqual(fieldsOf(await waiting), ["incomplete"]);
  assert.ok(performance.now() - started < 5_000);
});

Deno.test("Node.info() tells replicas, positions, open jobs and the ring", async () => {
  await using ring = await TestRing.start(2, { vnodes: 3 });
  const server = ring.servers[0]!;
  fieldsOf(
    await ring.call(server, {
      command: "JADD",
      name: "job",
      source: encoder.encode("print(1)"),
      outputName: "out",
      inputs: [],
    }),
  );
  const infos = ring.servers.map((s) => s.node.info());
  for (const info of infos) {
    assert.equal(info.replicas, 2);
    assert.equal((info.positions as string[]).length, 3);
    assert.deepEqual(info.ring, ["s0:7000", "s1:7001"]);
    assert.equal(info.reconciling, false);
  }
  // Two copies of the job, one per server (two servers, two copies).
  assert.deepEqual(infos.map((info) => info.openJobs), [1, 1]);
});

Deno.test("Node.start() refuses to join a ring that keeps another number of copies", async () => {
  await using ring = await TestRing.start(1, { replicas: 2 });
  const store = new Store(":memory:");
  const first = ring.servers[0]!;
  const node = new Node({
    host: "late",
    port: 9,
    store,
    replicas: 3,
    vnodes: 2,
    leaseMs: 1_000,
    heartbeatMs: 60_000,
    join: { host: "s0", port: 7000 },
    transport: {
      request: (_, request) => first.node.handle(request, { peer: "late:9" }),
      forget: () => {},
      close: () => {},
    },
  });
  try {
    await assert.rejects(node.start(), /keeps 2 copies.*--replicas 3; start it with --replicas 2/);
  } finally {
    node.stop();
    store.close();
  }
});
