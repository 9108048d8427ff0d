import assert from "node:assert/strict";
import { Connection, writeAll } from "../protocol/connection.ts";
import { encodeFrame } from "../protocol/frame.ts";
import { ack } from "../protocol/message.ts";
import { serve } from "./listen.ts";
import { listen, raw, readReply, Recorder } from "./_listen_test_kit.ts";

Deno.test("serve() answers requests in order, each connection with its own session", async () => {
  const handler = new Recorder();
  await using server = listen(handler);
  const peer = await Connection.open("127.0.0.1", server.listening.port);
  const client = await Connection.open("127.0.0.1", server.listening.port);
  try {
    assert.deepEqual(await peer.request({ command: "PEER", host: "p", port: 1 }), ack());
    assert.deepEqual(await peer.request({ command: "GETS" }), ack("GETS"));
    assert.deepEqual(await client.request({ command: "GETS" }), ack("GETS"));
    assert.deepEqual(handler.served.slice(1), [
      { command: "GETS", peer: "p:1" },
      { command: "GETS", peer: null },
    ]);
  } finally {
    peer.close();
    client.close();
  }
});

Deno.test("serve() answers a bad checksum with NACK:checksum and keeps the connection", async () => {
  await using server = listen(new Recorder());
  const conn = await raw(server.listening);
  try {
    const frame = encodeFrame("GETS");
    frame[4] = "0".charCodeAt(0);
    frame[5] = "0".charCodeAt(0);
    await writeAll(conn, frame);
    const reply = await readReply(conn);
    assert.equal(reply && !reply.ok && reply.reason, "checksum");
    await writeAll(conn, encodeFrame("GETS"));
    assert.deepEqual(await readReply(conn), ack("GETS"));
  } finally {
    conn.close();
  }
});

Deno.test("serve() answers a broken frame with NACK:frame and closes; STOP closes politely", async () => {
  await using server = listen(new Recorder());
  const broken = await raw(server.listening);
  try {
    await writeAll(broken, new TextEncoder().encode("zzzzzzGETS\0"));
    const reply = await readReply(broken);
    assert.equal(reply && !reply.ok && reply.reason, "frame");
    assert.equal(await readReply(broken), null, "closed");
  } finally {
    broken.close();
  }
  const stopping = await raw(server.listening);
  try {
    await writeAll(stopping, encodeFrame("STOP"));
    assert.equal(await readReply(stopping), null);
  } finally {
    stopping.close();
  }
});

Deno.test("serve() refuses connections beyond its limit with NACK:busy", async () => {
  await using server = listen(new Recorder(), { connectionsMax: 1 });
  const first = await Connection.open("127.0.0.1", server.listening.port);
  try {
    assert.ok((await first.request({ command: "GETS" })).ok);
    const second = await raw(server.listening);
    try {
      const reply = await readReply(second);
      assert.equal(reply && !reply.ok && reply.reason, "busy");
    } finally {
      second.close();
    }
  } finally {
    first.close();
  }
});

Deno.test("serve() aborts a waiting request's hang-up signal when the client goes away", async () => {
  const handler = new Recorder();
  await using server = listen(handler);
  const conn = await raw(server.listening);
  await writeAll(conn, encodeFrame("GETJ:20000"));
  await new Promise((resolve) => setTimeout(resolve, 50));
  conn.close();
  const deadline = Date.now() + 5_000;
  while (handler.hungUp.length === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.deepEqual(handler.hungUp, [true]);
});

Deno.test("serve() closes a connection idle past its limit", async () => {
  await using server = listen(new Recorder(), { idleMs: 100 });
  const conn = await raw(server.listening);
  try {
    assert.equal(await readReply(conn), null, "closed by the server");
  } finally {
    conn.close();
  }
});

Deno.test("serve() turns a reply too large for a frame into NACK:too-large", async () => {
  await using server = listen(new Recorder());
  const client = await Connection.open("127.0.0.1", server.listening.port);
  try {
    const reply = await client.request({ command: "INFO" });
    assert.equal(!reply.ok && reply.reason, "too-large");
    assert.ok((await client.request({ command: "GETS" })).ok, "the connection stays usable");
  } finally {
    client.close();
  }
});

Deno.test("serve() names the trouble when the port is taken", async () => {
  await using server = listen(new Recorder());
  assert.throws(
    () => serve(new Recorder(), { hostname: "127.0.0.1", port: server.listening.port }),
    /Cannot listen on 127\.0\.0\.1:\d+: the port is in use/,
  );
});
