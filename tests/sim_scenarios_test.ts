/**
 * Scripted simulations (tests/sim.ts): the in-memory world of
 * simulation_test.ts with the events of one bug chosen by hand, so that
 * the bug stays covered however the random workload evolves.
 */

import assert from "node:assert/strict";
import { jobIdentity, outputIdentity, saltOf } from "../protocol/digest.ts";
import { formatHash, objectHash, parseHash } from "../protocol/hash.ts";
import type { Reply } from "../protocol/message.ts";
import { isJob, type JobMeta, type StoredObject } from "../server/objects.ts";
import { createWorld, type SimServer, type World } from "./sim.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function ok(reply: Reply): readonly string[] {
  assert.ok(
    reply.ok,
    `expected ACK, got NACK:${reply.ok ? "" : `${reply.reason}:${reply.detail}`}`,
  );
  return reply.fields;
}

/** The lease token of a GETJ reply's fields (its last field, `lease=…`). */
function leaseOf(fields: readonly string[]): string {
  const last = fields[fields.length - 1] ?? "";
  assert.ok(last.startsWith("lease="), `no lease token in ${fields.join(":").slice(0, 60)}`);
  return last.slice("lease=".length);
}

/** The job metadata of a stored copy; fails the test when there is none or it is a file. */
function jobMeta(object: StoredObject | undefined): JobMeta {
  assert.ok(object && isJob(object), "expected a stored job");
  return object.meta;
}

/** Starts `count` servers, each joining through the first. */
async function ring(world: World, count: number): Promise<SimServer[]> {
  const servers = Array.from({ length: count }, () => world.cluster.create(4));
  for (const [i, server] of servers.entries()) {
    assert.ok(await world.cluster.start(server, i === 0 ? undefined : servers[0]));
  }
  return servers;
}

/** Submits a job named "job" with no inputs through `server`: its hash and its output's, as hex. */
async function submitJob(
  world: World,
  client: ReturnType<World["client"]>,
  server: SimServer,
  source: string,
): Promise<readonly string[]> {
  return ok(
    await world.call(client, server, {
      command: "JADD",
      name: "job",
      source: encoder.encode(source),
      outputName: "job.out",
      inputs: [],
    }),
  );
}

Deno.test("UPD: a late report read before a slow peer request does not replace the result accepted meanwhile", async () => {
  // Both ways round: whichever of the two reports ranks higher (result key).
  for (const [late, accepted] of [["A", "B"], ["B", "A"]] as const) {
    await lateReport(late, accepted);
  }
});

async function lateReport(late: string, accepted: string): Promise<void> {
  const world = createWorld(1, { replicas: 2, leaseMs: 1_000 });
  await world.run(async () => {
    const servers = await ring(world, 2);
    const client = world.client("client");
    const [jobHex, outputHex] = await submitJob(world, client, servers[0]!, "print(1)");
    const job = parseHash(jobHex!);
    const primary = servers.find((s) => s.node.ring.primary(job) === s.id)!;
    const replica = servers.find((s) => s !== primary)!;
    // A runner takes the job and outlives its lease.
    const lateLease = leaseOf(ok(await world.call(client, primary, { command: "GETJ" })));
    await world.scheduler.sleep(1_500);
    // Its (late) report: the primary reads its copy (leased, attempt 1),
    // asks the replica, and the reply is lost: the PULL waits for its timeout.
    let lost = false;
    world.network.conditions.lose = ({ from, request, reply }) => {
      if (lost || !reply || from !== replica.id) return false;
      if (request.command !== "PULL" || request.hash !== job || request.metaOnly) return false;
      return lost = true;
    };
    const lateReply = world.call(client, primary, {
      command: "UPD",
      hash: job,
      lease: lateLease,
      stdout: encoder.encode(late),
      stderr: encoder.encode(late),
      exitCode: 0,
    });
    lateReply.catch(() => {}); // awaited below
    await world.scheduler.sleep(100);
    // Meanwhile another runner takes attempt 2 and its report is accepted.
    const lease = leaseOf(ok(await world.call(client, primary, { command: "GETJ" })));
    ok(
      await world.call(client, primary, {
        command: "UPD",
        hash: job,
        lease,
        stdout: encoder.encode(accepted),
        stderr: encoder.encode(accepted),
        exitCode: 0,
      }),
    );
    const read = ok(
      await world.call(client, replica, { command: "GET", hash: parseHash(outputHex!) }),
    );
    assert.equal(decoder.decode(Uint8Array.fromBase64(read[0]!)), accepted);
    // The late report is acknowledged as a duplicate once its PULL times out.
    ok(await lateReply);
    assert.ok(lost);
    await world.scheduler.sleep(1_000);
    for (const server of servers) {
      const stored = server.store.get(job)!;
      const meta = jobMeta(stored);
      assert.equal(meta.state, "done");
      assert.equal(decoder.decode(Uint8Array.fromBase64(meta.stderr)), accepted, server.id);
      const output = server.store.get(parseHash(outputHex!))!;
      assert.equal(decoder.decode(output.data), accepted, `${server.id} ${formatHash(job)}`);
    }
  });
  assert.deepEqual(world.violations, []);
}

