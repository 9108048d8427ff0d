/**
 * The attacks of issue 12 that authentication closes, each from a script
 * against a real server process, then what the server did: commands
 * without AUTH, a client's or a runner's token sending what only servers
 * (or runners) may, guessing proofs, one host holding every connection,
 * servers reachable from other machines by default, and TLS.
 */

import assert from "node:assert/strict";
import net from "node:net";
import { authProof, type Credential } from "../protocol/auth.ts";
import { ConnectionError } from "../protocol/connection.ts";
import { encodeFrame, FrameDecoder } from "../protocol/frame.ts";
import { decodePayload, parseReply, type Reply } from "../protocol/message.ts";
import { CloudError } from "../client/cloud.ts";
import { haveOpenssl, makeCertificates } from "./certificates.ts";
import { Cluster, eventually, runCloud, ServerProcess, startRunner } from "./harness.ts";

const encoder = new TextEncoder();

/** A raw connection from a chosen loopback address, speaking frames. */
class Wire {
  readonly #decoder = new FrameDecoder();
  readonly #waiting: (() => void)[] = [];
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (chunk: Uint8Array) => {
      this.#decoder.push(new Uint8Array(chunk));
      this.#wake();
    });
    const end = () => {
      this.closed = true;
      this.#wake();
    };
    socket.on("close", end);
    socket.on("error", end);
  }

  /** Connects to `server` from `from` (any 127.x address is this machine). */
  static open(server: ServerProcess, from = "127.0.0.1"): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: server.host, port: server.port, localAddress: from });
      socket.once("error", reject);
      socket.once("connect", () => resolve(new Wire(socket)));
    });
  }

  #wake(): void {
    for (const wake of this.#waiting.splice(0)) wake();
  }

  /** Sends one request and returns its reply; null when the server closed the connection. */
  async request(text: string): Promise<Reply | null> {
    if (!this.closed) this.socket.write(encodeFrame(text));
    for (;;) {
      const decoded = this.#decoder.next();
      if (decoded?.kind === "frame") return parseReply(decodePayload(decoded.payload));
      if (this.closed) return null;
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }

  /** HELO then AUTH with `credential`; the AUTH reply. */
  async authenticate(credential: Credential): Promise<Reply | null> {
    const hello = await this.request("HELO");
    if (!hello?.ok) return hello;
    return await this.request(
      `AUTH:${credential.role}:${await authProof(credential, hello.fields[0]!)}`,
    );
  }

  close(): void {
    this.socket.destroy();
  }
}

function isNack(reply: Reply | null, reason: string): boolean {
  return reply !== null && !reply.ok && reply.reason === reason;
}

/** The ids of the servers a server's table (GETS) lists. */
async function serverIds(server: ServerProcess): Promise<string[]> {
  const cloud = server.client();
  try {
    return [...new Set((await cloud.refreshServers()).map((s) => `${s.host}:${s.port}`))];
  } finally {
    cloud.close();
  }
}

const b64 = (text: string) => encoder.encode(text).toBase64();

Deno.test("security: without AUTH every command gets NACK:auth, and nothing changes", async () => {
  await using server = await ServerProcess.start();
  const owner = server.client();
  const wire = await Wire.open(server);
  try {
    const file = await owner.addString("precious", "the owner's bytes");
    const big = await owner.addBytes("big", new Uint8Array(100_000).fill(7));
    const manifest = (await owner.call({ command: "GETM", hash: big.hashValue }))[0]!;
    const [job] = await owner.addJob("victim", "print(1)", "victim.out", [file]);
    const me = server.id.split(":");
    // One well-formed request of every command a connection may not send before AUTH.
    const attacks = [
      `ADD:x:${b64("y")}`,
      `MADD:copy:${manifest}`,
      `BADD:precious:00000000:1::${b64("attacker's bytes")}`,
      `GET:${file.hash}`,
      `GETM:${big.hash}`,
      `UPD:${job.hash}:${b64("FORGED RESULT from unauthenticated client")}`,
      `JADD:j:${b64("print(2)")}:o`,
      "GETJ",
      "HAVJ",
      // Two fake peers that would take the server's objects and never store them.
      "SADD:127.0.0.1:1:00000000:127.0.0.1:2:80000000",
      "GETS",
      `SUCC:${me[0]}:${me[1]}`,
      `PROB:${me[0]}:${me[1]}`,
      `STAT:${file.hash}`,
      `WAIT:${file.hash}:0`,
      `RLSE:${job.hash}`,
      "INFO",
      "PEER:127.0.0.1:1",
      `MEMB:${me[0]}:${me[1]}:9007199254740991:dead:00000001`,
      `HAVE:${file.hash}:1`,
      `PULL:${file.hash}`,
    ];
    for (const attack of attacks) {
      const reply = await wire.request(attack);
      assert.ok(isNack(reply, "auth"), `${attack.slice(0, 30)}: ${JSON.stringify(reply)}`);
      if (reply && !reply.ok) assert.match(reply.detail, /Authenticate first: send HELO/);
    }
    assert.equal(await file.text(), "the owner's bytes");
    assert.deepEqual(await serverIds(server), [server.id], "no fake server joined");
    assert.equal((await job.status()).state, "ready", "nobody leased or reported the job");
    const info = await owner.info();
    assert.equal(info.incarnation, 1, "not declared dead, no refutation needed");
  } finally {
    wire.close();
    owner.close();
  }
});

