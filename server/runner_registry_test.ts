import assert from "node:assert/strict";
import { ProtocolError } from "../protocol/message.ts";
import { fieldsOf, TestRing } from "./_test_ring.ts";
import { parseJsonField } from "./fan_out.ts";
import { parseRunnerRecord, type RunnerPage } from "./runner_registry.ts";

const record = (id: string, jobs: { hash: string; runningMs: number }[] = []) =>
  JSON.stringify({ id, host: "h", sandbox: "bwrap", lanes: 2, version: "0.1.0", pid: 9, jobs });

Deno.test("parseRunnerRecord() reads a runner's record and refuses a malformed one", () => {
  const parsed = parseRunnerRecord(record("r1", [{ hash: "0000000a", runningMs: 5 }]));
  assert.deepEqual(parsed.jobs, [{ hash: 10, runningMs: 5 }]);
  for (
    const bad of [
      "{",
      "[]",
      JSON.stringify({ id: "", host: "h", sandbox: "s", lanes: 1, version: "v", jobs: [] }),
      JSON.stringify({
        id: "x".repeat(200),
        host: "h",
        sandbox: "s",
        lanes: 1,
        version: "v",
        jobs: [],
      }),
      JSON.stringify({ id: "r", host: "h", sandbox: "s", lanes: -1, version: "v", jobs: [] }),
      JSON.stringify({
        id: "r",
        host: "h",
        sandbox: "s",
        lanes: 1,
        version: "v",
        jobs: [{ hash: "zz" }],
      }),
      JSON.stringify({ id: "r", host: "h", sandbox: "s", lanes: 1, version: "v" }),
    ]
  ) {
    assert.throws(
      () => parseRunnerRecord(bad),
      (error: unknown) => error instanceof ProtocolError && error.reason === "json",
      bad,
    );
  }
});

Deno.test("RunnerRegistry lists the runners every server heard from, each once", async () => {
  await using ring = await TestRing.start(3);
  const [a, b, c] = ring.servers;
  fieldsOf(
    await ring.call(a!, {
      command: "RUNR",
      record: record("r1", [{ hash: "00000001", runningMs: 10 }]),
    }),
  );
  fieldsOf(await ring.call(b!, { command: "RUNR", record: record("r2") }));
  // r1 moved to c (its server failed over): c heard from it last.
  await new Promise((resolve) => setTimeout(resolve, 20));
  fieldsOf(await ring.call(c!, { command: "RUNR", record: record("r1") }));
  const page = parseJsonField(
    fieldsOf(await ring.call(b!, { command: "RUNS", query: "" }))[0],
  ) as RunnerPage;
  assert.deepEqual(page.runners.map((r) => `${r.id}@${r.server}`), ["r1@s2:7002", "r2@s1:7001"]);
  assert.deepEqual(page.runners[0]!.jobs, []);
  assert.deepEqual(page.servers, { asked: 3, answered: 3, unreachable: [] });
  const bad = await ring.call(a!, { command: "RUNR", record: "{" });
  assert.equal(bad.ok ? "ack" : bad.reason, "json");
  ring.kill(c!);
  const partial = parseJsonField(
    fieldsOf(await ring.call(a!, { command: "RUNS", query: "" }))[0],
  ) as RunnerPage;
  assert.deepEqual(partial.servers.unreachable, ["s2:7002"]);
});