Deno.test("UPD: two results of one attempt, accepted on both sides of a partition, converge", async () => {
  const world = createWorld(2, { replicas: 2, leaseMs: 60_000 });
  await world.run(async () => {
    const servers = await ring(world, 2);
    const client = world.client("client");
    const [jobHex, outputHex] = await submitJob(world, client, servers[0]!, "print(2)");
    const job = parseHash(jobHex!);
    const output = parseHash(outputHex!);
    // Cut the two servers apart (clients reach both) until each has
    // declared the other dead and takes itself for the job's owner.
    world.network.conditions.isolated.add(servers[0]!.id);
    await world.scheduler.sleep(8_000);
    for (const server of servers) assert.deepEqual(server.node.ring.members, [server.id]);
    // One runner on each side leases attempt 1 and reports its own result.
    for (const [i, server] of servers.entries()) {
      const fields = ok(await world.call(client, server, { command: "GETJ" }));
      assert.equal(parseHash(fields[1]!), job);
      ok(
        await world.call(client, server, {
          command: "UPD",
          hash: job,
          lease: leaseOf(fields),
          stdout: encoder.encode(`side ${i}`),
          stderr: encoder.encode(`side ${i}`),
          exitCode: 0,
        }),
      );
    }
    world.network.conditions.isolated.clear();
    await world.scheduler.sleep(10_000);
    for (const server of servers) assert.equal(server.node.ring.members.length, 2);
    // One result on every copy, the job's and the output's the same.
    const jobs = servers.map((server) => server.store.get(job)!);
    const outputs = servers.map((server) => server.store.get(output)!);
    assert.deepEqual(jobs[0]!.meta, jobs[1]!.meta);
    assert.deepEqual(outputs[0]!.meta, outputs[1]!.meta);
    assert.equal(decoder.decode(outputs[0]!.data), decoder.decode(outputs[1]!.data));
    const stderr = decoder.decode(Uint8Array.fromBase64(jobMeta(jobs[0]).stderr));
    assert.equal(decoder.decode(outputs[0]!.data), stderr);
  });
  assert.deepEqual(world.violations, []);
});

