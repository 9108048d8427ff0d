/**
 * `deno run -A bench/tls.ts [--quick] [--runs N] [--mb N]`: what
 * authentication and TLS cost, on this machine, in one run. Three setups of
 * the same server(s) on loopback: open (no auth file, plain TCP), auth
 * (auth file, HELO/AUTH on every connection), auth + TLS (certificates from
 * tests/certificates.ts, TLS everywhere, peers included). Measured for each:
 *
 * - GET of 1 KB objects on one server, 1 and 16 connections back to back
 *   (bench/load.ts), ops/s and p50/p99;
 * - bulk: upload then download of one file through a 3-server ring with 2
 *   copies (chunks straight to their owners), MB/s each way;
 * - the cost of a new connection: connect (+ TLS handshake) (+ HELO, AUTH)
 *   and one GETS, sequentially, median and p99 per connection.
 *
 * Every figure is the median of `--runs` runs (5; 3 with `--quick`). It
 * reports, it never fails because of a figure.
 *
 * @module
 */

import { initAuth } from "../cli/auth_init.ts";
import { Connection, type ConnectOptions } from "../protocol/connection.ts";
import { makeCertificates, type TestCertificates } from "../tests/certificates.ts";
import { Cluster, ServerProcess, TestAuth } from "../tests/harness.ts";
import { runLoad } from "./load.ts";
import { summarize } from "./stats.ts";

const args = Deno.args;
const quick = args.includes("--quick");
const flag = (name: string, fallback: number) => {
  const at = args.indexOf(name);
  return at < 0 ? fallback : Number(args[at + 1]);
};
const runs = flag("--runs", quick ? 3 : 5);
const bulkMb = flag("--mb", quick ? 32 : 200);
const loadMs = quick ? 1_000 : 2_000;
const connectionsMeasured = quick ? 100 : 300;

interface Setup {
  readonly label: string;
  readonly auth: TestAuth | false;
  readonly tls?: TestCertificates;
}

function median(values: number[]): string {
  const figure = summarize(values);
  return `${figure.median.toFixed(2)} (${figure.min.toFixed(2)}–${figure.max.toFixed(2)})`;
}

/** Stores 1000 objects of 1 KB on `server`; their hashes. */
async function preload(server: ServerProcess): Promise<number[]> {
  const hashes: number[] = [];
  const loader = server.client();
  try {
    for (let i = 0; i < 1000; i++) {
      const data = new Uint8Array(1024).fill(i & 0xff);
      data[0] = i >> 8;
      hashes.push((await loader.addBytes(`o${i}`, data)).hashValue);
    }
  } finally {
    loader.close();
  }
  return hashes;
}

/** One run of GETs with `connections` connections, each its own client connection. */
async function getRun(server: ServerProcess, hashes: readonly number[], connections: number) {
  const security = server.connectOptions("client");
  return await runLoad(async () => {
    const connection = await Connection.open(server.host, server.port, security);
    return {
      async op(i) {
        const reply = await connection.request({ command: "GET", hash: hashes[i % 1000]! });
        if (!reply.ok || reply.fields[0]!.length < 1300) throw new Error("Bad GET reply");
      },
      async close() {
        await connection.stop();
      },
    };
  }, { connections, durationMs: loadMs, warmupMs: 300 });
}

/** One upload then download of the file through the ring, MB/s each way. */
async function bulkRun(cluster: Cluster, file: string) {
  const cloud = cluster.servers[0]!.client();
  try {
    let started = performance.now();
    const stored = await cloud.addFile("bulk", file, { fresh: true });
    const upload = bulkMb / ((performance.now() - started) / 1000);
    started = performance.now();
    let size = 0;
    for await (const chunk of stored.stream()) size += chunk.length;
    const download = bulkMb / ((performance.now() - started) / 1000);
    if (size !== bulkMb * 1024 * 1024) throw new Error(`Downloaded ${size} bytes`);
    return { upload, download };
  } finally {
    cloud.close();
  }
}

/** One run of the per-connection cost: open (connect, TLS, HELO, AUTH) and one GETS, sequentially. */
async function connectionRun(server: ServerProcess, options: ConnectOptions) {
  const samples: number[] = [];
  for (let i = 0; i < connectionsMeasured; i++) {
    const started = performance.now();
    const connection = await Connection.open(server.host, server.port, options);
    const reply = await connection.request({ command: "GETS" });
    samples.push(performance.now() - started);
    connection.close();
    if (!reply.ok) throw new Error(`GETS refused: ${reply.reason}`);
  }
  samples.sort((a, b) => a - b);
  return {
    medianMs: samples[Math.floor(samples.length / 2)]!,
    p99Ms: samples[Math.min(samples.length - 1, Math.ceil(samples.length * 0.99) - 1)]!,
  };
}

