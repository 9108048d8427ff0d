import assert from "node:assert/strict";
import net from "node:net";
import { Connection, ConnectionError, writeAll } from "../protocol/connection.ts";
import { makeCertificates } from "../tests/certificates.ts";
import { encodeFrame, FrameDecoder } from "../protocol/frame.ts";
import {
  ack,
  decodePayload,
  nack,
  parseReply,
  type Reply,
  type Request,
} from "../protocol/message.ts";
import { admission, countsPerAddress, type RequestHandler, serveTls } from "./listen.ts";
import type { Session } from "./session.ts";
import { listen, listenTls, raw, readReply, Recorder } from "./_listen_test_kit.ts";

/**
 * A handler with the shape of authentication: AUTH sets the session's role
 * (role `bad` also closes the connection), commands before it get
 * NACK:auth, BADD gets NACK:forbidden.
 */
class Gatekeeper implements RequestHandler {
  handle(request: Request, session: Session): Promise<Reply> {
    if (request.command === "HELO") return Promise.resolve(ack("0".repeat(32)));
    if (request.command === "AUTH") {
      if (request.role === "bad") {
        session.closing = true;
        return Promise.resolve(nack("auth", "too many"));
      }
      session.role = request.role as Session["role"];
      return Promise.resolve(ack());
    }
    if (session.role === undefined) return Promise.resolve(nack("auth", "authenticate first"));
    if (request.command === "BADD") return Promise.resolve(nack("forbidden", "not yours"));
    return Promise.resolve(ack(session.remote ?? "?"));
  }
}

const proof = "0".repeat(64);

/** A raw connection from the local address `from` (127.0.0.0/8 is all loopback). */
function rawFrom(from: string, port: number): Promise<RawSocket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port, localAddress: from });
    socket.once("error", reject);
    socket.once("connect", () => resolve(new RawSocket(socket)));
  });
}

/** A node:net socket (it can pick its source address) reading reply frames. */
class RawSocket {
  readonly #decoder = new FrameDecoder();
  readonly #waiting: (() => void)[] = [];
  ended = false;
  constructor(readonly socket: net.Socket) {
    socket.on("data", (chunk: Uint8Array) => {
      this.#decoder.push(new Uint8Array(chunk));
      this.#wake();
    });
    const end = () => {
      this.ended = true;
      this.#wake();
    };
    socket.on("close", end);
    socket.on("error", end);
  }
  #wake(): void {
    for (const wake of this.#waiting.splice(0)) wake();
  }
  send(text: string): void {
    this.socket.write(encodeFrame(text));
  }
  /** The next reply, or null once the server closed the connection. */
  async reply(): Promise<Reply | null> {
    for (;;) {
      const decoded = this.#decoder.next();
      if (decoded?.kind === "frame") return parseReply(decodePayload(decoded.payload));
      if (this.ended) return null;
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }
  async request(text: string): Promise<Reply | null> {
    this.send(text);
    return await this.reply();
  }
  close(): void {
    this.socket.destroy();
  }
}

Deno.test("serve() limits connections per address: one host holding many cannot keep another out", async () => {
  await using server = listen(new Gatekeeper(), {
    connectionsMax: 16,
    connectionsPerAddressMax: 4,
  });
  const port = server.listening.port;
  const hog: RawSocket[] = [];
  try {
    // The attack of issue 12: one host opens as many connections as it can.
    for (let i = 0; i < 20; i++) hog.push(await rawFrom("127.0.0.2", port));
    const replies = await Promise.all(hog.map((c) => c.request(`AUTH:client:${proof}`)));
    const served = replies.filter((reply) => reply?.ok).length;
    const busy = replies.filter((reply) => reply && !reply.ok && reply.reason === "busy");
    assert.equal(served, 4, "the host gets its share");
    assert.equal(busy.length, 16);
    assert.match(
      (busy[0] as { detail: string }).detail,
      /limit of 4 connections from 127\.0\.0\.2/,
    );
    // Another host is served all the same.
    const other = await rawFrom("127.0.0.3", port);
    hog.push(other);
    assert.deepEqual(await other.request(`AUTH:client:${proof}`), ack());
    assert.deepEqual(await other.request("GETS"), ack("127.0.0.3"));
  } finally {
    for (const connection of hog) connection.close();
  }
});

Deno.test("serve() does not count connections authenticated as runners or servers against their address", async () => {
  await using server = listen(new Gatekeeper(), { connectionsPerAddressMax: 2 });
  const port = server.listening.port;
  const open: RawSocket[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      for (const role of ["server", "runner"]) {
        const trusted = await rawFrom("127.0.0.4", port);
        open.push(trusted);
        assert.deepEqual(await trusted.request(`AUTH:${role}:${proof}`), ack(), `${role} ${i}`);
      }
    }
    const clients = [await rawFrom("127.0.0.4", port), await rawFrom("127.0.0.4", port)];
    open.push(...clients);
    assert.deepEqual(await clients[0]!.request("HELO"), ack("0".repeat(32)));
    assert.deepEqual(await clients[1]!.request("HELO"), ack("0".repeat(32)));
    const third = await rawFrom("127.0.0.4", port);
    open.push(third);
    const reply = await third.reply();
    assert.equal(reply && !reply.ok && reply.reason, "busy");
  } finally {
    for (const connection of open) connection.close();
  }
});