Deno.test("security: a client token cannot SADD, BADD, MEMB, UPD, GETJ, RLSE or PEER", async () => {
  await using server = await ServerProcess.start();
  const owner = server.client();
  const runner = server.client({ role: "runner" });
  const attacker = server.client();
  const wire = await Wire.open(server);
  try {
    assert.deepEqual(await wire.authenticate(server.auth!.credential("client")), {
      ok: true,
      fields: [],
    });
    const file = await owner.addString("precious", "the owner's bytes");
    const [job, out] = await owner.addJob("victim", "print(1)", "victim.out", [file]);
    const me = server.id.split(":");
    const forbidden: [string, string][] = [
      ["SADD", "SADD:127.0.0.1:1:00000000:127.0.0.1:2:80000000"],
      ["BADD", `BADD:precious:00000000:1::${b64("attacker's bytes")}`],
      ["MEMB", `MEMB:${me[0]}:${me[1]}:9007199254740991:dead:00000001`],
      ["PEER", "PEER:127.0.0.1:1"],
      ["HAVE", `HAVE:${file.hash}:1`],
      ["PULL", `PULL:${file.hash}`],
    ];
    for (const [command, text] of forbidden) {
      const reply = await wire.request(text);
      assert.ok(isNack(reply, "forbidden"), `${command}: ${JSON.stringify(reply)}`);
      if (reply && !reply.ok) {
        assert.match(reply.detail, new RegExp(`^${command} needs the server role`));
      }
    }
    // Job theft: a client cannot take the job, nor read its inputs that way.
    await assert.rejects(
      attacker.takeJob(),
      (error: Error) => error instanceof CloudError && error.reason === "forbidden",
    );
    const leased = await runner.takeJob();
    assert.ok(typeof leased === "object" && leased.hash === job.hash, "the runner gets the job");
    // A forged result during the runner's lease, and a release of its job.
    await assert.rejects(
      attacker.reportJob(job.hashValue, {
        stdoutBytes: 7,
        stdout: encoder.encode("FORGED\n"),
        stderr: new Uint8Array(),
        exitCode: 0,
        reason: null,
        detail: "",
      }, { retries: 0 }),
      (error: Error) => error instanceof CloudError && error.reason === "forbidden",
    );
    await assert.rejects(
      attacker.releaseJob(job.hashValue),
      (error: Error) => error instanceof CloudError && error.reason === "forbidden",
    );
    assert.equal((await job.status()).state, "leased", "still the runner's");
    assert.equal(await runner.takeJob(), "wait", "not handed out again");
    await runner.reportJob(job.hashValue, {
      stdoutBytes: 7,
      stdout: encoder.encode("honest\n"),
      stderr: new Uint8Array(),
      exitCode: 0,
      reason: null,
      detail: "",
    });
    assert.equal(await out.text(), "honest\n", "the runner's honest result stands");
    assert.equal(await file.text(), "the owner's bytes");
    assert.deepEqual(await serverIds(server), [server.id]);
    assert.equal((await owner.info()).incarnation, 1);
  } finally {
    wire.close();
    for (const cloud of [owner, runner, attacker]) cloud.close();
  }
});

Deno.test("security: a runner token cannot SADD or BADD, and may take and report jobs", async () => {
  await using server = await ServerProcess.start();
  const owner = server.client();
  const runner = server.client({ role: "runner" });
  const wire = await Wire.open(server);
  try {
    assert.ok((await wire.authenticate(server.auth!.credential("runner")))?.ok);
    const file = await owner.addString("precious", "the owner's bytes");
    for (
      const text of [
        "SADD:127.0.0.1:1:00000000",
        `BADD:precious:00000000:1::${b64("attacker's bytes")}`,
        // Job hijack: a waiting job's record replaced with the attacker's code.
        `BADD:victim:00000000:0::${b64("print(open('/net/precious').read())")}`,
      ]
    ) {
      const reply = await wire.request(text);
      assert.ok(isNack(reply, "forbidden"), `${text.slice(0, 20)}: ${JSON.stringify(reply)}`);
    }
    assert.equal(await file.text(), "the owner's bytes");
    assert.deepEqual(await serverIds(server), [server.id]);
    const [job] = await owner.addJob("j", "print(1)", "o", []);
    const leased = await runner.takeJob();
    assert.ok(typeof leased === "object" && leased.hash === job.hash);
    await runner.releaseJob(job.hashValue);
  } finally {
    wire.close();
    owner.close();
    runner.close();
  }
});

