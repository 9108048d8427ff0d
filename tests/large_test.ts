/**
 * Large objects end to end, with real server processes on loopback:
 * chunked files through a 3-server ring at the sizes around the inline
 * limit and at 50 MB, streaming and CLI downloads, a job reading and
 * writing 20 MB through the real runner, missing and corrupt chunks found
 * and named, and a server's memory bounded during a 200 MB transfer.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import { CloudError, type ComputeCloud, type FileObject } from "../client/cloud.ts";
import { decodeManifest, type Manifest } from "../protocol/manifest.ts";
import { formatHash } from "../protocol/hash.ts";
import { inlineBytesMax } from "../limits.ts";
import { runJobs } from "../runner/runner.ts";
import { createSandbox } from "../runner/sandbox/select.ts";
import { Cluster, eventually, runCloud, type ServerProcess } from "./harness.ts";

/**
 * Peak resident memory a server may reach while 200 MB pass through it
 * (measured ~110 MB: the Deno runtime and V8 heap, SQLite's page cache, and
 * a few 64 KiB frames per connection; the data itself never accumulates).
 */
const serverRssBytesMax = 200 * 1024 * 1024;

/** `size` random bytes (getRandomValues fills at most 64 KiB per call). */
function randomBytes(size: number): Uint8Array {
  const data = new Uint8Array(size);
  for (let offset = 0; offset < size; offset += 65_536) {
    crypto.getRandomValues(data.subarray(offset, Math.min(size, offset + 65_536)));
  }
  return data;
}

/** A stream of `size` random bytes in pieces of uneven sizes, and the SHA-256 it had. */
function randomStream(
  size: number,
): { stream: ReadableStream<Uint8Array>; sha256: Promise<string> } {
  const hash = createHash("sha256");
  let sent = 0;
  let done: (digest: string) => void;
  const sha256 = new Promise<string>((resolve) => (done = resolve));
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= size) {
        done(hash.digest("hex"));
        return controller.close();
      }
      const piece = new Uint8Array(Math.min(size - sent, 1000 + (Math.floor(sent / 7) % 64_536)));
      crypto.getRandomValues(piece);
      hash.update(piece);
      sent += piece.length;
      controller.enqueue(piece);
    },
  });
  return { stream, sha256 };
}

async function streamedSha256(file: FileObject): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of file.stream()) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest("hex"), size };
}

async function manifestOf(cloud: ComputeCloud, file: FileObject): Promise<Manifest> {
  const [encoded] = await cloud.call({ command: "GETM", hash: file.hashValue });
  return decodeManifest(Uint8Array.fromBase64(encoded!));
}

/** Runs `sql` with `params` on the SQLite store of every server, while they run. */
function onEveryStore(
  servers: readonly ServerProcess[],
  sql: string,
  ...params: (number | Uint8Array)[]
): number {
  let changed = 0;
  for (const server of servers) {
    const db = new DatabaseSync(`${server.dataDir}/store.sqlite`);
    try {
      db.exec("PRAGMA busy_timeout = 5000");
      changed += Number(db.prepare(sql).run(...params).changes);
    } finally {
      db.close();
    }
  }
  return changed;
}

/**
 * Waits until every server sees every other one alive and has finished
 * reconciling, so that writes land on their final owners (no stray copies
 * that repair would move later).
 */
async function settled(cluster: Cluster): Promise<void> {
  await eventually(async () => {
    for (const server of cluster.servers) {
      const cloud = server.client({ connections: 1 });
      try {
        const info = await cloud.info();
        const members = info.members as { alive: boolean }[];
        if (info.reconciling || members.filter((m) => m.alive).length !== cluster.servers.length) {
          return false;
        }
      } finally {
        cloud.close();
      }
    }
    return true;
  }, { what: "the ring to settle" });
}

/** Deletes the object at `hash` from every server's store until no copy is left. */
async function deleteEverywhere(servers: readonly ServerProcess[], hash: number): Promise<number> {
  let deleted = 0;
  await eventually(() => {
    deleted += onEveryStore(servers, "DELETE FROM objects WHERE hash = ?", hash);
    return onEveryStore(servers, "DELETE FROM objects WHERE hash = ?", hash) === 0;
  }, { what: `no copy of ${formatHash(hash)} left` });
  return deleted;
}

async function rejection(work: Promise<unknown>): Promise<CloudError> {
  try {
    await work;
  } catch (error) {
    assert.ok(error instanceof CloudError, `threw ${(error as Error).stack ?? error}`);
    return error;
  }
  throw new Error("Expected a rejection");
}

function peakRssBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const match = /^VmHWM:\s+([0-9]+) kB$/m.exec(status);
  assert.ok(match, "VmHWM in /proc/<pid>/status");
  return Number(match[1]) * 1024;
}