Deno.test("UPD: a second report while the first is being stored is acknowledged once it is stored", async () => {
  const world = createWorld(3, { replicas: 2, leaseMs: 1_000 });
  await world.run(async () => {
    const servers = await ring(world, 2);
    const client = world.client("client");
    const [jobHex, outputHex] = await submitJob(world, client, servers[0]!, "print(3)");
    const job = parseHash(jobHex!);
    const output = parseHash(outputHex!);
    const primary = servers.find((s) => s.node.ring.primary(job) === s.id)!;
    // Two runners hold leases one after the other (the first one expired).
    const firstLease = leaseOf(ok(await world.call(client, primary, { command: "GETJ" })));
    await world.scheduler.sleep(1_500);
    const secondLease = leaseOf(ok(await world.call(client, primary, { command: "GETJ" })));
    // The second runner's report is slow to store: one copy of the output
    // is lost on the way and waits for its timeout.
    let lost = false;
    world.network.conditions.lose = ({ request, reply }) => {
      if (lost || reply || request.command !== "BADD" || request.name !== "job.out") return false;
      return lost = true;
    };
    const update = (text: string, lease: string) =>
      world.call(client, primary, {
        command: "UPD",
        hash: job,
        lease,
        stdout: encoder.encode(text),
        stderr: encoder.encode(text),
        exitCode: 0,
      });
    const second = update("second", secondLease);
    second.catch(() => {}); // awaited below; a failing assertion must not leave it unhandled
    await world.scheduler.sleep(500);
    // The first runner reports late: its report is a duplicate, to be
    // acknowledged only once the job's result is stored.
    ok(await update("first", firstLease));
    assert.ok(lost);
    for (const server of servers) {
      assert.equal(server.store.get(job)!.meta.state, "done", server.id);
      assert.equal(server.store.get(output)!.meta.state, "complete", server.id);
    }
    ok(await second);
  });
  assert.deepEqual(world.violations, []);
});

Deno.test("UPD: an output stored by a report whose server died before the job's copies stands", async () => {
  // Both ways round: whichever of the two reports ranks higher (result key).
  for (const [first, second] of [["A", "B"], ["B", "A"]] as const) {
    await outputBeforeDeath(first, second);
  }
});

async function outputBeforeDeath(first: string, second: string): Promise<void> {
  const world = createWorld(4, { replicas: 2, leaseMs: 2_000 });
  await world.run(async () => {
    const servers = await ring(world, 3);
    const client = world.client("client");
    const ringView = servers[0]!.node.ring;
    // A job whose owner does not keep its output.
    const submit = (name: string) => ({
      command: "JADD" as const,
      name,
      source: encoder.encode("print(4)"),
      outputName: `${name}.out`,
      inputs: [] as number[],
    });
    const name = Array.from({ length: 50 }, (_, i) => `job${i}`).find((name) => {
      const id = jobIdentity(submit(name));
      const job = objectHash(name, saltOf(id));
      const output = objectHash(`${name}.out`, saltOf(outputIdentity(id)));
      return !ringView.owners(output, 2).includes(ringView.primary(job)!);
    })!;
    const [jobHex, outputHex] = ok(await world.call(client, servers[0]!, submit(name)));
    const job = parseHash(jobHex!);
    const output = parseHash(outputHex!);
    const primary = servers.find((s) => s.id === ringView.primary(job))!;
    const [, outputReplica] = ringView.owners(output, 2);
    const firstLease = leaseOf(ok(await world.call(client, primary, { command: "GETJ" })));
    // The first report: the output reaches its first owner, its copy to the
    // second is lost (a 10 s timeout), and the job's owner dies meanwhile.
    let lost = false;
    world.network.conditions.lose = ({ to, request, reply }) => {
      if (lost || reply || to !== outputReplica || request.command !== "BADD") return false;
      return lost = request.name === `${name}.out`;
    };
    const report = (server: SimServer, text: string, lease: string) =>
      world.call(client, server, {
        command: "UPD",
        hash: job,
        lease,
        stdout: encoder.encode(text),
        stderr: encoder.encode(text),
        exitCode: 0,
      });
    report(primary, first, firstLease).catch(() => {}); // its server dies before answering
    await world.scheduler.sleep(1_000);
    assert.ok(lost);
    world.cluster.kill(primary);
    const live = servers.filter((s) => s !== primary);
    // Readers see the first report's output.
    const read = ok(await world.call(client, live[0]!, { command: "GET", hash: output }));
    assert.equal(decoder.decode(Uint8Array.fromBase64(read[0]!)), first);
    // Once the lease expires another runner takes the job and reports.
    await world.scheduler.sleep(3_000);
    const owner = live.find((s) => s.node.ring.primary(job) === s.id)!;
    const fields = ok(await world.call(client, owner, { command: "GETJ" }));
    assert.equal(parseHash(fields[1]!), job);
    ok(await report(owner, second, leaseOf(fields)));
    await world.scheduler.sleep(5_000);
    // The output that readers saw stands, and the job agrees with it.
    for (const server of live) {
      const jobCopy = server.store.get(job);
      const stored = server.store.get(output);
      if (!jobCopy || !stored) continue;
      const meta = jobMeta(jobCopy);
      assert.equal(meta.state, "done", server.id);
      assert.equal(decoder.decode(stored.data), first, server.id);
      assert.equal(stored.meta.kind === "file" && stored.meta.resultKey, meta.resultKey);
    }
  });
  assert.deepEqual(world.violations, []);
}

