/**
 * Bulk transfer through a ring: upload and download of one large file
 * (MB/s each way, MB = 10^6 bytes), the peak resident memory (VmHWM) of
 * every server and of the client, and optionally a job that reads and
 * writes a large file through a real runner (its peak memory too).
 *
 * Every role runs in its own process so that each one's memory is its own:
 * the servers (`main.ts server`), the runner (`main.ts runner --watch`,
 * stopped once the job is done) and the client (this file, `--role client`;
 * the job's client is `--role job`). The data is generated into a
 * file first (not timed); the upload streams it from disk, the download
 * reads the stream and discards it (each chunk and the whole content are
 * still checked against the manifest).
 *
 * ```sh
 * deno run -A bench/bulk.ts                     # 1 GB, 3 servers, 2 copies, 20 MB job
 * deno run -A bench/bulk.ts --bytes 100e6 --job-bytes 0
 * deno run -A bench/bulk.ts --indirect                  # chunks through one server, not to owners
 * deno run -A bench/bulk.ts "--server-flags=--v8-flags=--max-semi-space-size=1"
 * ```
 *
 * @module
 */

import { ComputeCloud } from "../client/cloud.ts";
import { freePort, peakRssBytes, ProcessRegistry } from "./procs.ts";

/** Options of {@linkcode bulkTransfer}. */
export interface BulkOptions {
  /** Bytes of the file moved up and down (default 1e9). */
  readonly bytes?: number;
  /** Servers of the ring (default 3). */
  readonly servers?: number;
  /** Copies of every object (default 2). */
  readonly replicaCount?: number;
  /** Bytes read and written by the job through a runner; 0 for no job (default 20e6). */
  readonly jobBytes?: number;
  /** Chunk requests in flight per transfer (default: the client's, `chunksInFlight`). */
  readonly parallel?: number;
  /** Send chunks straight to their owners (default true). */
  readonly direct?: boolean;
  /** Start processes through this registry (the bench's); default a private one. */
  readonly procs?: ProcessRegistry;
  /** Scratch directory (default a new temporary one, removed afterwards). */
  readonly tmpDir?: string;
  /** Progress messages. */
  readonly log?: (message: string) => void;
  /** Extra `deno run` flags for the servers, e.g. `--cpu-prof`. */
  readonly serverFlags?: readonly string[];
}

/** What {@linkcode bulkTransfer} measured (the shape of bench/cloud.ts BulkRun, plus the job). */
export interface BulkResult {
  readonly bytes: number;
  /** Upload of `bytes` through the ring, MB/s (10^6 bytes per second). */
  readonly uploadMBps: number;
  /** Download of the same file, MB/s, checked against its manifest. */
  readonly downloadMBps: number;
  /** Peak RSS (VmHWM) by process: "server 1" …, "client", and "runner" when a job ran. */
  readonly peakRssBytes: Record<string, number>;
  /**
   * CPU time (user + system, seconds) each process spent during the upload
   * and during the download: what the transfer costs, whatever else the
   * machine runs.
   */
  readonly cpuSeconds: {
    readonly upload: Record<string, number>;
    readonly download: Record<string, number>;
  };
  /** The job, when one ran. */
  readonly job?: {
    readonly bytes: number;
    /** From submitting the job to its output complete (the runner's start-up included). */
    readonly seconds: number;
  };
}

const repoRoot = new URL("..", import.meta.url).pathname;
const mainPath = `${repoRoot}main.ts`;
const thisPath = new URL(import.meta.url).pathname;

/**
 * Starts a ring, moves a file of `bytes` up and down with a client process,
 * optionally runs a job over `jobBytes` with a runner process, reads every
 * process's peak RSS, stops them all and returns the figures.
 *
 * @throws {Error} when a process fails to start or a transfer fails.
 */