Deno.test("chunked files round-trip through a 3-server ring at every size around the inline limit", async () => {
  await using cluster = await Cluster.start(3);
  const server = cluster.servers[0]!;
  const cloud = server.client();
  await cloud.refreshServers();
  try {
    for (const size of [0, 1, inlineBytesMax, inlineBytesMax + 1, 3 * inlineBytesMax + 17]) {
      const data = randomBytes(size);
      const file = await cloud.addBytes(`f${size}`, data);
      assert.deepEqual(await file.get(), data, `${size} bytes`);
      const status = await file.status();
      assert.equal(status.size, size);
      assert.equal(status.chunked, size > inlineBytesMax ? true : undefined, `${size} bytes`);
      const again = await cloud.addBytes(`f${size}`, data);
      assert.equal(again.hash, file.hash, "identical content under one name is stored once");
    }
    const vector = Uint8Array.fromBase64(
      "Y21hbgEBAAMAAAAoAAAAAAAAAGQoFll4iOSg06NrgrgzFqsyaA648A+M07kE1oEkbShaDt162eLjPN+cf3EguQAAACjdetni4zzfnH9xILkAAAAoJ6JeQEJJLaBiNK0KAAAAFA==",
    );
    assert.deepEqual(await cloud.call({ command: "MADD", name: "big", manifest: vector }), [
      "93304150",
    ], "docs/PROTOCOL.md 9.10");
    assert.deepEqual(await cloud.call({ command: "GETM", hash: 0x93304150 }), [vector.toBase64()]);
    const bad = await cloud.request({ command: "MADD", name: "big", manifest: vector.subarray(1) });
    assert.equal(!bad.ok && bad.reason, "manifest");
    const unread = await rejection(cloud.file(0x93304150).get());
    assert.equal(unread.reason, "chunk-missing", "MADD does not check that the chunks exist");
    const small = await cloud.addString("small", "x");
    const notChunked = await cloud.request({ command: "GETM", hash: small.hashValue });
    assert.equal(!notChunked.ok && notChunked.reason, "not-chunked");
  } finally {
    cloud.close();
  }
});

Deno.test("a 50 MB file streams up and down through a 3-server ring intact", async () => {
  await using cluster = await Cluster.start(3);
  const server = cluster.servers[1]!;
  const cloud = server.client();
  try {
    const size = 50_000_000;
    const { stream, sha256 } = randomStream(size);
    let reported = 0;
    const file = await cloud.addStream("big", stream, {
      onProgress: (bytes) => (reported = bytes),
    });
    assert.equal(reported, size);
    const manifest = await manifestOf(cloud, file);
    assert.equal(manifest.size, size);
    assert.equal(manifest.sha256, await sha256);
    const got = await cloud.request({ command: "GET", hash: file.hashValue });
    assert.equal(!got.ok && got.reason, "chunked");
    const read = await streamedSha256(file);
    assert.deepEqual(read, { sha256: await sha256, size });

    const other = cluster.servers[2]!.client({ connections: 2 });
    try {
      const path = await Deno.makeTempFile();
      try {
        assert.equal(await other.file(file.hash).download(path), size);
        const { size: onDisk } = await Deno.stat(path);
        assert.equal(onDisk, size);
      } finally {
        await Deno.remove(path);
      }
    } finally {
      other.close();
    }
  } finally {
    cloud.close();
  }
});

