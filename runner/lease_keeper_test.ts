import assert from "node:assert/strict";
import type { Reply, Request } from "../protocol/message.ts";
import { LeaseKeeper } from "./lease_keeper.ts";

const token = "0123456789abcdef0123456789abcdef";

/** A transport answering RNEW with `answer(leases)`; records what it was sent. */
function transport(answer: (count: number) => Reply | Error) {
  const sent: Request[] = [];
  return {
    sent,
    request(request: Request): Promise<Reply> {
      sent.push(request);
      const count = request.command === "RNEW" ? request.leases.length : 0;
      const reply = answer(count);
      return reply instanceof Error ? Promise.reject(reply) : Promise.resolve(reply);
    },
  };
}

const ack = (...fields: string[]): Reply => ({ ok: true, fields });

Deno.test("LeaseKeeper renews every held lease in one RNEW and learns the lease length", async () => {
  const wire = transport((count) => ack("1500", ...Array(count).fill("ok")));
  const keeper = new LeaseKeeper(wire, { leaseMs: 9_000 });
  const a = keeper.hold(1, token);
  const b = keeper.hold(2, token);
  keeper.hold(3, undefined); // no token: nothing to renew
  assert.equal(keeper.intervalMs, 1_000, "at most a second, for cancels");
  await keeper.tick();
  assert.deepEqual(wire.sent, [{
    command: "RNEW",
    leases: [{ hash: 1, lease: token }, { hash: 2, lease: token }],
  }]);
  assert.equal(keeper.intervalMs, 500, "a third of the lease the server gave");
  assert.equal(a.stopped, null);
  b.release();
  await keeper.tick();
  assert.deepEqual(wire.sent[1], { command: "RNEW", leases: [{ hash: 1, lease: token }] });
});

Deno.test("LeaseKeeper stops a job whose lease is lost or that was cancelled", async () => {
  const wire = transport(() => ack("3000", "ok", "lost", "cancelled", "unknown"));
  const keeper = new LeaseKeeper(wire);
  const jobs = [1, 2, 3, 4].map((hash) => keeper.hold(hash, token));
  await keeper.tick();
  assert.deepEqual(jobs.map((job) => job.stopped), [null, "lost", "cancelled", null]);
  assert.deepEqual(jobs.map((job) => job.signal.aborted), [false, true, true, false]);
});

Deno.test("LeaseKeeper stops a job it could not renew for a whole lease", async () => {
  let nowMs = 0;
  const wire = transport(() => new Error("connection refused"));
  const keeper = new LeaseKeeper(wire, { leaseMs: 1_000, now: () => nowMs });
  const job = keeper.hold(1, token);
  nowMs = 900;
  await keeper.tick();
  assert.equal(job.stopped, null, "within the lease");
  nowMs = 1_001;
  await keeper.tick();
  assert.equal(job.stopped, "lost");
});

Deno.test("LeaseKeeper gives up on a server that does not know RNEW, stopping nothing", async () => {
  let nowMs = 0;
  const wire = transport(() => ({ ok: false, reason: "unknown-command", detail: "RNEW" }));
  const keeper = new LeaseKeeper(wire, { leaseMs: 1_000, now: () => nowMs });
  const job = keeper.hold(1, token);
  nowMs = 5_000;
  await keeper.tick();
  assert.equal(job.stopped, null);
  const stop = new AbortController();
  await keeper.run(stop.signal); // returns at once: nothing to renew with
  assert.equal(wire.sent.length, 1);
});
