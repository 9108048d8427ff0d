/**
 * A client process run inside a host's network namespace
 * (`ip netns exec <ns> deno run -A agent.ts`). The test talks to it in JSON
 * lines: one request per line on stdin (`{id, op, ...}`), one reply per line
 * on stdout (`{id, ok, value}` or `{id, ok: false, error}`), many requests
 * in flight at once. Each operation goes through the client library as a
 * user's program would; the test records start, end and outcome.
 *
 * @module
 */

import { CloudError, ComputeCloud } from "../../client/cloud.ts";
import { Connection, ConnectionError } from "../../protocol/connection.ts";
import { fromPullFields } from "../../server/codec.ts";
import { versionOf } from "../../server/objects.ts";
import { parseServers } from "../../protocol/message.ts";
import { Ring } from "../../protocol/ring.ts";

/** Why an operation did not succeed. */
export interface AgentError {
  /** `nack`: the server refused; `connection`: no server answered; `timeout`; `error`: anything else. */
  readonly kind: "nack" | "connection" | "timeout" | "error";
  readonly reason: string;
  readonly message: string;
}

/** One reply line. */
export type AgentReply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: AgentError };

/** The requests an agent serves (`server` is `host:port`). */
export type AgentRequest =
  | { op: "add"; server: string; name: string; text: string }
  | { op: "get"; server: string; hash: string }
  | {
    op: "job";
    server: string;
    name: string;
    code: string;
    outputName: string;
    inputs: string[];
  }
  | { op: "output"; server: string; hash: string; timeoutMs: number }
  | { op: "info"; server: string }
  | { op: "copies"; servers: string[]; hashes: string[]; replicas: number }
  | { op: "writes"; servers: string[]; durationMs: number; prefix: string }
  | { op: "reads"; servers: string[]; durationMs: number; hashes: string[] };

/** What `copies` answers per hash: its rightful owners, who holds it, at which versions. */
export interface CopyCount {
  readonly hash: string;
  /** The owners by the ring the first server's GETS describes. */
  readonly owners: string[];
  readonly holders: string[];
  readonly versions: number[];
}

/** What `writes` answers: every write's latency, and the acknowledged ones. */
export interface WriteLoopResult {
  readonly attempted: number;
  /** From the first write's start to the last one's end (the last may end after `durationMs`). */
  readonly elapsedMs: number;
  readonly latenciesMs: number[];
  readonly acked: { hash: string; name: string; text: string }[];
  readonly failures: number;
}

const clients = new Map<string, ComputeCloud>();
/** Replies must come within this long: a client blocked on a silent peer is cut short. */
const requestTimeoutMs = 8_000;

function clientOf(server: string): ComputeCloud {
  let cloud = clients.get(server);
  if (!cloud) {
    const { host, port } = split(server);
    cloud = new ComputeCloud(host, port, { requestTimeoutMs, connections: 4 });
    clients.set(server, cloud);
    // Learns the other servers to fail over to, as a real client does.
    cloud.refreshServers().catch(() => {});
  }
  return cloud;
}

function split(server: string): { host: string; port: number } {
  const colon = server.lastIndexOf(":");
  return { host: server.slice(0, colon), port: Number(server.slice(colon + 1)) };
}

function errorOf(error: unknown): AgentError {
  if (error instanceof CloudError) {
    return { kind: "nack", reason: error.reason, message: error.message };
  }
  if (error instanceof ConnectionError) {
    return {
      kind: error.code === "timeout" ? "timeout" : "connection",
      reason: error.code,
      message: error.message,
    };
  }
  return { kind: "error", reason: "error", message: String((error as Error)?.message ?? error) };
}

async function serve(request: AgentRequest): Promise<unknown> {
  switch (request.op) {
    case "add": {
      const file = await clientOf(request.server).addString(request.name, request.text);
      return file.hash;
    }
    case "get":
      return await clientOf(request.server).file(request.hash).text({ timeoutMs: 0 });
    case "job": {
      const [job, output] = await clientOf(request.server).addJob(
        request.name,
        request.code,
        request.outputName,
        request.inputs,
      );
      return { job: job.hash, output: output.hash };
    }
    case "output":
      return await clientOf(request.server).file(request.hash).text({
        timeoutMs: request.timeoutMs,
      });
    case "info": {
      const { host, port } = split(request.server);
      const cloud = new ComputeCloud(host, port, { requestTimeoutMs: 5_000 });
      try {
        return await cloud.info();
      } finally {
        cloud.close();
      }
    }
    case "copies":
      return await copies(request.servers, request.hashes, request.replicas);
    case "writes":
      return await writes(request.servers, request.durationMs, request.prefix);
    case "reads":
      return await reads(request.servers, request.durationMs, request.hashes);
  }
}

/**
 * Who holds each hash (PULL answers from the local store only), at which
 * version, and who should by the ring of the first server.
 */
