/**
 * One real server process on a loopback port: every command over TCP,
 * restart with the same data directory, bad input of every kind (and the
 * data stored before it intact), and 50 concurrent clients.
 */

import assert from "node:assert/strict";
import { CloudError } from "../client/cloud.ts";
import { authProof } from "../protocol/auth.ts";
import { encodeFrame, FrameDecoder } from "../protocol/frame.ts";
import { formatHash, objectHash } from "../protocol/hash.ts";
import { encodeRequest, parseReply, type Reply } from "../protocol/message.ts";
import { runCloud, ServerProcess } from "./harness.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const b64 = (text: string) => encoder.encode(text).toBase64();

/** A raw socket for sending arbitrary bytes and reading reply frames. */
class Raw {
  readonly #conn: Deno.Conn;
  readonly #decoder = new FrameDecoder();
  readonly #buffer = new Uint8Array(70_000);

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** A raw connection to `server`, authenticated as a server (by raw frames) when it wants one. */
  static async open(server: ServerProcess, options: { authenticate?: boolean } = {}): Promise<Raw> {
    const raw = new Raw(await Deno.connect({ hostname: server.host, port: server.port }));
    if (server.auth && options.authenticate !== false) {
      await raw.send(encodeFrame("HELO"));
      const hello = await raw.reply();
      assert.ok(hello?.ok, "HELO");
      const proof = await authProof(server.auth.credential("server"), hello.fields[0]!);
      await raw.send(encodeFrame(`AUTH:server:${proof}`));
      assert.deepEqual(await raw.reply(), { ok: true, fields: [] }, "AUTH");
    }
    return raw;
  }

  async send(bytes: Uint8Array | string): Promise<void> {
    const data = typeof bytes === "string" ? encoder.encode(bytes) : bytes;
    let offset = 0;
    while (offset < data.length) offset += await this.#conn.write(data.subarray(offset));
  }

  /** The next reply, or null when the server closed the connection. */
  async reply(): Promise<Reply | null> {
    for (;;) {
      const decoded = this.#decoder.next();
      if (decoded?.kind === "frame") return parseReply(decoder.decode(decoded.payload));
      if (decoded) throw new Error("bad checksum from server");
      let count: number | null;
      try {
        count = await this.#conn.read(this.#buffer);
      } catch {
        return null;
      }
      if (count === null) return null;
      this.#decoder.push(this.#buffer.subarray(0, count));
    }
  }