export async function bulkTransfer(options: BulkOptions = {}): Promise<BulkResult> {
  const bytes = options.bytes ?? 1e9;
  const jobBytes = options.jobBytes ?? 20e6;
  const log = options.log ?? (() => {});
  const procs = options.procs ?? new ProcessRegistry();
  const tmpDir = options.tmpDir ?? await Deno.makeTempDir({ prefix: "cloud-bulk-" });
  const started: { label: string; pid: number; stop(): Promise<unknown> }[] = [];
  try {
    const ring = await startRing(procs, tmpDir, options, started);
    const server = ring[0]!;
    const dataPath = `${tmpDir}/data.bin`;
    log(`bulk: writing ${bytes / 1e6} MB of random data`);
    await writeRandomFile(dataPath, bytes);
    log(`bulk: upload and download through ${ring.length} servers`);
    const client = await runRole<ClientReport>(
      procs,
      "client",
      [
        "--server",
        server,
        "--file",
        dataPath,
        "--pids",
        started.map((process) => process.pid).join(","),
        ...(options.parallel ? ["--parallel", String(options.parallel)] : []),
        ...(options.direct === false ? ["--indirect"] : []),
      ],
    );
    await Deno.remove(dataPath);
    const peaks: Record<string, number> = { client: client.peakRssBytes };
    let job: BulkResult["job"];
    if (jobBytes > 0) {
      log(`bulk: a job reading and writing ${jobBytes / 1e6} MB`);
      const ran = await runRole<{ seconds: number; runnerPeakRssBytes: number }>(procs, "job", [
        "--server",
        server,
        "--bytes",
        String(jobBytes),
      ]);
      peaks.runner = ran.runnerPeakRssBytes;
      job = { bytes: jobBytes, seconds: ran.seconds };
    }
    for (const [i, process] of started.entries()) {
      peaks[`server ${i + 1}`] = (await peakRssBytes(process.pid)) ?? NaN;
    }
    return {
      bytes,
      uploadMBps: bytes / 1e3 / client.uploadMs,
      downloadMBps: bytes / 1e3 / client.downloadMs,
      peakRssBytes: peaks,
      cpuSeconds: {
        upload: labelled(client.uploadCpuSeconds, started),
        download: labelled(client.downloadCpuSeconds, started),
      },
      ...(job ? { job } : {}),
    };
  } finally {
    await Promise.all(started.map((process) => process.stop()));
    if (!options.tmpDir) await Deno.remove(tmpDir, { recursive: true }).catch(() => {});
  }
}

/** What the client role prints. */
interface ClientReport {
  uploadMs: number;
  downloadMs: number;
  peakRssBytes: number;
  /** The client's CPU seconds first, then each server's in ring order. */
  uploadCpuSeconds: number[];
  downloadCpuSeconds: number[];
}

function labelled(
  seconds: number[],
  servers: readonly { label: string }[],
): Record<string, number> {
  const result: Record<string, number> = { client: seconds[0] ?? NaN };
  servers.forEach((server, i) => (result[server.label] = seconds[i + 1] ?? NaN));
  return result;
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat. */
function cpuSecondsOf(pid: number | "self"): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function startRing(
  procs: ProcessRegistry,
  tmpDir: string,
  options: BulkOptions,
  started: { label: string; pid: number; stop(): Promise<unknown> }[],
): Promise<string[]> {
  const addresses: string[] = [];
  for (let i = 0; i < (options.servers ?? 3); i++) {
    const port = freePort();
    const args = [
      "run",
      "-A",
      ...(options.serverFlags ?? []),
      mainPath,
      "server",
      String(port),
      ...(addresses[0] ? addresses[0].split(":") : []),
      "--listen",
      "127.0.0.1",
      "--advertise",
      "127.0.0.1",
      "--data",
      `${tmpDir}/server-${i + 1}`,
      "--replicas",
      String(options.replicaCount ?? 2),
      "--quiet",
    ];
    const label = `server ${i + 1}`;
    const managed = procs.spawn(label, Deno.execPath(), args, { stdout: "piped" });
    started.push({ label, pid: managed.pid, stop: () => managed.stop() });
    await waitForLine(managed.child.stdout, /listening on/, 30_000, label);
    addresses.push(`127.0.0.1:${port}`);
  }
  return addresses;
}

async function waitForLine(
  stdout: ReadableStream<Uint8Array>,
  pattern: RegExp,
  timeoutMs: number,
  label: string,
): Promise<void> {
  const reader = stdout.pipeThrough(new TextDecoderStream()).getReader();
  const timer = setTimeout(() => reader.cancel().catch(() => {}), timeoutMs);
  let text = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        throw new Error(`Cannot start ${label}: it exited or printed no "${pattern.source}"`);
      }
      text += value;
      if (pattern.test(text)) break;
    }
  } finally {
    clearTimeout(timer);
  }
  void (async () => {
    try {
      while (!(await reader.read()).done) {
        // Discard the rest.
      }
    } catch {
      // Stopped.
    }
  })();
}

