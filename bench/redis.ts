/**
 * The Redis peer of the object-store scenario: a redis-server on a free
 * loopback port, without persistence, driven through RESP (resp.ts).
 *
 * @module
 */

import type { ObjectStore } from "./object_store.ts";
import { runLoad } from "./load.ts";
import { freePort, type ProcessRegistry, waitForPort } from "./procs.ts";
import { openGetDriver, openSetDriver, RespConnection } from "./resp.ts";

/** Keys SET by writers cycle through this many, which bounds Redis' memory. */
const writerKeyCount = 100_000;
const hostname = "127.0.0.1";

/** Options of startRedis(). */
export interface RedisOptions {
  /** Path of redis-server. */
  server: string;
  /** Its version, for the label. */
  version: string;
  /** Directory for its log (and working directory). */
  dir: string;
}

/**
 * Start redis-server (`--save "" --appendonly no`, bound to 127.0.0.1 on a
 * free port) and wait until it answers PING.
 *
 * @throws {Error} when it does not answer within 10 s (the process is stopped).
 */
export async function startRedis(
  registry: ProcessRegistry,
  options: RedisOptions,
): Promise<ObjectStore> {
  const port = freePort();
  const process = registry.spawn("redis-server", options.server, [
    "--port",
    String(port),
    "--bind",
    hostname,
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    options.dir,
    "--logfile",
    `${options.dir}/redis-${port}.log`,
  ]); // deno-fmt-ignore
  try {
    await waitForPort(hostname, port, 10_000);
    const probe = await RespConnection.connect(hostname, port);
    const reply = await probe.request(new TextEncoder().encode("*1\r\n$4\r\nPING\r\n"));
    probe.close();
    if (reply !== "PONG") throw new Error(`Cannot start redis-server: PING answered ${String(reply)}`);
  } catch (error) {
    await process.stop();
    throw error;
  }
  const address = { hostname, port };
  let readable = { keyCount: 0, valueBytes: 0 };
  return {
    label: `redis ${options.version}`,
    pids: [process.pid],
    preload: async (count, valueBytes) => {
      const value = new Uint8Array(valueBytes).fill(114); // "r"
      const open = () => openSetDriver(address, { prefix: "read:", keyCount: count, value });
      await runLoad(open, { connections: 16, operations: count });
      readable = { keyCount: count, valueBytes };
    },
    openWriter: (valueBytes) => {
      const value = new Uint8Array(valueBytes).fill(119); // "w"
      return openSetDriver(address, { prefix: "write:", keyCount: writerKeyCount, value });
    },
    openReader: () => openGetDriver(address, { prefix: "read:", ...readable }),
    stop: async () => {
      await process.stop();
    },
  };
}