Deno.test("cloud client add-file and get -o stream a chunked file", async () => {
  await using cluster = await Cluster.start(2);
  const server = cluster.servers[0]!;
  const dir = await Deno.makeTempDir();
  try {
    const data = randomBytes(5 * inlineBytesMax + 3);
    await Deno.writeFile(`${dir}/in.bin`, data);
    const added = await runCloud(["client", "-s", server.id, "add-file", "data", `${dir}/in.bin`]);
    assert.equal(added.code, 0, added.stderr);
    assert.equal(added.stderr, "", "no progress line without a terminal");
    const hash = added.stdout.trim();
    const fetched = await runCloud([
      "client",
      "-s",
      server.id,
      "get",
      hash,
      "-o",
      `${dir}/out.bin`,
    ]);
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.deepEqual(await Deno.readFile(`${dir}/out.bin`), data);
    const piped = await runCloud(["client", "-s", server.id, "add-file", "--json", "data", "-"], {
      stdin: data,
    });
    assert.deepEqual(JSON.parse(piped.stdout), { hash, name: "data", size: data.length });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a missing chunk is reported naming the file and the chunk", async () => {
  await using cluster = await Cluster.start(3);
  await settled(cluster);
  const cloud = cluster.servers[0]!.client();
  try {
    const file = await cloud.addBytes(
      "gappy",
      randomBytes(40 * inlineBytesMax),
    );
    const manifest = await manifestOf(cloud, file);
    const lost = manifest.refs[17]!.hash;
    assert.ok(await deleteEverywhere(cluster.servers, lost) >= 2, "the chunk had two copies");
    const error = await rejection(streamedSha256(file));
    assert.equal(error.reason, "chunk-missing");
    assert.ok(error.message.includes(`file ${file.hash}`), error.message);
    assert.ok(error.message.includes(`chunk 17 of 40 (${formatHash(lost)})`), error.message);

    const cli = await runCloud(["client", "-s", cluster.servers[1]!.id, "get", file.hash]);
    assert.equal(cli.code, 1, cli.stderr);
    assert.match(cli.stderr, new RegExp(`chunk 17 of 40 \\(${formatHash(lost)}\\) is missing`));
  } finally {
    cloud.close();
  }
});

Deno.test("a corrupt chunk is detected, and read from an intact copy when one exists", async () => {
  await using cluster = await Cluster.start(3);
  await settled(cluster);
  const cloud = cluster.servers[2]!.client();
  await cloud.refreshServers();
  try {
    const data = randomBytes(10 * inlineBytesMax);
    const file = await cloud.addBytes("rotten", data);
    const manifest = await manifestOf(cloud, file);
    const [first, second] = [manifest.refs[3]!.hash, manifest.refs[8]!.hash];
    const flipped = (index: number) => {
      const bad = data.slice(index * inlineBytesMax, (index + 1) * inlineBytesMax);
      bad[100]! ^= 0x40;
      return bad;
    };
    const holders = cluster.servers.filter((server) => {
      const db = new DatabaseSync(`${server.dataDir}/store.sqlite`, { readOnly: true });
      try {
        return db.prepare("SELECT 1 FROM objects WHERE hash = ?").get(first) !== undefined;
      } finally {
        db.close();
      }
    });
    assert.equal(holders.length, 2);
    onEveryStore(
      [holders[0]!],
      "UPDATE blobs SET data = ? WHERE id = (SELECT blob FROM objects WHERE hash = ?)",
      flipped(3),
      first,
    );
    assert.deepEqual(await file.get(), data, "one bad copy: the other one is read");

    onEveryStore(
      cluster.servers,
      "UPDATE blobs SET data = ? WHERE id = (SELECT blob FROM objects WHERE hash = ?)",
      flipped(8),
      second,
    );
    const error = await rejection(file.get());
    assert.equal(error.reason, "chunk-corrupt");
    assert.ok(
      error.message.includes(`file ${file.hash}: chunk 8 of 10 (${formatHash(second)}) is corrupt`),
      error.message,
    );
  } finally {
    cloud.close();
  }
});

Deno.test("a job reads a 20 MB input and writes a 20 MB output through the real runner", async () => {
  await using cluster = await Cluster.start(2);
  const server = cluster.servers[0]!;
  const cloud = server.client();
  const workDir = await Deno.makeTempDir({ prefix: "cloud-test-runner-" });
  const sandbox = await createSandbox({ kind: "auto", warm: 0 });
  try {
    const size = 20_000_000;
    const data = randomBytes(size);
    const input = await cloud.addBytes("data", data);
    const code = [
      "import sys",
      "data = open('/net/data', 'rb').read()",
      "sys.stderr.write('read %d bytes\\n' % len(data) + 'x' * 20000)",
      "sys.stdout.buffer.write(data[::-1])",
    ].join("\n");
    const [job, output] = await cloud.addJob("reverse", code, "reversed", [input]);
    const summary = await runJobs({
      host: server.host,
      port: server.port,
      sandbox,
      jobs: 1,
      watch: false,
      workDir,
      security: server.cloudOptions("runner"),
    });
    assert.deepEqual(summary, { done: 1, failed: 0, returned: 0 });
    const status = await output.status();
    assert.equal(status.chunked, true);
    assert.equal(status.size, size);
    const expected = createHash("sha256").update(data.reverse()).digest("hex");
    assert.deepEqual(await streamedSha256(output), { sha256: expected, size });
    const stderr = new TextDecoder().decode(await job.get());
    assert.ok(stderr.startsWith(`read ${size} bytes\n`), stderr.slice(0, 100));
    assert.ok(stderr.length <= 8 * 1024 + 100, `stderr capped (${stderr.length})`);
  } finally {
    cloud.close();
    await sandbox.close();
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
  }
});

Deno.test("a server's peak memory stays bounded while 200 MB pass through it", async () => {
  await using cluster = await Cluster.start(1);
  const server = cluster.servers[0]!;
  const cloud = server.client();
  try {
    const size = 200_000_000;
    const { stream, sha256 } = randomStream(size);
    const file = await cloud.addStream("huge", stream);
    assert.deepEqual(await streamedSha256(file), { sha256: await sha256, size });
    const peak = peakRssBytes(server.pid);
    console.log(`server peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB`);
    assert.ok(
      peak < serverRssBytesMax,
      `server peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB exceeds ${
        serverRssBytesMax / 2 ** 20
      } MiB`,
    );
  } finally {
    cloud.close();
  }
});