async function writeRandomFile(path: string, bytes: number): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  const block = new Uint8Array(1 << 20);
  for (let written = 0; written < bytes;) {
    const size = Math.min(block.length, bytes - written);
    for (let i = 0; i < size; i += 65_536) {
      crypto.getRandomValues(block.subarray(i, Math.min(size, i + 65_536)));
    }
    let offset = 0;
    while (offset < size) offset += await file.write(block.subarray(offset, size));
    written += size;
  }
}

/** Runs this file in a role and returns the JSON it prints. */
async function runRole<T>(procs: ProcessRegistry, role: string, args: string[]): Promise<T> {
  const managed = procs.spawn(role, Deno.execPath(), [
    "run",
    "-A",
    thisPath,
    "--role",
    role,
    ...args,
  ], {
    stdout: "piped",
    stderr: "inherit",
  });
  const output = await managed.child.output();
  await managed.stop();
  const text = new TextDecoder().decode(output.stdout).trim();
  if (!output.success) throw new Error(`Cannot run the ${role}: exit code ${output.code}`);
  return JSON.parse(text.split("\n").pop()!) as T;
}

function ownPeakRssBytes(): number {
  const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(Deno.readTextFileSync("/proc/self/status"));
  return match ? Number(match[1]) * 1024 : NaN;
}

function splitAddress(address: string): [string, number] {
  const colon = address.lastIndexOf(":");
  return [address.slice(0, colon), Number(address.slice(colon + 1))];
}

/** The client role: upload `file`, download it again; prints the times and its own peak RSS. */
async function clientRole(flags: Record<string, string | boolean>): Promise<void> {
  const [host, port] = splitAddress(String(flags.server));
  const cloud = await ComputeCloud.connect(host, port, {
    ...(flags.parallel ? { parallel: Number(flags.parallel) } : {}),
    direct: !flags.indirect,
  });
  const pids: (number | "self")[] = [
    "self",
    ...String(flags.pids ?? "").split(",").filter(Boolean).map(Number),
  ];
  const cpu = () => pids.map(cpuSecondsOf);
  const spent = (before: number[]) => cpu().map((value, i) => value - before[i]!);
  try {
    let before = cpu();
    let started = performance.now();
    const file = await cloud.addFile("bulk", String(flags.file), { fresh: true });
    const uploadMs = performance.now() - started;
    const uploadCpuSeconds = spent(before);
    before = cpu();
    started = performance.now();
    let size = 0;
    for await (const chunk of file.stream()) size += chunk.length;
    const downloadMs = performance.now() - started;
    const downloadCpuSeconds = spent(before);
    const { size: expected } = await Deno.stat(String(flags.file));
    if (size !== expected) throw new Error(`Downloaded ${size} bytes of ${expected}`);
    const report: ClientReport = {
      uploadMs,
      downloadMs,
      peakRssBytes: ownPeakRssBytes(),
      uploadCpuSeconds,
      downloadCpuSeconds,
    };
    console.log(JSON.stringify(report));
  } finally {
    cloud.close();
  }
}

/**
 * The job role: uploads `bytes` of data, submits a job that reverses it,
 * runs a runner process until the job is done and checks the output's size.
 */