  /** Resolves true when the server closes the connection. */
  async closedByServer(): Promise<boolean> {
    try {
      return (await this.#conn.read(this.#buffer)) === null;
    } catch {
      return true;
    }
  }

  close(): void {
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** One request on a new connection, authenticated as a server (every command is allowed). */
async function request(server: ServerProcess, text: string): Promise<Reply> {
  const connection = await server.connect("server");
  try {
    return await connection.request(text);
  } finally {
    connection.close();
  }
}

function assertNack(reply: Reply | null, reason: string): void {
  assert.ok(reply, "expected a reply, the connection closed");
  assert.equal(reply.ok, false, `expected NACK:${reason}, got ACK`);
  if (!reply.ok) {
    assert.equal(
      reply.reason,
      reason,
      `expected NACK:${reason}, got NACK:${reply.reason}:${reply.detail}`,
    );
  }
}

Deno.test("server ADD then GET returns the bytes; the same ADD gives the same hash", async () => {
  await using server = await ServerProcess.start();
  const add = await request(server, `ADD:name1:${b64("contents")}`);
  assert.ok(add.ok);
  const hash = add.fields[0]!;
  assert.match(hash, /^[0-9a-f]{8}$/);
  const again = await request(server, `ADD:name1:${b64("contents")}`);
  assert.deepEqual(again, add);
  const get = await request(server, `GET:${hash}`);
  assert.deepEqual(get, { ok: true, fields: [b64("contents")] });
  const other = await request(server, `ADD:name1:${b64("other contents")}`);
  assert.ok(other.ok && other.fields[0] !== hash, "different content must get a different hash");
});

Deno.test("server ADD with a salt stores a distinct object at hash(name, salt)", async () => {
  await using server = await ServerProcess.start();
  const reply = await request(server, `ADD:x:${b64("same")}:0000abcd`);
  assert.deepEqual(reply, { ok: true, fields: [formatHash(objectHash("x", 0xabcd))] });
  const plain = await request(server, `ADD:x:${b64("same")}`);
  assert.ok(plain.ok && plain.fields[0] !== formatHash(objectHash("x", 0xabcd)));
});

Deno.test("server BADD stores a plain copy that GET returns, complete or not", async () => {
  await using server = await ServerProcess.start();
  assert.deepEqual(await request(server, `BADD:copy:00000007:1::${b64("copied")}`), {
    ok: true,
    fields: [],
  });
  const hash = formatHash(objectHash("copy", 7));
  assert.deepEqual(await request(server, `GET:${hash}`), { ok: true, fields: [b64("copied")] });
  assert.ok((await request(server, `BADD:part:00000001:0::${b64("x")}`)).ok);
  assertNack(await request(server, `GET:${formatHash(objectHash("part", 1))}`), "incomplete");
  assertNack(await request(server, `BADD:copy:00000007:1::${b64("something else")}`), "collision");
  assert.deepEqual(await request(server, `GET:${hash}`), { ok: true, fields: [b64("copied")] });
});

Deno.test("server GET of an unknown hash is NACK:not-found", async () => {
  await using server = await ServerProcess.start();
  assertNack(await request(server, "GET:12345678"), "not-found");
});

Deno.test("server SADD, GETS and SUCC keep the server table", async () => {
  await using server = await ServerProcess.start({ args: ["--vnodes", "2"] });
  const before = await request(server, "GETS");
  assert.ok(before.ok);
  assert.equal(before.fields.length, 6, "own two positions as host:port:salt");
  assert.deepEqual(before.fields.slice(0, 3), ["127.0.0.1", String(server.port), "00000000"]);
  assert.ok((await request(server, "SADD:127.0.0.1:1:00000000:127.0.0.1:1:00000001")).ok);
  const after = await request(server, "GETS");
  assert.ok(after.ok);
  assert.ok(after.fields.join(":").includes("127.0.0.1:1:00000000"), "the added server is listed");
  assert.ok((await request(server, "SUCC:127.0.0.1:1")).ok);
  const final = await request(server, "GETS");
  assert.ok(
    final.ok && !final.fields.join(":").includes("127.0.0.1:1:"),
    "a dead successor is dropped",
  );
});

Deno.test("server runs the job life cycle: JADD, HAVJ, GETJ, UPD, GET, dependents", async () => {
  await using server = await ServerProcess.start();
  const cloud = server.client({ role: "runner" });
  try {
    const name1 = await cloud.addString("name1", "contents");
    const code = 'print(open("/net/name1").read())';
    const [job, out] = await cloud.addJob("job", code, "out", [name1]);
    const [job2, out2] = await cloud.addJob("job2", "print(2)", "out2", [out]);
    assert.deepEqual(
      await cloud.addJob("job", code, "out", [name1]).then((p) => p.map((f) => f.hash)),
      [
        job.hash,
        out.hash,
      ],
      "the identical job is the same job",
    );
    const [fresh] = await cloud.addJob("job", code, "out", [name1], { fresh: true });
    assert.notEqual(fresh.hash, job.hash, "fresh makes a new job");
    assert.equal((await job2.status()).state, "waiting");
    assert.deepEqual(await cloud.request({ command: "HAVJ" }), { ok: true, fields: [] });
    assertNack(await cloud.request({ command: "GET", hash: out.hashValue }), "incomplete");

    const taken = new Set<string>();
    const leases = new Map<string, string>();
    for (let i = 0; i < 2; i++) {
      const leased = await cloud.takeJob();
      assert.ok(typeof leased === "object", `expected a job, got ${leased}`);
      taken.add(leased.hash);
      leases.set(leased.hash, leased.lease!);
      if (leased.hash === job.hash) {
        assert.equal(leased.source, code);
        assert.deepEqual(leased.inputs, [{ hash: name1.hash, name: "name1" }]);
      }
    }
    assert.deepEqual(taken, new Set([job.hash, fresh.hash]));
    assert.equal(await cloud.takeJob(), "wait", "job2 waits for out; the others are leased");
    assert.equal((await job.status()).state, "leased");

    await cloud.call({
      command: "UPD",
      hash: job.hashValue,
      lease: leases.get(job.hash)!,
      stdout: encoder.encode("contents\n"),
      stderr: encoder.encode("log line"),
    });
    assert.equal(await out.text(), "contents\n");
    assert.equal(await job.text(), "log line", "GET of a finished job is its stderr");
    await cloud.call({
      command: "UPD",
      hash: job.hashValue,
      lease: leases.get(job.hash)!,
      stdout: encoder.encode("late duplicate"),
    });
    assert.equal(await out.text(), "contents\n", "a late duplicate UPD is ignored");

    const second = await cloud.takeJob();
    assert.ok(
      typeof second === "object" && second.hash === job2.hash,
      "job2 is ready once its input is complete",
    );
    assert.deepEqual(second.inputs, [{ hash: out.hash, name: "out" }]);
    await cloud.call({
      command: "UPD",
      hash: job2.hashValue,
      lease: second.lease!,
      stdout: new Uint8Array(),
      stderr: encoder.encode("Traceback: boom"),
      exitCode: 1,
      reason: "exception",
      detail: "RuntimeError: boom",
    });
    const status = await job2.status();
    assert.equal(status.state, "failed");
    assert.equal(status.reason, "exception");
    assert.equal(status.exitCode, 1);
    await assert.rejects(
      () => out2.get(),
      (error: Error) => error instanceof CloudError && error.reason === "failed",
    );
    const [job3] = await cloud.addJob("job3", "print(3)", "out3", [out2]);
    const status3 = await job3.status();
    assert.equal(status3.state, "failed");
    assert.match(String(status3.detail), /input out2 \([0-9a-f]{8}\) failed/);
    await cloud.call({
      command: "UPD",
      hash: fresh.hashValue,
      lease: leases.get(fresh.hash)!,
      stdout: encoder.encode("x"),
    });
    assert.equal(await cloud.takeJob(), "none");
    assertNack(await cloud.request({ command: "HAVJ" }), "none");
  } finally {
    cloud.close();
  }
});

Deno.test("server hands a job out again when its lease expires, and after RLSE", async () => {
  await using server = await ServerProcess.start({ args: ["--lease-ms", "1000"] });
  const cloud = server.client({ role: "runner" });
  try {
    const [job] = await cloud.addJob("slow", "print(1)", "out", []);
    const first = await cloud.takeJob();
    assert.ok(typeof first === "object" && first.hash === job.hash);
    assert.equal(await cloud.takeJob(), "wait");
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const again = await cloud.takeJob();
    assert.ok(
      typeof again === "object" && again.hash === job.hash,
      "expired lease: handed out again",
    );
    assert.equal((await job.status()).attempt, 2);
    await cloud.releaseJob(again);
    const third = await cloud.takeJob();
    assert.ok(typeof third === "object" && third.hash === job.hash, "released: handed out again");
  } finally {
    cloud.close();
  }
});

Deno.test("server GETJ with a wait answers as soon as a job is submitted", async () => {
  await using server = await ServerProcess.start();
  const runner = server.client({ role: "runner" });
  const submitter = server.client();
  try {
    const started = Date.now();
    assert.equal(await runner.takeJob(300), "none", "nothing to run: the wait ends empty");
    assert.ok(Date.now() - started >= 250, "the server held the request");
    const taking = runner.takeJob(20_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const submitted = Date.now();
    const [job] = await submitter.addJob("soon", "print(1)", "o", []);
    const taken = await taking;
    assert.ok(typeof taken === "object" && taken.hash === job.hash);
    assert.ok(Date.now() - submitted < 5_000, "woken by the submission, not by the timeout");
  } finally {
    runner.close();
    submitter.close();
  }
});

Deno.test("server GETJ whose client hangs up while it waits leases nothing to it", async () => {
  await using server = await ServerProcess.start();
  const runner = server.client({ role: "runner" });
  const submitter = server.client({ role: "runner" });
  try {
    const stop = new AbortController();
    const taking = runner.takeJob(20_000, stop.signal);
    await new Promise((resolve) => setTimeout(resolve, 200));
    stop.abort();
    assert.equal(await taking, "wait", "an abandoned long poll returns at once");
    // Give the server a moment to read the hang-up before the job exists.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const [job] = await submitter.addJob("after-hang-up", "print(1)", "o", []);
    const taken = await submitter.takeJob();
    assert.ok(
      typeof taken === "object" && taken.hash === job.hash,
      "the job is still there for the next runner, not leased to the one that left",
    );
    assert.equal((await job.status()).attempt, 1);
  } finally {
    runner.close();
    submitter.close();
  }
});

Deno.test("server serves a request pipelined behind a waiting GETJ, in order", async () => {
  await using server = await ServerProcess.start();
  const cloud = server.client();
  const raw = await Raw.open(server);
  try {
    const file = await cloud.addString("piped", "behind the wait");
    await raw.send(encodeFrame(encodeRequest({ command: "GETJ", waitMs: 300 })));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await raw.send(encodeFrame(encodeRequest({ command: "GET", hash: file.hashValue })));
    assertNack(await raw.reply(), "none");
    const got = await raw.reply();
    assert.ok(got?.ok, "the GET sent during the wait is answered after it");
    assert.equal(decoder.decode(Uint8Array.fromBase64(got.fields[0]!)), "behind the wait");
    // A request larger than what is read during a wait arrives in pieces.
    const big = new Uint8Array(30_000).fill(0x62);
    await raw.send(encodeFrame(encodeRequest({ command: "GETJ", waitMs: 300 })));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await raw.send(encodeFrame(encodeRequest({ command: "ADD", name: "piped-big", data: big })));
    assertNack(await raw.reply(), "none");
    const added = await raw.reply();
    assert.ok(added?.ok, "the large ADD sent during the wait is stored");
    assert.deepEqual(await cloud.file(added.fields[0]!).get(), big);
  } finally {
    raw.close();
    cloud.close();
  }
});

Deno.test("server JADD refuses unknown inputs and jobs as inputs", async () => {
  await using server = await ServerProcess.start();
  const cloud = server.client();
  try {
    assertNack(
      await cloud.request({
        command: "JADD",
        name: "j",
        source: encoder.encode("print(1)"),
        outputName: "o",
        inputs: [0x12345678],
      }),
      "unknown-input",
    );
    const [job] = await cloud.addJob("j", "print(1)", "o", []);
    assertNack(
      await cloud.request({
        command: "JADD",
        name: "k",
        source: encoder.encode("print(1)"),
        outputName: "o2",
        inputs: [job.hashValue],
      }),
      "not-a-file",
    );
  } finally {
    cloud.close();
  }
});

Deno.test("server JADD never mistakes a file with the job's identity for the job", async () => {
  await using server = await ServerProcess.start();
  const cloud = server.client();
  try {
    const lookalike = await cloud.addString("j", "job\nj\no\n\n\nprint(1)");
    const [job, out] = await cloud.addJob("j", "print(1)", "o", []);
    assert.notEqual(job.hash, lookalike.hash);
    assert.equal((await job.status()).kind, "job");
    assert.equal((await out.status()).kind, "file");
    assert.equal(await cloud.file(lookalike.hash).text(), "job\nj\no\n\n\nprint(1)");
  } finally {
    cloud.close();
  }
});

Deno.test("server JADD refuses a job whose record cannot travel in one frame", async () => {
  await using server = await ServerProcess.start();
  const cloud = server.client();
  try {
    const inputs = [];
    for (let i = 0; i < 60; i++) {
      inputs.push(await cloud.addString(`${"n".repeat(1000)}${i}`, `${i}`));
    }
    const reply = await cloud.request({
      command: "JADD",
      name: "wide",
      source: encoder.encode("print(1)"),
      outputName: "o",
      inputs: inputs.map((input) => input.hashValue),
    });
    assertNack(reply, "too-large");
    const [small] = await cloud.addJob("narrow", "print(1)", "o", inputs.slice(0, 5));
    assert.equal((await small.status()).state, "ready", "a job that fits is accepted");
  } finally {
    cloud.close();
  }
});

Deno.test("server keeps failure details bounded along a long chain of failed jobs", async () => {
  await using server = await ServerProcess.start();
  const cloud = server.client({ role: "runner" });
  try {
    const [first, firstOut] = await cloud.addJob("first", "print(1)", "out-0", []);
    const leased = await cloud.takeJob();
    assert.ok(typeof leased === "object" && leased.hash === first.hash);
    await cloud.call({
      command: "UPD",
      hash: first.hashValue,
      lease: leased.lease!,
      stdout: new Uint8Array(),
      exitCode: 1,
      reason: "exception",
      detail: "boom",
    });
    let input = firstOut;
    for (let i = 1; i <= 30; i++) {
      const [job, out] = await cloud.addJob(
        `${"j".repeat(1000)}${i}`,
        "print(1)",
        `${"o".repeat(1000)}${i}`,
        [input],
      );
      const status = await job.status();
      assert.equal(status.state, "failed");
      assert.ok(
        encoder.encode(String(status.detail)).length <= 1024,
        `detail of job ${i} is bounded`,
      );
      input = out;
    }
    await assert.rejects(
      () => input.get(),
      (error: Error) => error instanceof CloudError && error.reason === "failed",
    );
  } finally {
    cloud.close();
  }
});

Deno.test("server WAIT returns when the file completes, or its state at the timeout", async () => {
  await using server = await ServerProcess.start();
  const cloud = server.client();
  const runner = server.client({ role: "runner" });
  try {
    const [job, out] = await cloud.addJob("w", "print(1)", "wout", []);
    assert.deepEqual(
      await cloud.request({ command: "WAIT", hash: out.hashValue, timeoutMs: 200 }),
      { ok: true, fields: ["incomplete"] },
    );
    const waiting = cloud.request({ command: "WAIT", hash: out.hashValue, timeoutMs: 20_000 });
    const leased = await runner.takeJob();
    assert.ok(typeof leased === "object");
    const started = Date.now();
    await runner.call({
      command: "UPD",
      hash: job.hashValue,
      lease: leased.lease!,
      stdout: encoder.encode("1\n"),
    });
    assert.deepEqual(await waiting, { ok: true, fields: ["complete"] });
    assert.ok(Date.now() - started < 10_000, "WAIT returned on completion, not at its timeout");
  } finally {
    cloud.close();
    runner.close();
  }
});

Deno.test("server INFO describes the server and its objects", async () => {
  await using server = await ServerProcess.start();
  const cloud = server.client();
  try {
    await cloud.addString("a", "1");
    const info = await cloud.info();
    assert.equal(info.id, server.id);
    assert.equal((info.objects as { objects: number }).objects, 1);
    assert.equal((info.positions as string[]).length, 8);
  } finally {
    cloud.close();
  }
});

Deno.test("server keeps files and jobs across a restart with the same data directory", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "cloud-test-restart-" });
  let hash: string;
  let jobHash: string;
  let port: number;
  {
    await using server = await ServerProcess.start({ dataDir });
    port = server.port;
    const cloud = server.client();
    hash = (await cloud.addString("kept", "survives")).hash;
    jobHash = (await cloud.addJob("pending", "print(1)", "out", []))[0].hash;
    cloud.close();
    await server.kill("SIGKILL");
  }
  await using server = await ServerProcess.start({ dataDir, port });
  const cloud = server.client({ role: "runner" });
  try {
    assert.equal(await cloud.file(hash).text(), "survives");
    const leased = await cloud.takeJob();
    assert.ok(
      typeof leased === "object" && leased.hash === jobHash,
      "the pending job is still queued",
    );
    assert.equal((await cloud.info()).incarnation, 2, "a restart bumps the incarnation");
  } finally {
    cloud.close();
  }
});

Deno.test("server refuses a data directory or a port another server is using, and keeps serving", async () => {
  await using server = await ServerProcess.start();
  const cloud = server.client();
  try {
    const kept = await cloud.addString("mine", "only mine");
    // A second server that did start would run until killed after 20 s.
    const second = await runCloud(
      ["server", "0", "--listen", "127.0.0.1", "--data", server.dataDir],
      { signal: AbortSignal.timeout(20_000) },
    );
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stderr, /another cloud server is using it/);
    const otherDir = await Deno.makeTempDir({ prefix: "cloud-test-port-" });
    try {
      const samePort = await runCloud(
        ["server", String(server.port), "--listen", "127.0.0.1", "--data", otherDir],
        { signal: AbortSignal.timeout(20_000) },
      );
      assert.equal(samePort.code, 1, samePort.stderr);
      assert.match(samePort.stderr, /Cannot listen on 127\.0\.0\.1:\d+: the port is in use/);
    } finally {
      await Deno.remove(otherDir, { recursive: true });
    }
    assert.equal(await cloud.file(kept.hash).text(), "only mine");
  } finally {
    cloud.close();
  }
});