Deno.test("security: guessed proofs are limited per address; other addresses still get in", async () => {
  await using server = await ServerProcess.start();
  const guess: Credential = { role: "server", secret: "a-guess-at-the-secret" };
  const attacker = await Wire.open(server, "127.0.0.2");
  const open: Wire[] = [attacker];
  try {
    let tries = 0;
    let closedAfter = 0;
    while (tries < 50) {
      const reply = await attacker.authenticate(guess);
      tries++;
      if (reply === null || attacker.closed) {
        closedAfter = tries;
        break;
      }
      assert.ok(isNack(reply, "auth"), JSON.stringify(reply));
    }
    assert.ok(
      closedAfter > 1 && closedAfter <= 11,
      `the server closed the guessing connection after a burst (${closedAfter} tries)`,
    );
    // The address waits: a new connection with the right secret is refused for now.
    const again = await Wire.open(server, "127.0.0.2");
    open.push(again);
    const refused = await again.authenticate(server.auth!.credential("server"));
    assert.ok(
      isNack(refused, "auth") && /Too many failed AUTHs from 127\.0\.0\.2/.test(
        (refused as { detail: string }).detail,
      ),
      JSON.stringify(refused),
    );
    // Everyone else is unaffected.
    const neighbour = await Wire.open(server, "127.0.0.3");
    open.push(neighbour);
    assert.deepEqual(await neighbour.authenticate(server.auth!.credential("client")), {
      ok: true,
      fields: [],
    });
    assert.ok((await neighbour.request("GETS"))?.ok);
  } finally {
    for (const wire of open) wire.close();
  }
});

Deno.test("security: one host holding many connections cannot keep another host out", async () => {
  await using server = await ServerProcess.start({
    args: [
      "--max-connections",
      "40",
      "--max-connections-per-address",
      "8",
      "--handshake-ms",
      "1500",
    ],
  });
  const hog: Wire[] = [];
  const client = server.client();
  try {
    // The attack of issue 12: as many connections as the server takes, each
    // sending a request now and then so that the idle limit never fires.
    for (let i = 0; i < 60; i++) hog.push(await Wire.open(server, "127.0.0.4"));
    const first = await Promise.all(hog.map((wire) => wire.request("GETS")));
    const served = first.filter((reply) => isNack(reply, "auth")).length;
    const busy = first.filter((reply) => isNack(reply, "busy"));
    assert.equal(served, 8, "the host gets its share of the slots");
    assert.equal(busy.length, 52);
    assert.match(
      (busy[0] as { detail: string }).detail,
      /limit of 8 connections from 127\.0\.0\.4/,
    );
    // Another host is served meanwhile.
    const file = await client.addString("still", "served");
    assert.equal(await file.text(), "served");
    // Unauthenticated, the host's connections go at the handshake deadline, however busy they keep.
    const started = Date.now();
    await eventually(async () => {
      for (const wire of hog) if (!wire.closed) await wire.request("GETS");
      return hog.every((wire) => wire.closed);
    }, { timeoutMs: 10_000, intervalMs: 200, what: "the unauthenticated connections to close" });
    assert.ok(Date.now() - started < 10_000);
  } finally {
    client.close();
    for (const wire of hog) wire.close();
  }
});

/** A non-loopback IPv4 address of this machine, if it has one. */
function outsideAddress(): string | undefined {
  return Deno.networkInterfaces().find((i) => i.family === "IPv4" && !i.address.startsWith("127."))
    ?.address;
}