async function jobRole(flags: Record<string, string | boolean>): Promise<void> {
  const [host, port] = splitAddress(String(flags.server));
  const bytes = Number(flags.bytes);
  const cloud = await ComputeCloud.connect(host, port);
  const procs = new ProcessRegistry();
  try {
    const data = new Uint8Array(bytes);
    for (let i = 0; i < bytes; i += 65_536) {
      crypto.getRandomValues(data.subarray(i, Math.min(bytes, i + 65_536)));
    }
    const input = await cloud.addBytes("data", data);
    const code = "import sys\nsys.stdout.buffer.write(open('/net/data', 'rb').read()[::-1])\n";
    const started = performance.now();
    const [, output] = await cloud.addJob("reverse", code, "reversed", [input], { fresh: true });
    const runner = procs.spawn("runner", Deno.execPath(), [
      "run",
      "-A",
      mainPath,
      "runner",
      host,
      String(port),
      "--watch",
      "--jobs",
      "1",
      "--quiet",
    ], { stdout: "null", stderr: "inherit" });
    const state = await output.wait(120_000);
    const seconds = (performance.now() - started) / 1000;
    const runnerPeakRssBytes = (await peakRssBytes(runner.pid)) ?? NaN;
    await runner.stop();
    const status = await output.status();
    if (state !== "complete" || status.size !== bytes) {
      throw new Error(`Job output is ${status.state} with ${status.size} bytes`);
    }
    console.log(JSON.stringify({ seconds, runnerPeakRssBytes }));
  } finally {
    cloud.close();
    await procs.stopAll();
  }
}

function parseFlags(args: readonly string[]): Record<string, string | boolean> {
  const flags: Record<string, string | boolean> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const equals = arg.indexOf("=");
    if (arg.startsWith("--") && equals > 0) {
      flags[arg.slice(2, equals)] = arg.slice(equals + 1);
      continue;
    }
    const name = arg.replace(/^--/, "");
    const next = args[i + 1];
    if (next === undefined || next.startsWith("--")) flags[name] = true;
    else {
      flags[name] = next;
      i++;
    }
  }
  return flags;
}

if (import.meta.main) {
  const flags = parseFlags(Deno.args);
  if (flags.role === "client") await clientRole(flags);
  else if (flags.role === "job") await jobRole(flags);
  else {
    const result = await bulkTransfer({
      ...(flags.bytes ? { bytes: Number(flags.bytes) } : {}),
      ...(flags.servers ? { servers: Number(flags.servers) } : {}),
      ...(flags.replicas ? { replicaCount: Number(flags.replicas) } : {}),
      ...(flags["job-bytes"] !== undefined ? { jobBytes: Number(flags["job-bytes"]) } : {}),
      ...(flags.parallel ? { parallel: Number(flags.parallel) } : {}),
      ...(flags.indirect ? { direct: false } : {}),
      ...(flags["server-flags"] ? { serverFlags: String(flags["server-flags"]).split(" ") } : {}),
      log: (message) => console.error(message),
    });
    const mb = (value: number) => `${(value / 1e6).toFixed(0)} MB`;
    const cpu = (phase: Record<string, number>) =>
      Object.entries(phase).map(([label, seconds]) => `${label} ${seconds.toFixed(1)}`).join(", ");
    console.error(`CPU seconds: upload ${cpu(result.cpuSeconds.upload)}`);
    console.error(`CPU seconds: download ${cpu(result.cpuSeconds.download)}`);
    console.error(
      `upload ${result.uploadMBps.toFixed(1)} MB/s, download ${
        result.downloadMBps.toFixed(1)
      } MB/s; peak RSS ${
        Object.entries(result.peakRssBytes).map(([label, bytes]) => `${label} ${mb(bytes)}`).join(
          ", ",
        )
      }${
        result.job ? `; job over ${mb(result.job.bytes)} in ${result.job.seconds.toFixed(1)} s` : ""
      }`,
    );
    console.log(JSON.stringify(result));
  }
}
