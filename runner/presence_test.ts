import assert from "node:assert/strict";
import { ack, nack, type Reply, type Request } from "../protocol/message.ts";
import { Presence, type PresenceTransport } from "./presence.ts";

const identity = { id: "r1", host: "h", sandbox: "bwrap", lanes: 2, version: "0.1.0", pid: 7 };
const decoder = new TextDecoder();

function recording(answer: (request: Request) => Reply = () => ack()) {
  const sent: Request[] = [];
  const transport: PresenceTransport = {
    request: (request) => {
      sent.push(request);
      return Promise.resolve(answer(request));
    },
  };
  return { sent, transport };
}

Deno.test("Presence announces the runner and the jobs it holds, and again when they change", async () => {
  const { sent, transport } = recording();
  const clock = { now: 0 };
  const presence = new Presence(transport, identity, { now: () => clock.now, announceMs: 2_000 });
  await presence.tick();
  assert.deepEqual(JSON.parse((sent[0] as { record: string }).record), { ...identity, jobs: [] });
  await presence.tick();
  assert.equal(sent.length, 1, "nothing new, not due: no announcement");
  const job = presence.hold(0xa);
  clock.now = 1_500;
  await presence.tick();
  assert.deepEqual(JSON.parse((sent[1] as { record: string }).record).jobs, [
    { hash: "0000000a", runningMs: 1_500 },
  ]);
  clock.now = 4_000;
  await presence.tick();
  assert.equal(sent.length, 3, "due again after announceMs");
  job.release();
  await presence.tick();
  assert.deepEqual(JSON.parse((sent[3] as { record: string }).record).jobs, []);
});

Deno.test("Presence sends a running job's stderr so far when it grew", async () => {
  const { sent, transport } = recording();
  const presence = new Presence(transport, identity, { announceMs: 1e9 });
  await presence.tick();
  const job = presence.hold(5);
  await presence.tick();
  const progress = () => sent.filter((r) => r.command === "PROG") as { stderr: Uint8Array }[];
  assert.equal(progress().length, 0, "no stderr yet: nothing sent");
  job.stderr(new TextEncoder().encode("tick 1\n"));
  job.stderr(new TextEncoder().encode("tick 2\n"));
  await presence.tick();
  await presence.tick();
  assert.deepEqual(progress().map((r) => decoder.decode(r.stderr)), ["tick 1\ntick 2\n"]);
});

Deno.test("Presence stops asking a server that does not know its commands", async () => {
  const { sent, transport } = recording(() => nack("unknown-command", "Unknown command"));
  const lines: string[] = [];
  const presence = new Presence(transport, identity, { announceMs: 0, log: (l) => lines.push(l) });
  presence.hold(1).stderr(new Uint8Array([65]));
  await presence.tick();
  await presence.tick();
  assert.deepEqual(sent.map((r) => r.command), ["PROG", "RUNR"]);
  assert.match(lines[0]!, /does not know RUNR/);
});

Deno.test("Presence.run() ends with an announcement that the runner holds nothing", async () => {
  const { sent, transport } = recording();
  const presence = new Presence(transport, identity, { progressMs: 10 });
  presence.hold(3);
  const stop = new AbortController();
  const running = presence.run(stop.signal);
  await new Promise((resolve) => setTimeout(resolve, 30));
  stop.abort();
  await running;
  const last = sent.at(-1) as { command: string; record: string };
  assert.equal(last.command, "RUNR");
  assert.deepEqual(JSON.parse(last.record).jobs, []);
});
