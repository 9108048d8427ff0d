/**
 * What the hostile suite sets up on the host for its cases to look for (a
 * secret in the runner's environment, a marker file, loopback listeners, a
 * path in /tmp), and the helpers its cases share.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Ran } from "./_suite_helpers.ts";
import type { Sandbox } from "./sandbox.ts";

/** What the suite sets up on the host before the sandbox starts. */
export interface Host {
  /** Random value of CLOUD_TEST_SECRET in the test process's environment. */
  secret: string;
  /** A file outside the inputs, and its random content. */
  markerPath: string;
  markerContent: string;
  /** Two loopback listeners no job may reach, and the connections they saw. */
  ports: [number, number];
  connections: number;
  /** A path in the host's /tmp no job may create. */
  hostTmpPath: string;
}

export const host: Host = {
  secret: "",
  markerPath: "",
  markerContent: "",
  ports: [0, 0],
  connections: 0,
  hostTmpPath: "",
};

export async function setUpHost(): Promise<() => Promise<void>> {
  host.secret = `secret-${crypto.randomUUID()}`;
  Deno.env.set("CLOUD_TEST_SECRET", host.secret);
  const dir = await Deno.makeTempDir({ prefix: "cloud-hostile-" });
  host.markerPath = `${dir}/marker.txt`;
  host.markerContent = `marker-${crypto.randomUUID()}`;
  await Deno.writeTextFile(host.markerPath, host.markerContent);
  host.hostTmpPath = `/tmp/cloud-hostile-write-${crypto.randomUUID()}`;
  host.connections = 0;
  const listeners = [0, 1].map(() => Deno.listen({ hostname: "127.0.0.1", port: 0 }));
  host.ports = [listeners[0]!.addr.port, listeners[1]!.addr.port];
  const accepting = listeners.map(async (listener) => {
    for await (const conn of listener) {
      host.connections++;
      conn.close();
    }
  });
  return async () => {
    for (const listener of listeners) listener.close();
    await Promise.allSettled(accepting);
    Deno.env.delete("CLOUD_TEST_SECRET");
    await Deno.remove(dir, { recursive: true });
    assert.equal(host.connections, 0, "a job reached a loopback listener");
  };
}

/** Asserts no host secret or marker leaked into a job's output. */
export function assertNoLeak(ran: Ran): void {
  for (const text of [ran.stdout, ran.stderr]) {
    assert.ok(!text.includes(host.secret), "the environment secret leaked");
    assert.ok(!text.includes(host.markerContent), "the marker file leaked");
  }
}

export const py = (value: string | number) => JSON.stringify(value);

export type HostileCase = { name: string; run: (sandbox: Sandbox) => Promise<void> };
