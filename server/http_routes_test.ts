import assert from "node:assert/strict";
import { formatHash } from "../protocol/hash.ts";
import { addFile, addJob, fieldsOf, takeJob, TestRing } from "./_test_ring.ts";
import { parsePrometheus, sampleSum, sampleValue } from "./_test_prometheus.ts";
import { httpHandler } from "./http_routes.ts";
import { RequestMetrics } from "./metrics_server.ts";

const encoder = new TextEncoder();

async function eventuallyAsync(check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error("Condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function setUp(authorize?: (request: Request) => boolean, replicas = 2) {
  const metrics = new RequestMetrics();
  const ring = await TestRing.start(3, { replicas, node: { observe: metrics.observe } });
  const fetch = httpHandler({
    node: ring.servers[0]!.node,
    metrics,
    connections: () => 7,
    ...(authorize ? { authorize } : {}),
  });
  const get = async (path: string, init?: RequestInit) => {
    const response = await fetch(new Request(`http://127.0.0.1${path}`, init));
    const type = response.headers.get("content-type") ?? "";
    const body = type.startsWith("application/json")
      ? await response.json()
      : await response.text();
    return { status: response.status, headers: response.headers, body };
  };
  return { ring, get, metrics };
}

Deno.test("httpHandler() serves the page, its files and health without a credential", async () => {
  const { ring, get } = await setUp(() => false);
  await using _ = ring;
  const page = await get("/");
  assert.equal(page.status, 200);
  assert.match(page.body, /<script src="\/dashboard.js" defer><\/script>/);
  assert.match(page.headers.get("content-security-policy")!, /script-src 'self'/);
  assert.match((await get("/dashboard.js")).body, /setInterval/);
  assert.deepEqual((await get("/healthz")).body, { status: "ok", id: "s0:7000" });
  const refused = await get("/api/ring");
  assert.equal(refused.status, 401);
  assert.equal(refused.headers.get("www-authenticate"), 'Bearer realm="cloud"');
  assert.equal((await get("/metrics")).status, 401);
  assert.equal((await get("/api/ring", { method: "POST" })).status, 405);
});

Deno.test("httpHandler() passes authorize() a request with its bearer token", async () => {
  const { ring, get } = await setUp((request) =>
    request.headers.get("authorization") === "Bearer client:secret"
  );
  await using _ = ring;
  assert.equal((await get("/api/ring")).status, 401);
  const allowed = await get("/api/ring", { headers: { authorization: "Bearer client:secret" } });
  assert.equal(allowed.status, 200);
});

Deno.test("/metrics parses as Prometheus text and its counters move as work is done", async () => {
  // Three copies on three servers: the server asked holds everything.
  const { ring, get } = await setUp(undefined, 3);
  await using _ = ring;
  const before = parsePrometheus((await get("/metrics")).body);
  const adds = sampleValue(before, "cloud_requests_total", { command: "ADD", outcome: "ack" }) ?? 0;
  const file = await addFile(ring, ring.servers[0]!, "a", "hello");
  fieldsOf(await ring.call(ring.servers[0]!, { command: "GET", hash: file }));
  await ring.call(ring.servers[0]!, { command: "GET", hash: (file + 1) >>> 0 });
  const { job } = await addJob(ring, ring.servers[1]!, "j");
  const { lease } = await takeJob(ring, ring.servers[1]!);
  fieldsOf(
    await ring.call(ring.servers[2]!, {
      command: "UPD",
      lease,
      hash: job,
      stdout: encoder.encode("out"),
      exitCode: 0,
    }),
  );
  // Object counts may be 5 s old (inspectionCountsMaxAgeMs); INFO without an age counts afresh.
  ring.servers[0]!.node.info();
  const after = parsePrometheus((await get("/metrics")).body);
  assert.equal(
    sampleValue(after, "cloud_requests_total", { command: "ADD", outcome: "ack" }),
    adds + 1,
  );
  assert.ok(
    sampleValue(after, "cloud_requests_total", { command: "GET", outcome: "not-found" })! >= 1,
  );
  assert.ok(sampleValue(after, "cloud_request_duration_seconds_count", { command: "GET" })! >= 2);
  for (
    const name of [
      "cloud_objects",
      "cloud_store_bytes",
      "cloud_jobs",
      "cloud_jobs_finished_total",
      "cloud_job_duration_seconds",
      "cloud_ring_members",
      "cloud_repair_copies_total",
      "cloud_under_replicated_objects",
      "cloud_connections",
    ]
  ) assert.ok(after.types.has(name), name);
  assert.equal(after.types.get("cloud_request_duration_seconds"), "histogram");
  assert.equal(sampleValue(after, "cloud_connections"), 7);
  assert.equal(sampleValue(after, "cloud_ring_members", { state: "alive" }), 3);
  assert.ok(sampleSum(after, "cloud_objects") >= 1);
  // Server 0 may or may not be the job's primary; the ring's three /metrics would sum to 1.
  assert.ok(sampleSum(after, "cloud_jobs_finished_total") <= 1);
});

Deno.test("/api/ring shows every member, its share of the keyspace and what it holds", async () => {
  const { ring, get } = await setUp();
  await using _ = ring;
  for (let i = 0; i < 9; i++) await addFile(ring, ring.servers[i % 3]!, `f${i}`, `${i}`);
  const view = (await get("/api/ring")).body;
  assert.deepEqual(view.members.map((m: { id: string; state: string }) => `${m.id} ${m.state}`), [
    "s0:7000 alive",
    "s1:7001 alive",
    "s2:7002 alive",
  ]);
  const share = view.members.reduce((sum: number, m: { share: number }) => sum + m.share, 0);
  assert.ok(Math.abs(share - 1) < 1e-9);
  assert.equal(view.totals.objects, 9);
  ring.kill(ring.servers[2]!);
  const after = (await get("/api/ring")).body;
  const gone = after.members.find((m: { id: string }) => m.id === "s2:7002");
  assert.notEqual(gone.state, "alive");
  assert.ok(gone.error);
});

Deno.test("/api/jobs lists jobs with their runner and failure; /api/jobs/<hash> shows the DAG", async () => {
  const { ring, get } = await setUp();
  await using _ = ring;
  const data = await addFile(ring, ring.servers[0]!, "data", "1 2 3");
  const first = await addJob(ring, ring.servers[0]!, "first", { inputs: [data] });
  const second = await addJob(ring, ring.servers[1]!, "second", { inputs: [first.output] });
  const taken = await takeJob(ring, ring.servers[2]!);
  assert.equal(taken.fields[1], formatHash(first.job));
  fieldsOf(
    await ring.call(ring.servers[1]!, {
      command: "RUNR",
      record: JSON.stringify({
        id: "r1",
        host: "h",
        sandbox: "bwrap",
        lanes: 1,
        version: "0.1.0",
        jobs: [{ hash: formatHash(first.job), runningMs: 3 }],
      }),
    }),
  );
  const running = (await get("/api/jobs?state=leased")).body;
  assert.deepEqual(
    running.jobs.map((j: { name: string; runner: string }) => `${j.name} ${j.runner}`),
    [
      "first r1",
    ],
  );
  fieldsOf(
    await ring.call(ring.servers[0]!, {
      command: "UPD",
      hash: first.job,
      lease: taken.lease,
      stdout: new Uint8Array(0),
      stderr: encoder.encode("Traceback: boom\n"),
      exitCode: 1,
      reason: "exception",
      detail: "ValueError: boom",
    }),
  );
  // The dependent fails by the cascade, when a runner next asks for work.
  await eventuallyAsync(async () => {
    for (const server of ring.servers) await ring.call(server, { command: "GETJ" });
    return (await get("/api/jobs?state=failed")).body.jobs.length === 2;
  });
  const failed = (await get("/api/jobs?state=failed")).body;
  assert.deepEqual(
    failed.jobs.map((j: { name: string; reason: string }) => `${j.name} ${j.reason}`).sort(),
    [
      "first exception",
      "second input-failed",
    ],
  );
  assert.equal(failed.counts.failed, 2);
  const page = (await get(`/api/jobs/${formatHash(first.job)}`)).body;
  assert.equal(new TextDecoder().decode(Uint8Array.fromBase64(page.stderr)), "Traceback: boom\n");
  assert.deepEqual(
    page.inputFiles.map((f: { name: string; state: string }) => `${f.name} ${f.state}`),
    [
      "data complete",
    ],
  );
  assert.equal(page.outputFile.state, "failed");
  assert.deepEqual(
    page.dependents.map((d: { hash: string; state: string }) => `${d.hash} ${d.state}`),
    [
      `${formatHash(second.job)} failed`,
    ],
  );
  const file = (await get(`/api/objects/${formatHash(data)}`)).body;
  assert.equal(file.preview.text, "1 2 3");
  assert.deepEqual(file.dependents.map((d: { name: string }) => d.name), ["first"]);
  assert.equal((await get("/api/jobs/0000abcd")).status, 404);
  assert.equal((await get("/api/jobs?limit=0")).status, 400);
  assert.equal((await get("/api/nothing")).status, 404);
});

Deno.test("httpHandler() answers 503 on every route while the server starts", async () => {
  await using ring = await TestRing.start(1);
  let ready = false;
  const fetch = httpHandler({
    node: ring.servers[0]!.node,
    metrics: new RequestMetrics(),
    connections: () => 0,
    ready: () => ready,
  });
  for (const path of ["/healthz", "/api/ring", "/metrics"]) {
    const response = await fetch(new Request(`http://127.0.0.1${path}`));
    assert.equal(response.status, 503, path);
    assert.equal((await response.json()).status, "starting");
  }
  ready = true;
  assert.equal((await fetch(new Request("http://127.0.0.1/healthz"))).status, 200);
});