/** What one setup measured, a value per run. */
interface Samples {
  get1: number[];
  get1p50: number[];
  get1p99: number[];
  get16: number[];
  get16p50: number[];
  get16p99: number[];
  upload: number[];
  download: number[];
  connectP50: number[];
  connectP99: number[];
}

async function main(): Promise<void> {
  const certificates = await makeCertificates();
  const authDir = await Deno.makeTempDir({ prefix: "cloud-bench-tls-" });
  const file = `${authDir}/bulk.bin`;
  try {
    await initAuth(`${authDir}/credentials`);
    const auth = new TestAuth(`${authDir}/credentials`);
    const data = new Uint8Array(1024 * 1024);
    const out = await Deno.open(file, { write: true, create: true });
    for (let i = 0; i < bulkMb; i++) {
      for (let j = 0; j < data.length; j += 65_536) {
        crypto.getRandomValues(data.subarray(j, j + 65_536));
      }
      await out.write(data);
    }
    out.close();
    const setups: Setup[] = [
      { label: "open (no auth, TCP)", auth: false },
      { label: "auth (HELO/AUTH, TCP)", auth },
      { label: "auth + TLS", auth, tls: certificates },
    ];
    // Every setup runs at once and the runs interleave, so that load from
    // elsewhere on the machine falls on all of them alike.
    const started = [];
    for (const setup of setups) {
      const options = { auth: setup.auth, ...(setup.tls ? { tls: setup.tls } : {}) };
      const server = await ServerProcess.start({ ...options, args: ["-q"] });
      const cluster = await Cluster.start(3, ["-q"], options);
      started.push({ setup, server, cluster, hashes: await preload(server) });
    }
    const samples = new Map<Setup, Samples>(setups.map((setup) => [setup, {
      get1: [],
      get1p50: [],
      get1p99: [],
      get16: [],
      get16p50: [],
      get16p99: [],
      upload: [],
      download: [],
      connectP50: [],
      connectP99: [],
    }]));
    try {
      for (let run = 0; run < runs; run++) {
        for (const { setup, server, cluster, hashes } of started) {
          const into = samples.get(setup)!;
          const one = await getRun(server, hashes, 1);
          into.get1.push(one.opsPerSecond);
          into.get1p50.push(one.p50Ms);
          into.get1p99.push(one.p99Ms);
          const many = await getRun(server, hashes, 16);
          into.get16.push(many.opsPerSecond);
          into.get16p50.push(many.p50Ms);
          into.get16p99.push(many.p99Ms);
          const connections = await connectionRun(server, server.connectOptions("client"));
          into.connectP50.push(connections.medianMs);
          into.connectP99.push(connections.p99Ms);
          const bulk = await bulkRun(cluster, file);
          into.upload.push(bulk.upload);
          into.download.push(bulk.download);
        }
        console.error(`run ${run + 1} of ${runs} done`);
      }
    } finally {
      for (const { server, cluster } of started) {
        await server.kill();
        await cluster[Symbol.asyncDispose]();
      }
    }
    const rows = setups.map((setup) => {
      const s = samples.get(setup)!;
      return `| ${setup.label} | ${median(s.get1)} | ${median(s.get1p50)} / ${
        median(s.get1p99)
      } | ${median(s.get16)} | ${median(s.get16p50)} / ${median(s.get16p99)} | ${
        median(s.upload)
      } | ${median(s.download)} | ${median(s.connectP50)} / ${median(s.connectP99)} |`;
    });
    console.log(
      `runs ${runs}, GET ${loadMs} ms per run, bulk ${bulkMb} MB through 3 servers with 2 copies, ${connectionsMeasured} connections per run; median (min–max over runs)\n`,
    );
    console.log(
      "| setup | GET ops/s, 1 conn | p50 / p99 ms | GET ops/s, 16 conns | p50 / p99 ms | upload MB/s | download MB/s | new connection + GETS, p50 / p99 ms |",
    );
    console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (const row of rows) console.log(row);
  } finally {
    await Deno.remove(authDir, { recursive: true }).catch(() => {});
    await Deno.remove(certificates.dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await main();