Deno.test("security: without an auth file a server serves this machine only, unless --insecure", async () => {
  await using open = await ServerProcess.start({ auth: false, listen: null });
  await eventually(
    () => /no auth file: serving this machine only \(127\.0\.0\.1\)/.test(open.log),
    {
      what: "the log line saying so",
    },
  );
  assert.match(open.log, /cloud auth init DIR, then cloud server 0 --auth-file DIR\/auth/);
  const outside = outsideAddress();
  if (outside === undefined) {
    console.log("security test: this machine has no non-loopback IPv4 address to try");
  } else {
    await assert.rejects(
      Deno.connect({ hostname: outside, port: open.port }),
      Deno.errors.ConnectionRefused,
      `not reachable at ${outside}`,
    );
  }
  const dataDir = await Deno.makeTempDir({ prefix: "cloud-test-exposed-" });
  try {
    const refused = await runCloud(
      ["server", "0", "--listen", "0.0.0.0", "--data", dataDir],
      { signal: AbortSignal.timeout(20_000) },
    );
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(
      refused.stderr,
      /Cannot listen on 0\.0\.0\.0 without an auth file.*--auth-file FILE.*--insecure/,
    );
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
  await using insecure = await ServerProcess.start({
    auth: false,
    listen: "0.0.0.0",
    args: ["--insecure", "-q"],
  });
  await eventually(() => /INSECURE: no auth file and listening on 0\.0\.0\.0/.test(insecure.log), {
    what: "the warning, even with -q",
  });
  // An original-design client (no HELO) is served.
  const cloud = insecure.client();
  try {
    assert.equal(await (await cloud.addString("a", "b")).text(), "b");
  } finally {
    cloud.close();
  }
  // With an auth file, the default is every address.
  await using authenticated = await ServerProcess.start({ listen: null });
  if (outside !== undefined) {
    const conn = await Deno.connect({ hostname: outside, port: authenticated.port });
    conn.close();
  }
});

Deno.test({
  name:
    "security: a TLS ring: clients, runners and peers speak TLS; a wrong CA or plain TCP is refused",
  ignore: !(await haveOpenssl()),
  async fn() {
    const certificates = await makeCertificates();
    try {
      await using cluster = await Cluster.start(2, [], { tls: certificates });
      const [first, second] = cluster.servers as [ServerProcess, ServerProcess];
      assert.equal((await serverIds(first)).length, 2, "the peers joined over TLS");
      const cloud = first.client();
      const other = second.client();
      const runner = startRunner(second, ["--jobs", "1"]);
      try {
        const file = await cloud.addString("secret", "over TLS");
        const [, out] = await cloud.addJob("read", 'print(open("/net/secret").read())', "o", [
          file,
        ]);
        // Read through the other server: forwarded between peers, over TLS.
        assert.equal(await other.file(file.hash).text(), "over TLS");
        assert.equal(await out.text(), "over TLS\n", "the runner took and reported it over TLS");
        const cli = await runCloud([
          "client",
          "-s",
          second.id,
          "--tls-ca",
          certificates.caFile,
          "get",
          file.hash,
        ]);
        assert.equal(cli.code, 0, cli.stderr);
        assert.equal(cli.stdout, "over TLS");
        const wrongCa = await runCloud([
          "client",
          "-s",
          second.id,
          "--tls-ca",
          certificates.otherCaFile,
          "get",
          file.hash,
        ]);
        assert.equal(wrongCa.code, 3, wrongCa.stderr);
        assert.match(wrongCa.stderr, /TLS handshake failed: invalid peer certificate/);
        const plain = await runCloud(["client", "-s", second.id, "get", file.hash]);
        assert.notEqual(plain.code, 0);
        assert.match(plain.stderr, /does it speak TLS\?/);
      } finally {
        cloud.close();
        other.close();
        runner.kill("SIGTERM");
        await runner.status;
      }
      const untrusting = first.client({ tls: { caCerts: [] } });
      try {
        await assert.rejects(
          untrusting.addString("x", "y"),
          (error: Error) => error instanceof ConnectionError && error.code === "tls",
        );
      } finally {
        untrusting.close();
      }
    } finally {
      await Deno.remove(certificates.dir, { recursive: true });
    }
  },
});

Deno.test("security: a server refuses to start on a malformed or readable auth file, in one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cloud-test-authfile-" });
  try {
    const start = (authFile: string) =>
      runCloud(["server", "0", "--data", `${dir}/data`, "--auth-file", authFile], {
        signal: AbortSignal.timeout(20_000),
        role: null,
      });
    await Deno.writeTextFile(`${dir}/bad`, `client ${"a".repeat(64)}\nrunner\n`, { mode: 0o600 });
    const malformed = await start(`${dir}/bad`);
    assert.equal(malformed.code, 1, malformed.stderr);
    assert.equal(
      malformed.stderr,
      `cloud: Cannot use the auth file ${dir}/bad: line 2 is not "<role> <secret>"\n`,
    );
    await Deno.writeTextFile(`${dir}/open`, `client ${"a".repeat(64)}\n`, { mode: 0o644 });
    await Deno.chmod(`${dir}/open`, 0o644);
    const readable = await start(`${dir}/open`);
    assert.equal(readable.code, 1, readable.stderr);
    assert.equal(
      readable.stderr,
      `cloud: Cannot use the auth file ${dir}/open: group or others may read it (mode 644); run chmod 600 ${dir}/open\n`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
