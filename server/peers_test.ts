import assert from "node:assert/strict";
import { ConnectionError } from "../protocol/connection.ts";
import { ack, nack, type Reply, type Request } from "../protocol/message.ts";
import { serve } from "./listen.ts";
import { PeerPool, splitId } from "./peers.ts";
import type { Session } from "./session.ts";

/** A peer that records each request with the session's peer, and refuses PEER when told to. */
function peer(options: { refusePeer?: boolean } = {}) {
  const seen: { command: string; peer: string | null }[] = [];
  const listening = serve({
    handle(request: Request, session: Session): Promise<Reply> {
      seen.push({ command: request.command, peer: session.peer });
      if (request.command === "PEER") {
        if (options.refusePeer) return Promise.resolve(nack("forbidden", "not a peer"));
        session.peer = `${request.host}:${request.port}`;
      }
      return Promise.resolve(ack());
    },
  }, { hostname: "127.0.0.1", port: 0 });
  return {
    id: `127.0.0.1:${listening.port}`,
    seen,
    async [Symbol.asyncDispose]() {
      listening.close();
      await listening.done;
    },
  };
}

Deno.test("splitId() splits host:port at the last colon", () => {
  assert.deepEqual(splitId("host:7000"), { host: "host", port: 7000 });
  assert.deepEqual(splitId("a:b:1"), { host: "a:b", port: 1 });
});

Deno.test("PeerPool introduces each connection with PEER and reuses it", async () => {
  await using server = peer();
  const pool = new PeerPool({ host: "me", port: 9 });
  try {
    assert.ok((await pool.request(server.id, { command: "GETS" })).ok);
    assert.ok((await pool.request(server.id, { command: "HAVJ" })).ok);
    assert.deepEqual(server.seen, [
      { command: "PEER", peer: null },
      { command: "GETS", peer: "me:9" },
      { command: "HAVJ", peer: "me:9" },
    ]);
  } finally {
    pool.close();
  }
});

Deno.test("PeerPool opens a connection per request in flight, and keeps them for later", async () => {
  await using server = peer();
  const pool = new PeerPool({ host: "me", port: 9 });
  try {
    await Promise.all([1, 2, 3].map(() => pool.request(server.id, { command: "GETS" })));
    const hellos = server.seen.filter((entry) => entry.command === "PEER").length;
    assert.equal(hellos, 3);
    await Promise.all([1, 2, 3].map(() => pool.request(server.id, { command: "GETS" })));
    assert.equal(server.seen.filter((entry) => entry.command === "PEER").length, hellos);
    pool.forget(server.id);
    await pool.request(server.id, { command: "GETS" });
    assert.equal(server.seen.filter((entry) => entry.command === "PEER").length, hellos + 1);
  } finally {
    pool.close();
  }
});

Deno.test("PeerPool fails with a ConnectionError when the peer refuses PEER, is gone, or the pool closed", async () => {
  await using refusing = peer({ refusePeer: true });
  const pool = new PeerPool({ host: "me", port: 9 });
  await assert.rejects(
    pool.request(refusing.id, { command: "GETS" }),
    (error: ConnectionError) => error instanceof ConnectionError && error.code === "protocol",
  );
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const freePort = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await assert.rejects(
    pool.request(`127.0.0.1:${freePort}`, { command: "GETS" }),
    (error: ConnectionError) => error instanceof ConnectionError && error.code === "connect",
  );
  pool.close();
  await assert.rejects(
    pool.request(refusing.id, { command: "GETS" }),
    (error: ConnectionError) => error instanceof ConnectionError && error.code === "closed",
  );
});