async function copies(
  servers: string[],
  hashes: string[],
  replicas: number,
): Promise<CopyCount[]> {
  const first = split(servers[0]!);
  const table = await Connection.open(first.host, first.port, {
    connectTimeoutMs: 2_000,
    requestTimeoutMs: 5_000,
  });
  let ring: Ring;
  try {
    const reply = await table.request({ command: "GETS" });
    if (!reply.ok) throw new Error(`GETS refused: ${reply.reason}`);
    const members = new Map<string, { id: string; salts: number[] }>();
    for (const record of parseServers(reply.fields)) {
      const id = `${record.host}:${record.port}`;
      const member = members.get(id) ?? { id, salts: [] };
      member.salts.push(record.salt);
      members.set(id, member);
    }
    ring = new Ring([...members.values()]);
  } finally {
    table.close();
  }
  const counts = hashes.map((hash) => ({
    hash,
    owners: ring.owners(Number.parseInt(hash, 16), replicas),
    holders: [] as string[],
    versions: [] as number[],
  }));
  await Promise.all(servers.map(async (server) => {
    const { host, port } = split(server);
    const connection = await Connection.open(host, port, {
      connectTimeoutMs: 2_000,
      requestTimeoutMs: 5_000,
    });
    try {
      for (const count of counts) {
        const reply = await connection.request({
          command: "PULL",
          hash: Number.parseInt(count.hash, 16),
          metaOnly: true,
        });
        if (!reply.ok) continue;
        count.holders.push(server);
        count.versions.push(versionOf(fromPullFields(reply.fields).meta));
      }
    } finally {
      connection.close();
    }
  }));
  return counts;
}

/**
 * Small writes one after another for `durationMs`, each on a new
 * connection, through `servers` in turn (issue 19's measurement).
 */
async function writes(
  servers: string[],
  durationMs: number,
  prefix: string,
): Promise<WriteLoopResult> {
  const begin = performance.now();
  const end = begin + durationMs;
  const latenciesMs: number[] = [];
  const acked: WriteLoopResult["acked"] = [];
  let failures = 0;
  let attempted = 0;
  for (let i = 0; performance.now() < end; i++) {
    const server = servers[i % servers.length]!;
    const { host, port } = split(server);
    const cloud = new ComputeCloud(host, port, { requestTimeoutMs: 30_000, direct: false });
    const name = `${prefix}${i}`;
    const text = `${name} ${crypto.randomUUID()}`;
    const started = performance.now();
    attempted++;
    try {
      const file = await cloud.addString(name, text);
      acked.push({ hash: file.hash, name, text });
    } catch {
      failures++;
    } finally {
      cloud.close();
    }
    latenciesMs.push(performance.now() - started);
  }
  return { attempted, elapsedMs: performance.now() - begin, latenciesMs, acked, failures };
}

/** What `reads` answers: every read's latency and how many failed. */
export interface ReadLoopResult {
  readonly attempted: number;
  /** From the first read's start to the last one's end. */
  readonly elapsedMs: number;
  readonly latenciesMs: number[];
  readonly failures: number;
}

/**
 * Reads of `hashes` one after another for `durationMs`, each on a new
 * connection, through `servers` in turn (issue 19's measurement).
 */
async function reads(
  servers: string[],
  durationMs: number,
  hashes: string[],
): Promise<ReadLoopResult> {
  const begin = performance.now();
  const end = begin + durationMs;
  const latenciesMs: number[] = [];
  let failures = 0;
  let attempted = 0;
  for (let i = 0; performance.now() < end && hashes.length > 0; i++) {
    const { host, port } = split(servers[i % servers.length]!);
    const cloud = new ComputeCloud(host, port, { requestTimeoutMs: 30_000, direct: false });
    const started = performance.now();
    attempted++;
    try {
      await cloud.file(hashes[i % hashes.length]!).get({ timeoutMs: 0 });
    } catch {
      failures++;
    } finally {
      cloud.close();
    }
    latenciesMs.push(performance.now() - started);
  }
  return { attempted, elapsedMs: performance.now() - begin, latenciesMs, failures };
}

async function main(): Promise<void> {
  const encoder = new TextEncoder();
  const out = Deno.stdout.writable.getWriter();
  let writing = Promise.resolve();
  const send = (reply: AgentReply) => {
    writing = writing.then(() => out.write(encoder.encode(JSON.stringify(reply) + "\n")));
  };
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let buffered = "";
  for await (const chunk of lines) {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.trim() === "") continue;
      const { id, ...request } = JSON.parse(line) as AgentRequest & { id: number };
      serve(request as AgentRequest).then(
        (value) => send({ id, ok: true, value: value ?? null }),
        (error) => send({ id, ok: false, error: errorOf(error) }),
      );
    }
  }
  for (const cloud of clients.values()) cloud.close();
  await writing;
  Deno.exit(0);
}

if (import.meta.main) {
  // A bug in a background part of the library must not end the agent.
  globalThis.addEventListener("unhandledrejection", (event) => event.preventDefault());
  await main();
}