Deno.test("serve() closes a connection that does not authenticate in time, whatever it sends", async () => {
  await using server = listen(new Gatekeeper(), { handshakeMs: 300, idleMs: 10_000 });
  const port = server.listening.port;
  const junk = await rawFrom("127.0.0.5", port);
  const good = await rawFrom("127.0.0.5", port);
  try {
    assert.deepEqual(await good.request(`AUTH:client:${proof}`), ack());
    const started = performance.now();
    let replies = 0;
    // Unauthenticated requests every 50 ms do not keep the connection.
    while (!junk.ended && performance.now() - started < 5_000) {
      const reply = await junk.request("GETS");
      if (reply) {
        assert.equal(!reply.ok && reply.reason, "auth");
        replies++;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(junk.ended, "the server closed the unauthenticated connection");
    assert.ok(replies >= 2, `it was served NACK:auth meanwhile (${replies})`);
    assert.deepEqual(await good.request("GETS"), ack("127.0.0.5"), "authenticated stays");
  } finally {
    junk.close();
    good.close();
  }
});

Deno.test("serve() counts only useful requests as activity for the idle limit", async () => {
  await using server = listen(new Gatekeeper(), { idleMs: 400 });
  const port = server.listening.port;
  const refused = await rawFrom("127.0.0.6", port);
  const useful = await rawFrom("127.0.0.6", port);
  try {
    await refused.request(`AUTH:runner:${proof}`);
    await useful.request(`AUTH:runner:${proof}`);
    const started = performance.now();
    while (!refused.ended && performance.now() - started < 5_000) {
      await refused.request("BADD:x:00000000:1::");
      await useful.request("GETS");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(refused.ended, "requests refused as forbidden kept nothing alive");
    assert.equal(useful.ended, false, "a connection doing work is kept");
    assert.deepEqual(await useful.request("GETS"), ack("127.0.0.6"));
  } finally {
    refused.close();
    useful.close();
  }
});

Deno.test("serve() closes the connection after a reply that says so (too many failed AUTHs)", async () => {
  await using server = listen(new Gatekeeper());
  const conn = await rawFrom("127.0.0.7", server.listening.port);
  try {
    const reply = await conn.request(`AUTH:bad:${proof}`);
    assert.equal(reply && !reply.ok && reply.reason, "auth");
    assert.equal(await conn.reply(), null, "closed after the NACK");
  } finally {
    conn.close();
  }
});

Deno.test("countsPerAddress() counts clients only", () => {
  assert.deepEqual(
    (["client", "runner", "server"] as const).map(countsPerAddress),
    [true, false, false],
  );
});

Deno.test("admission() refuses at the total limit, then at the address's limit", () => {
  const limits = { total: 10, perAddress: 3, address: "192.0.2.1" };
  assert.equal(admission({ total: 9, fromAddress: 2 }, limits), null);
  assert.deepEqual(
    admission({ total: 10, fromAddress: 0 }, limits),
    nack("busy", "Server is at its limit of 10 connections"),
  );
  assert.deepEqual(
    admission({ total: 4, fromAddress: 3 }, limits),
    nack("busy", "Server is at its limit of 3 connections from 192.0.2.1"),
  );
});

Deno.test("serve() with a certificate speaks TLS; a client checks the CA and the name", async () => {
  const certificates = await makeCertificates();
  try {
    await using server = await listenTls(new Recorder(), {
      cert: certificates.cert,
      key: certificates.key,
    });
    const port = server.listening.port;
    const client = await Connection.open("127.0.0.1", port, {
      tls: { caCerts: [certificates.ca] },
    });
    try {
      assert.deepEqual(await client.request({ command: "GETS" }), ack("GETS"));
      // Replies of several TLS records, and requests pipelined behind each other.
      for (let i = 0; i < 5; i++) {
        const big = await client.request({ command: "STAT", hash: 1 });
        assert.equal(big.ok && big.fields[0]!.length, 60_000);
      }
      const many = await Promise.all(
        Array.from({ length: 20 }, () => client.request({ command: "GETS" })),
      );
      assert.ok(many.every((reply) => reply.ok));
    } finally {
      client.close();
    }
    // A CA that did not sign the server's certificate.
    await assert.rejects(
      Connection.open("127.0.0.1", port, {
        tls: { caCerts: [await Deno.readTextFile(certificates.otherCaFile)] },
      }),
      (error: ConnectionError) =>
        error.code === "tls" && /TLS handshake failed/.test(error.message),
    );
    // The system's store alone does not know the test CA either.
    await assert.rejects(
      Connection.open("127.0.0.1", port, { tls: {} }),
      (error: ConnectionError) => error.code === "tls",
    );
    // The right CA, the wrong name.
    const elsewhere = await makeCertificates(["DNS:elsewhere.example"]);
    try {
      await using misnamed = await listenTls(new Recorder(), {
        cert: elsewhere.cert,
        key: elsewhere.key,
      });
      await assert.rejects(
        Connection.open("127.0.0.1", misnamed.listening.port, { tls: { caCerts: [elsewhere.ca] } }),
        (error: ConnectionError) =>
          error.code === "tls" && /not valid for name/.test(error.message),
      );
    } finally {
      await Deno.remove(elsewhere.dir, { recursive: true });
    }
    // A client without TLS gets nothing it can use.
    const plain = await Connection.open("127.0.0.1", port, { requestTimeoutMs: 2_000 });
    await assert.rejects(plain.request({ command: "GETS" }), ConnectionError);
    plain.close();
    // Served all along.
    const again = await Connection.open("127.0.0.1", port, { tls: { caCerts: [certificates.ca] } });
    assert.deepEqual(await again.request({ command: "GETS" }), ack("GETS"));
    again.close();
  } finally {
    await Deno.remove(certificates.dir, { recursive: true });
  }
});

Deno.test("serveTls() bounds TLS handshakes per address and in time", async () => {
  const certificates = await makeCertificates();
  const raws: net.Socket[] = [];
  try {
    const listening = await serveTls(new Recorder(), {
      hostname: "127.0.0.1",
      port: 0,
      tls: { cert: certificates.cert, key: certificates.key },
      connectionsPerAddressMax: 4,
      frameReadMs: 500,
    });
    try {
      // Sockets that never start their TLS handshake.
      const closed: boolean[] = [];
      for (let i = 0; i < 10; i++) {
        const socket = net.connect({
          host: "127.0.0.1",
          port: listening.port,
          localAddress: "127.0.0.8",
        });
        raws.push(socket);
        closed.push(false);
        socket.on("close", () => (closed[i] = true));
        socket.on("error", () => {});
        await new Promise((resolve) => socket.once("connect", resolve));
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(closed.filter(Boolean).length, 6, "beyond 4 under way from one address: closed");
      // Another address shakes hands meanwhile.
      const client = await Connection.open("127.0.0.1", listening.port, {
        tls: { caCerts: [certificates.ca] },
      });
      assert.deepEqual(await client.request({ command: "GETS" }), ack("GETS"));
      client.close();
      const deadline = Date.now() + 5_000;
      while (!closed.every(Boolean) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.ok(closed.every(Boolean), "the silent ones are closed at the handshake deadline");
    } finally {
      listening.close();
      await listening.done;
    }
  } finally {
    for (const socket of raws) socket.destroy();
    await Deno.remove(certificates.dir, { recursive: true });
  }
});
Deno.test("serve() logs refusals with the client's address, and hang-ups and idle closes not at all", async () => {
  const lines: string[] = [];
  {
    await using server = listen(new Recorder(), {
      connectionsMax: 2,
      idleMs: 100,
      log: (line) => lines.push(line),
    });
    // Closed by the server when idle, and hung up by the client in the middle of a wait.
    const idle = await raw(server.listening);
    const waiting = await raw(server.listening);
    await writeAll(waiting, encodeFrame("GETJ:20000"));
    const third = await raw(server.listening);
    assert.equal((await readReply(third))?.ok, false);
    third.close();
    waiting.close();
    assert.equal(await readReply(idle), null);
    idle.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(server.listening.connections, 0);
  }
  assert.equal(lines.length, 1, lines.join("\n"));
  assert.match(
    lines[0]!,
    /^refused a connection from 127\.0\.0\.1: Server is at its limit of 2 connections$/,
  );
});
