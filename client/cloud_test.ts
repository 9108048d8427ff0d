import assert from "node:assert/strict";
import { inlineBytesMax } from "../limits.ts";
import { CloudError, ComputeCloud, type LeasedJob } from "./cloud.ts";
import { ring } from "./_test_servers.ts";

const encoder = new TextEncoder();

async function leaseOne(cloud: ComputeCloud): Promise<LeasedJob> {
  const taken = await cloud.takeJob();
  assert.ok(typeof taken === "object", `expected a job, got ${taken}`);
  return taken;
}

Deno.test("ComputeCloud.takeJob() and reportJob() run a job's round: the output is the report's stdout", async () => {
  await using r = await ring(2);
  const cloud = await ComputeCloud.connect("127.0.0.1", r.servers[0]!.port);
  try {
    const input = await cloud.addString("in", "data");
    const [job, output] = await cloud.addJob("job", "print(1)", "out", [input]);
    const leased = await leaseOne(cloud);
    assert.equal(leased.hash, job.hash);
    assert.equal(leased.hashValue, job.hashValue);
    assert.match(leased.lease ?? "", /^[0-9a-f]{32}$/, "the job comes with its lease token");
    assert.deepEqual(leased.inputs, [{ hash: input.hash, name: "in" }]);
    await cloud.reportJob(leased, {
      stdoutBytes: 3,
      stdout: encoder.encode("42\n"),
      stderr: encoder.encode("warning\n"),
      exitCode: 0,
      reason: null,
      detail: "",
    });
    assert.equal(await output.text(), "42\n");
    assert.equal(await job.text(), "warning\n");
    assert.equal(await cloud.takeJob(), "none");
  } finally {
    cloud.close();
  }
});

Deno.test("ComputeCloud.reportJob() stores a large stdout from its file as chunks", async () => {
  await using r = await ring(2);
  const cloud = await ComputeCloud.connect("127.0.0.1", r.servers[1]!.port);
  const path = await Deno.makeTempFile();
  try {
    const content = new Uint8Array(inlineBytesMax * 2 + 17).map((_, i) => i % 251);
    await Deno.writeFile(path, content);
    const [, output] = await cloud.addJob("big", "print(2)", "big.out");
    const leased = await leaseOne(cloud);
    await cloud.reportJob(leased, {
      stdoutBytes: content.length,
      stdoutPath: path,
      stderr: new Uint8Array(),
      exitCode: 0,
      reason: null,
      detail: "",
    });
    const status = await output.status();
    assert.equal(status.chunked, true);
    assert.deepEqual(await output.get(), content);
  } finally {
    cloud.close();
    await Deno.remove(path);
  }
});

Deno.test("ComputeCloud.reportJob() of a failure fails the output with the reason and detail", async () => {
  await using r = await ring(1);
  const cloud = await ComputeCloud.connect("127.0.0.1", r.servers[0]!.port);
  try {
    const [job, output] = await cloud.addJob("fails", "1/0", "fails.out");
    const leased = await leaseOne(cloud);
    await cloud.reportJob(leased, {
      stdoutBytes: 5,
      stdout: encoder.encode("ignored"),
      stderr: encoder.encode("Traceback…"),
      exitCode: 1,
      reason: "exception",
      detail: "ZeroDivisionError: division by zero\nsecond line",
    });
    await assert.rejects(output.get(), (error: CloudError) => {
      assert.equal(error.reason, "failed");
      assert.match(
        error.message,
        /failed \(exception\): ZeroDivisionError: division by zero second/,
      );
      return true;
    });
    assert.equal((await job.status()).state, "failed");
  } finally {
    cloud.close();
  }
});

Deno.test("ComputeCloud.releaseJob() gives a job back: the next takeJob gets it again", async () => {
  await using r = await ring(2);
  const cloud = await ComputeCloud.connect("127.0.0.1", r.servers[0]!.port);
  try {
    const [job] = await cloud.addJob("again", "print(3)", "again.out");
    const first = await leaseOne(cloud);
    assert.equal(await cloud.takeJob(), "wait");
    await cloud.releaseJob(first);
    assert.equal((await leaseOne(cloud)).hashValue, job.hashValue);
    await assert.rejects(
      cloud.releaseJob(0x1234),
      (error: CloudError) => error.reason === "not-found",
    );
  } finally {
    cloud.close();
  }
});

Deno.test("ComputeCloud.reportJob() and releaseJob() without the lease token are refused", async () => {
  await using r = await ring(2);
  const cloud = await ComputeCloud.connect("127.0.0.1", r.servers[0]!.port);
  const other = await ComputeCloud.connect("127.0.0.1", r.servers[1]!.port);
  try {
    const [job, output] = await cloud.addJob("mine", "print(4)", "mine.out");
    const leased = await leaseOne(cloud);
    const forged = { stdoutBytes: 6, stdout: encoder.encode("forged"), stderr: new Uint8Array() };
    // Another client knows the hash, not the token: refused, and not retried.
    await assert.rejects(
      other.reportJob(job.hashValue, { ...forged, exitCode: 0, reason: null, detail: "" }),
      (error: CloudError) => error.reason === "lease",
    );
    await assert.rejects(
      other.releaseJob(job.hashValue),
      (error: CloudError) => error.reason === "lease",
    );
    await cloud.reportJob(leased, {
      stdoutBytes: 6,
      stdout: encoder.encode("honest"),
      stderr: new Uint8Array(),
      exitCode: 0,
      reason: null,
      detail: "",
    });
    assert.equal(await output.text(), "honest");
  } finally {
    cloud.close();
    other.close();
  }
});

Deno.test("ComputeCloud.addJob() refuses names holding ':' before sending anything", async () => {
  await using r = await ring(1);
  const cloud = await ComputeCloud.connect("127.0.0.1", r.servers[0]!.port);
  try {
    for (
      const [name, output] of [["x:cHJpbnQoImluamVjdGVkIik=", "out"], ["job", "o:ut"], ["j\0", "o"]]
    ) {
      await assert.rejects(
        cloud.addJob(name!, "print(1)", output!),
        (error: CloudError) => error.reason === "name",
      );
    }
    await assert.rejects(
      cloud.addString("a:b", "x"),
      (error: CloudError) => error.reason === "name",
    );
    assert.equal((await cloud.info()).openJobs, 0, "nothing was submitted");
  } finally {
    cloud.close();
  }
});

Deno.test("ComputeCloud.connect() learns the ring and fails over when its server stops", async () => {
  await using r = await ring(2);
  const cloud = await ComputeCloud.connect("127.0.0.1", r.servers[0]!.port);
  try {
    const file = await cloud.addString("kept", "twice");
    await r.stop(r.servers[0]!);
    assert.equal(await cloud.file(file.hash).text(), "twice");
    assert.equal((await cloud.info()).id, `127.0.0.1:${r.servers[1]!.port}`);
    assert.equal(cloud.server, `127.0.0.1:${r.servers[1]!.port}`);
  } finally {
    cloud.close();
  }
});