Deno.test("server refuses to join a ring that keeps another number of copies", async () => {
  await using server = await ServerProcess.start();
  const dataDir = await Deno.makeTempDir({ prefix: "cloud-test-replicas-" });
  try {
    const joining = await runCloud(
      [
        "server",
        "0",
        server.host,
        String(server.port),
        "--listen",
        "127.0.0.1",
        "--advertise",
        "127.0.0.1",
        "--data",
        dataDir,
        "--replicas",
        "3",
        ...(server.auth ? ["--auth-file", server.auth.authFile] : []),
      ],
      { signal: AbortSignal.timeout(20_000) },
    );
    assert.equal(joining.code, 1, joining.stderr);
    assert.match(joining.stderr, /keeps 2 copies of every object.*--replicas 3/);
    const cloud = server.client();
    try {
      const ports = new Set((await cloud.refreshServers()).map((record) => record.port));
      assert.deepEqual([...ports], [server.port], "the ring did not take it in");
    } finally {
      cloud.close();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("server answers bad input with NACKs and keeps serving, with stored data intact", async () => {
  await using server = await ServerProcess.start();
  const stored = await request(server, `ADD:keep:${b64("precious")}`);
  assert.ok(stored.ok);
  const hash = stored.fields[0]!;
  const raw = await Raw.open(server);
  try {
    const good = encodeFrame("GETS");
    const corrupted = good.slice();
    corrupted[4] = "0".charCodeAt(0);
    corrupted[5] = "0".charCodeAt(0);
    await raw.send(corrupted);
    assertNack(await raw.reply(), "checksum");
    await raw.send(encodeFrame("FOO:bar"));
    assertNack(await raw.reply(), "unknown-command");
    await raw.send(encodeFrame("GET"));
    assertNack(await raw.reply(), "fields");
    await raw.send(encodeFrame("GET:1:2"));
    assertNack(await raw.reply(), "fields");
    await raw.send(encodeFrame("ADD:name:not base64!"));
    assertNack(await raw.reply(), "base64");
    await raw.send(encodeFrame(`ADD:a:${b64("x")}:zz`));
    assertNack(await raw.reply(), "hash");
    await raw.send(encodeFrame(`ADD::${b64("x")}`));
    assertNack(await raw.reply(), "name");
    await raw.send(encodeFrame(`ADD:${"n".repeat(2000)}:${b64("x")}`));
    assertNack(await raw.reply(), "name");
    await raw.send(encodeFrame(`JADD:job:${b64("print(1)")}:out:put:`));
    assertNack(await raw.reply(), "hash");
    await raw.send(encodeFrame(new Uint8Array([0x47, 0x45, 0xff, 0xfe])));
    assertNack(await raw.reply(), "encoding");
    await raw.send(encodeFrame("GET:zzzzzzzz"));
    assertNack(await raw.reply(), "hash");
    await raw.send(encodeFrame(`BADD:x:00000001:1:bm90IGpzb24=:${b64("x")}`));
    assertNack(await raw.reply(), "metadata");
    await raw.send(encodeFrame("UPD:12345678:"));
    assertNack(await raw.reply(), "not-found");
    await raw.send(encodeFrame(`GET:${hash}`));
    assert.deepEqual(
      await raw.reply(),
      { ok: true, fields: [b64("precious")] },
      "connection still usable",
    );
  } finally {
    raw.close();
  }
  assert.deepEqual(await request(server, `GET:${hash}`), { ok: true, fields: [b64("precious")] });
});

Deno.test("server closes the connection on a broken frame, after a NACK", async () => {
  await using server = await ServerProcess.start();
  const stored = await request(server, `ADD:keep:${b64("precious")}`);
  assert.ok(stored.ok);
  for (const broken of ["zzzz00GETS\0", "0004" + "2c" + "GETSX"]) {
    const raw = await Raw.open(server);
    try {
      await raw.send(broken);
      assertNack(await raw.reply(), "frame");
      assert.equal(await raw.closedByServer(), true);
    } finally {
      raw.close();
    }
  }
  assert.deepEqual(await request(server, `GET:${stored.fields[0]}`), {
    ok: true,
    fields: [b64("precious")],
  });
});

Deno.test("server closes connections idle too long and frames cut short", async () => {
  await using server = await ServerProcess.start({
    args: ["--idle-ms", "300", "--frame-read-ms", "300"],
  });
  const idle = await Raw.open(server);
  const cut = await Raw.open(server);
  try {
    await cut.send("0100ff" + "GET:");
    const started = Date.now();
    assert.equal(await idle.closedByServer(), true);
    assert.equal(await cut.closedByServer(), true);
    assert.ok(Date.now() - started < 10_000);
    assert.ok((await request(server, "GETS")).ok, "the server still serves");
  } finally {
    idle.close();
    cut.close();
  }
});

Deno.test("server closes a frame that trickles in slower than its deadline", async () => {
  await using server = await ServerProcess.start({ args: ["--frame-read-ms", "600"] });
  const raw = await Raw.open(server);
  try {
    const frame = encodeFrame("GETS:trickle");
    const started = Date.now();
    let closed = false;
    for (const byte of frame) {
      try {
        await raw.send(new Uint8Array([byte]));
      } catch {
        closed = true;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    if (!closed) assert.equal(await raw.closedByServer(), true);
    assert.ok(Date.now() - started < frame.length * 150, "closed before the whole frame arrived");
  } finally {
    raw.close();
  }
});

Deno.test("server does not count a long WAIT as idleness", async () => {
  await using server = await ServerProcess.start({ args: ["--idle-ms", "300"] });
  const connection = await server.connect("client");
  try {
    const [, out] = await (async () => {
      const cloud = server.client();
      try {
        return await cloud.addJob("never-run", "print(1)", "o", []);
      } finally {
        cloud.close();
      }
    })();
    const reply = await connection.request({
      command: "WAIT",
      hash: out.hashValue,
      timeoutMs: 1_000,
    });
    assert.deepEqual(reply, { ok: true, fields: ["incomplete"] });
  } finally {
    connection.close();
  }
});

Deno.test("server refuses connections beyond its limit with NACK:busy", async () => {
  await using server = await ServerProcess.start({ args: ["--max-connections", "3"] });
  const held = await Promise.all([1, 2, 3].map(() => Raw.open(server)));
  try {
    for (const raw of held) {
      await raw.send(encodeFrame("GETS"));
      assert.ok((await raw.reply())?.ok);
    }
    const extra = await Raw.open(server, { authenticate: false });
    assertNack(await extra.reply(), "busy");
    extra.close();
  } finally {
    for (const raw of held) raw.close();
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.ok((await request(server, "GETS")).ok, "slots free again once connections close");
});

Deno.test("server STOP closes the connection without a reply", async () => {
  await using server = await ServerProcess.start();
  const raw = await Raw.open(server);
  try {
    await raw.send(encodeFrame("STOP"));
    assert.equal(await raw.closedByServer(), true);
  } finally {
    raw.close();
  }
});

Deno.test("server serves 50 concurrent clients, each reading back its own data", async () => {
  await using server = await ServerProcess.start();
  await Promise.all(Array.from({ length: 50 }, async (_, client) => {
    const connection = await server.connect("client");
    try {
      for (let i = 0; i < 20; i++) {
        const text = `client ${client} item ${i} ${"x".repeat(1000)}`;
        const add = await connection.request(`ADD:c${client}-${i}:${b64(text)}`);
        assert.ok(add.ok);
        const get = await connection.request(`GET:${add.fields[0]}`);
        assert.deepEqual(get, { ok: true, fields: [b64(text)] });
      }
    } finally {
      connection.close();
    }
  }));
});
