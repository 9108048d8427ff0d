/**
 * Test helper: a ring of real servers in this process, on loopback ports,
 * stores in memory, for the client library's tests; `await using` stops it.
 *
 * @module
 */

import { type RunningServer, startServer } from "../server/server.ts";

/** A ring of `count` in-process servers on loopback, stores in memory. */
export async function ring(count: number) {
  const servers: RunningServer[] = [];
  for (let i = 0; i < count; i++) {
    servers.push(
      await startServer({
        port: 0,
        listen: "127.0.0.1",
        advertise: "127.0.0.1",
        dataDir: ":memory:",
        replicas: 2,
        vnodes: 4,
        leaseMs: 60_000,
        connectionsMax: 64,
        ...(i > 0 ? { join: { host: "127.0.0.1", port: servers[0]!.port } } : {}),
      }),
    );
  }
  const stopped = new Set<RunningServer>();
  return {
    servers,
    async stop(server: RunningServer) {
      stopped.add(server);
      await server.close();
    },
    async [Symbol.asyncDispose]() {
      for (const server of servers) if (!stopped.has(server)) await server.close();
    },
  };
}