Deno.test("membership: a server cut off from the ring declares nobody dead; the others declare only it", async () => {
  const world = createWorld(7, { replicas: 2, leaseMs: 10_000 });
  await world.run(async () => {
    const servers = await ring(world, 4);
    await world.scheduler.sleep(2_000);
    const [cut, ...others] = servers as [SimServer, ...SimServer[]];
    world.network.conditions.isolated = new Set([cut.id]);
    await world.scheduler.sleep(8_000);
    const seenByCut = cut.node.info().members as { id: string; alive: boolean }[];
    assert.deepEqual(
      seenByCut.filter((member) => !member.alive).map((member) => member.id),
      [],
      "the cut-off server keeps the others alive (none of its helpers answered)",
    );
    for (const server of others) {
      const dead = (server.node.info().members as { id: string; alive: boolean }[])
        .filter((member) => !member.alive).map((member) => member.id);
      assert.deepEqual(dead, [cut.id], `${server.id} declares only the cut-off server dead`);
    }
    world.network.conditions.isolated = new Set();
    await world.scheduler.sleep(10_000);
    for (const server of servers) {
      assert.deepEqual(
        (server.node.info().ring as string[]).length,
        4,
        `${server.id} sees all four again`,
      );
    }
  });
  assert.deepEqual(world.violations, []);
});

Deno.test("GETJ: a lease whose copy cannot reach a replica is not handed out, and the job stays leasable", async () => {
  const world = createWorld(2, { replicas: 2, leaseMs: 60_000 });
  await world.run(async () => {
    const servers = await ring(world, 3);
    const client = world.client("client");
    const [jobHex] = await submitJob(world, client, servers[0]!, "print(1)");
    const job = parseHash(jobHex!);
    const [primary, replica] = servers[0]!.node.ring.owners(job, 2).map((id) =>
      servers.find((s) => s.id === id)!
    );
    // Every copy of the job to the replica is lost on the way; the replica
    // itself stays reachable (its heartbeats get through), so nobody
    // declares it dead and it stays an owner.
    world.network.conditions.lose = ({ from, to, request }) =>
      from === primary!.id && to === replica!.id && request.command === "BADD" &&
      objectHash(request.name, request.salt) === job;
    // (The primary tries the copy for a while: a lost request waits for its timeout.)
    const reply = await world.call(client, primary!, { command: "GETJ" }, 300_000);
    assert.ok(
      primary!.node.ring.owners(job, 2).includes(replica!.id),
      "the replica is still an owner",
    );
    assert.equal(reply.ok, false, "no lease only the primary knows of");
    const stored = jobMeta(primary!.store.get(job));
    assert.equal(stored.state, "released", "given back at once, not held until the lease ends");
    assert.equal(stored.lost, 0);
    // Once copies get through again, the job is handed out.
    world.network.conditions.lose = undefined;
    const taken = ok(await world.call(client, primary!, { command: "GETJ" }));
    assert.equal(taken[1], jobHex);
    assert.equal(jobMeta(replica!.store.get(job)).state, "leased");
  });
});
