import assert from "node:assert/strict";
import { ConnectionError } from "../protocol/connection.ts";
import { ack, nack, type Reply, type Request } from "../protocol/message.ts";
import { serve } from "../server/listen.ts";
import { CloudError } from "./errors.ts";
import { Servers } from "./servers.ts";

/** A server answering every request with its own name, or `busy`. */
function fake(name: string, options: { busy?: boolean } = {}) {
  const seen: string[] = [];
  const listening = serve({
    handle(request: Request): Promise<Reply> {
      seen.push(request.command);
      return Promise.resolve(options.busy ? nack("busy", "full") : ack(name));
    },
  }, { hostname: "127.0.0.1", port: 0 });
  return {
    port: listening.port,
    address: `127.0.0.1:${listening.port}`,
    seen,
    close: () => listening.close(),
    async [Symbol.asyncDispose]() {
      listening.close();
      await listening.done;
    },
  };
}

Deno.test("Servers.request() fails over to the next server it learned of", async () => {
  await using a = fake("a");
  await using b = fake("b");
  const servers = new Servers("127.0.0.1", a.port, { parallel: 1 });
  try {
    servers.learn([
      { host: "127.0.0.1", port: a.port, salt: 0 },
      { host: "127.0.0.1", port: b.port, salt: 0 },
    ]);
    assert.deepEqual(await servers.request({ command: "GETS" }), ack("a"));
    a.close();
    assert.deepEqual(await servers.request({ command: "GETS" }), ack("b"));
    assert.equal(servers.current, b.address);
  } finally {
    servers.close();
  }
});

Deno.test("Servers.learn() builds the ring of the server table, and requestVia() sends to an owner", async () => {
  await using a = fake("a");
  await using b = fake("b");
  const servers = new Servers("127.0.0.1", a.port, { parallel: 1 });
  try {
    servers.learn([
      { host: "127.0.0.1", port: a.port, salt: 0 },
      { host: "127.0.0.1", port: b.port, salt: 0 },
      { host: "127.0.0.1", port: b.port, salt: 1 },
    ]);
    assert.deepEqual(servers.ring?.members, [a.address, b.address].sort());
    assert.equal(servers.ring?.positions.length, 3);
    assert.deepEqual(await servers.requestVia(b.address, { command: "GETS" }), ack("b"));
    b.close();
    // The owner is gone: the request goes through the current server, and the ring is dropped.
    assert.deepEqual(await servers.requestVia(b.address, { command: "GETS" }), ack("a"));
    assert.equal(servers.ring, undefined);
  } finally {
    servers.close();
  }
});

Deno.test("Servers.requestAt() says busy as a CloudError; closed Servers fail at once", async () => {
  await using busy = fake("x", { busy: true });
  const servers = new Servers("127.0.0.1", busy.port, { parallel: 1 });
  await assert.rejects(
    servers.requestAt(busy.address, { command: "GETS" }),
    (error: CloudError) => error instanceof CloudError && error.reason === "busy",
  );
  servers.close();
  await assert.rejects(
    servers.request({ command: "GETS" }),
    (error: ConnectionError) => error instanceof ConnectionError && error.code === "closed",
  );
});

Deno.test("Servers.request() with no server answering throws the last connection error", async () => {
  await using a = fake("a");
  const servers = new Servers("127.0.0.1", a.port, { parallel: 1 });
  a.close();
  await a[Symbol.asyncDispose]();
  try {
    await assert.rejects(
      servers.request({ command: "GETS" }),
      (error: ConnectionError) => error instanceof ConnectionError && error.code === "connect",
    );
  } finally {
    servers.close();
  }
});
