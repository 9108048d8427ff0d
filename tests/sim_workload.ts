/**
 * One simulated run (tests/sim.ts): a ring of real {@linkcode Node}s under
 * clients (ADD, JADD with dependencies, GET), runners (GETJ, GET of inputs,
 * UPD; some die holding a lease, some are slower than the lease) and faults
 * (kills and restarts on the same store, dropped messages, a brief
 * partition, a new server), never more than replicas - 1 servers down or
 * cut off at once. After the faults stop and repair has had time, the
 * invariants are checked; a run returns what was violated and the tail of
 * its trace.
 *
 * @module
 */

import { ConnectionError } from "../protocol/connection.ts";
import { sha256Hex } from "../protocol/digest.ts";
import { formatHash, parseHash } from "../protocol/hash.ts";
import type { Reply, Request } from "../protocol/message.ts";
import {
  isJob,
  isTerminal,
  type JobMeta,
  type StoredJob,
  type StoredObject,
  versionOf,
} from "../server/objects.ts";
import { Ring } from "../protocol/ring.ts";
import {
  Cluster,
  type Endpoint,
  Network,
  Random,
  Scheduler,
  type SimServer,
  type SimStore,
  world,
} from "./sim.ts";

const replicas = 2;
const startMs = Date.UTC(2030, 0, 1);
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const hex = formatHash;

/** The outcome of one run. */
export interface SimResult {
  readonly seed: number;
  readonly violations: readonly string[];
  /**
   * Events, oldest first: with violations, those that name what the first
   * violations name, then the last ones; without, the last ones.
   */
  readonly trace: readonly string[];
  readonly stats: Readonly<Record<string, number>>;
}

/** Options of {@linkcode simulate}. */
export interface SimOptions {
  /** Events kept in memory for the report (default 20 000). */
  readonly traceEvents?: number;
  /** Last events reported (default 60). */
  readonly traceTail?: number;
}

interface FileRecord {
  readonly name: string;
  readonly data: Uint8Array;
}

interface JobRecord {
  readonly name: string;
  readonly source: string;
  readonly output: number;
  readonly inputs: readonly number[];
  /** When the JADD that was acknowledged was sent. */
  readonly submittedMs: number;
}

/** A live server declared dead, and the job owner it was then. */
interface FalseDeath {
  readonly atMs: number;
  readonly victim: string;
  /** The ring of the servers running then. */
  readonly ring: Ring;
}

/**
 * How long after a false death two servers may both act as an object's
 * owner: until the victim refutes and every server has heard (a few
 * heartbeats), plus a lease and a runner's run.
 */
const splitBrainMs = 20_000;

/** Everything one run knows and checks. */
class Run {
  readonly seed: number;
  readonly random: Random;
  readonly scheduler: Scheduler;
  readonly network: Network;
  readonly cluster: Cluster;
  readonly violations: string[] = [];
  readonly #traceLazy: (() => string)[] = [];
  readonly #traceTimes: number[] = [];
  readonly #traceMax: number;
  #traceNext = 0;
  /** Acknowledged files (ADD). */
  readonly files = new Map<number, FileRecord>();
  /** Acknowledged jobs (JADD). */
  readonly jobs = new Map<number, JobRecord>();
  /** Outputs of acknowledged jobs → their job. */
  readonly outputs = new Map<number, number>();
  /** Contents seen by clients and runners (GET of a job output), as text. */
  readonly observed = new Map<number, Set<string>>();
  /** Tokens runners sent in UPDs, per job. */
  readonly reported = new Map<number, Set<string>>();
  /** Highest version each store ever held of each hash. */
  readonly #highest = new Map<SimStore, Map<number, number>>();
  /** When a job first reached a terminal state on some store. */
  readonly finishedAt = new Map<number, number>();
  /** The first result stored of each job (state, attempt, exit, reason, detail, stderr). */
  readonly results = new Map<number, string>();
  /** Jobs that got a second, different result: the two. */
  readonly finishedTwice = new Map<number, string>();
  readonly stats: Record<string, number> = {};
  /** Servers down or cut off now (never more than replicas - 1). */
  readonly troubled = new Set<string>();
  activeUntil = 0;
  /** Objects (and versions) that must have their copies back before the next fault. */
  repairTarget = new Map<number, number>();
  /** When a live server was declared dead. */
  readonly falseDeaths: FalseDeath[] = [];
  /** When a fault last started or ended. */
  lastFaultMs = 0;
  /** Drop windows open now (they overlap). */
  readonly dropRates: number[] = [];
  #clients = 0;

  constructor(seed: number, options: SimOptions) {
    this.seed = seed;
    this.random = new Random(seed);
    this.#traceMax = options.traceEvents ?? 20_000;
    this.scheduler = new Scheduler(this.random, startMs);
    this.scheduler.onError = (error) => this.violation(`timer callback threw: ${error}`);
    const events = {
      trace: (text: () => string) => this.trace(text),
      violation: (text: string) => this.violation(text),
      log: (server: SimServer, message: string) => this.#log(server, message),
    };
    this.network = new Network(this.scheduler, this.random, events);
    this.cluster = new Cluster(this.scheduler, this.network, events, {
      replicas,
      leaseMs: this.random.pick([2_000, 4_000, 8_000]),
      hooks: {
        onWrite: () => this.scheduler.writes++,
        onPut: (store, object, before) => this.#checkMonotonic(store, object, before),
        onDelete: (store, hash) => this.#highest.get(store)?.delete(hash),
      },
    });
  }

  /**
   * No fault now nor since 10 s before `startMs` (when an operation began):
   * membership had settled, so the ring must behave as if nothing happened.
   */
  quietSince(startMs: number): boolean {
    const quiet = this.troubled.size === 0 && this.dropRates.length === 0 &&
      this.lastFaultMs <= startMs - 10_000;
    if (quiet) this.count("checked on a quiet ring");
    return quiet;
  }

  /** A fault starts or ends. */
  fault(): void {
    this.lastFaultMs = this.scheduler.now;
  }

  #log(server: SimServer, message: string): void {
    this.count(`log: ${message.split(" ")[0]}`);
    const declared = /^declaring (\S+) dead/.exec(message)?.[1];
    const victim = this.cluster.servers.find((s) => s.id === declared);
    if (victim?.process) {
      // A live server declared dead (cut off, or its replies lost): two
      // servers may act as one object's owner until the news is refuted.
      this.count("false deaths");
      const ring = new Ring(
        this.cluster.live().map((s) => ({ id: s.id, salts: s.node.salts })),
      );
      this.falseDeaths.push({ atMs: this.scheduler.now, victim: victim.id, ring });
      this.trace(() => `${server.id} declared live ${declared} dead`);
    }
  }

  count(name: string, by = 1): void {
    this.stats[name] = (this.stats[name] ?? 0) + by;
  }

  trace(text: () => string): void {
    const slot = this.#traceNext++ % this.#traceMax;
    this.#traceLazy[slot] = text;
    this.#traceTimes[slot] = this.scheduler.now;
  }

  violation(text: string): void {
    if (this.violations.length < 50) {
      this.violations.push(`t=${this.elapsed()} ${text}`);
    }
    this.trace(() => `VIOLATION ${text}`);
  }

  elapsed(ms = this.scheduler.now): string {
    return ((ms - startMs) / 1000).toFixed(3);
  }

  /**
   * The report's events: those that name a hash or object named by one of
   * the first violations (at most 40 per name), then the last `tail`.
   */
  traceLines(tail: number): string[] {
    const total = Math.min(this.#traceNext, this.#traceMax);
    const events: { index: number; line: () => string }[] = [];
    for (let i = this.#traceNext - total; i < this.#traceNext; i++) {
      const slot = i % this.#traceMax;
      events.push({
        index: i,
        line: () => `${this.elapsed(this.#traceTimes[slot]!)} ${this.#traceLazy[slot]!()}`,
      });
    }
    const names = new Set(
      this.violations.slice(0, 3).flatMap((v) => v.match(/\b[0-9a-f]{8}\b|\bc\d+[fj]\d+\b/g) ?? []),
    );
    const picked = new Map<number, string>();
    for (const name of names) {
      let found = 0;
      for (const event of events) {
        if (found >= 40) break;
        const line = event.line();
        if (line.includes(name)) {
          picked.set(event.index, line);
          found++;
        }
      }
    }
    const lines = [...picked].sort((a, b) => a[0] - b[0]).map(([, line]) => line);
    const last = events.slice(-tail).map((event) => event.line());
    return picked.size > 0 ? [...lines, "…", ...last] : last;
  }

  #checkMonotonic(store: SimStore, object: StoredObject, before: number): void {
    const version = versionOf(object.meta);
    let highest = this.#highest.get(store);
    if (!highest) this.#highest.set(store, highest = new Map());
    // Per copy: a dropped copy's history ends with it.
    const top = Math.max(highest.get(object.hash) ?? -1, before);
    if (version < top) {
      this.violation(
        `${store.name}: ${object.meta.kind} ${object.name} (${
          hex(object.hash)
        }) went back from version ${top} to ${version} (${object.meta.state})`,
      );
    }
    if (version > (highest.get(object.hash) ?? -1)) highest.set(object.hash, version);
    if (isJob(object) && isTerminal(object.meta)) this.#finished(object);
  }

  /**
   * A job's result reached a store: the first one, or the same again. The
   * attempt number is not part of the result: a report retried through
   * another server may be recorded there against the attempt that server
   * knows (a later lease of the same job), and the two records of the one
   * report then converge on the lower attempt; what the job produced stays
   * the same.
   */
  #finished(object: StoredJob): void {
    const meta = object.meta;
    const result = JSON.stringify([
      meta.state,
      meta.exitCode,
      meta.reason,
      meta.detail,
      meta.stderr,
    ]);
    const first = this.results.get(object.hash);
    if (!first) {
      this.results.set(object.hash, result);
      this.finishedAt.set(object.hash, this.scheduler.now);
    } else if (first !== result && !this.finishedTwice.has(object.hash)) {
      this.finishedTwice.set(object.hash, `${first} then ${result}`);
      this.trace(() => `job ${object.name} (${hex(object.hash)}) finished again: ${result}`);
    }
  }

  /** Runs `work` as an actor: what it throws is a violation. */
  spawn(name: string, work: () => Promise<void>): Promise<void> {
    return work().catch((error) =>
      this.violation(`${name} threw: ${(error as Error).stack ?? error}`)
    );
  }

  /** A client endpoint: never dies. */
  client(): Endpoint {
    const id = `client${this.#clients++}`;
    return { id, alive: true, clock: this.scheduler.clock(world) };
  }

  sleep(ms: number): Promise<void> {
    return this.scheduler.sleep(ms);
  }

  /**
   * Sends a client request to a random server (dead ones included: clients
   * learn of deaths by being refused), failing over up to `attempts` times
   * on connection errors and NACK:unavailable. Null when every try failed.
   */
  async call(from: Endpoint, request: Request, attempts = 4): Promise<Reply | null> {
    for (let attempt = 0; attempt < attempts; attempt++) {
      const target = this.random.pick(this.cluster.servers);
      try {
        const reply = await this.network.send(from, target.id, request, {
          timeoutMs: 30_000,
          peer: null,
        });
        if (reply.ok || reply.reason !== "unavailable") return reply;
        this.count("nack unavailable");
      } catch (error) {
        if (!(error instanceof ConnectionError)) throw error;
        this.count(`client ${error.code}`);
      }
      await this.sleep(this.random.int(50, 400));
    }
    return null;
  }
}

// ------------------------------------------------------------------ clients

/**
 * An acknowledgement means `replicas` copies at least `minVersion` along,
 * on the stores of the ring (a store outlives a killed process). While
 * membership settles after a fault a server may see fewer owners and store
 * fewer copies, by design; then this is only counted.
 */
function checkAcknowledged(
  run: Run,
  what: string,
  hash: number,
  options: { minVersion: number; startMs: number },
): void {
  let copies = 0;
  for (const server of run.cluster.servers) {
    if (server.store.version(hash) >= options.minVersion) copies++;
  }
  if (copies >= replicas) return;
  if (!run.quietSince(options.startMs)) return run.count("acked with fewer copies");
  run.violation(`${what} (${hex(hash)}) acknowledged with ${copies} copies`);
}

/** The lowest version of a finished job. */
const finishedVersion = 2 ** 40;

function outputText(job: number, inputs: readonly { hash: number; data: Uint8Array }[]): string {
  const parts = inputs.map((input) => `${hex(input.hash)}#${sha256Hex(input.data).slice(0, 12)}`);
  return `job ${hex(job)} <= ${parts.join(",")}`;
}

async function client(run: Run, index: number): Promise<void> {
  const self = run.client();
  let serial = 0;
  while (run.scheduler.now < run.activeUntil) {
    await run.sleep(run.random.int(20, 600));
    const roll = run.random.next();
    if (roll < 0.35) await addFile(run, self, `c${index}f${serial++}`);
    else if (roll < 0.6) await addJob(run, self, `c${index}j${serial++}`);
    else await getSomething(run, self);
  }
}

async function addFile(run: Run, self: Endpoint, name: string): Promise<void> {
  const known = [...run.files.values()];
  // Now and then the same content again: an ADD is idempotent.
  const again = known.length > 0 && run.random.chance(0.1) ? run.random.pick(known) : undefined;
  const file = again ?? {
    name,
    data: encoder.encode(`${name} ${run.random.int(0, 1e9)} `.repeat(run.random.int(1, 40))),
  };
  const startMs = run.scheduler.now;
  const reply = await run.call(self, { command: "ADD", name: file.name, data: file.data });
  if (!reply) return run.count("add failed");
  if (!reply.ok) return run.violation(`ADD ${file.name} refused: ${reply.reason} ${reply.detail}`);
  const hash = parseHash(reply.fields[0]!);
  const known2 = run.files.get(hash);
  if (
    known2 &&
    (known2.name !== file.name || decoder.decode(known2.data) !== decoder.decode(file.data))
  ) {
    return run.violation(
      `ADD ${file.name} acknowledged at ${hex(hash)}, which holds ${known2.name}`,
    );
  }
  checkAcknowledged(run, `ADD ${file.name}`, hash, { minVersion: 0, startMs });
  run.files.set(hash, file);
  run.count("add acked");
}

async function addJob(run: Run, self: Endpoint, fresh: string): Promise<void> {
  const submitted = [...run.jobs.values()];
  // Now and then the same job again: identical jobs dedupe.
  const again = submitted.length > 0 && run.random.chance(0.1)
    ? run.random.pick(submitted)
    : undefined;
  const candidates = [...run.files.keys(), ...run.outputs.keys()];
  const name = again?.name ?? fresh;
  const inputs: readonly number[] = again?.inputs ??
    run.random.sample(candidates, run.random.int(0, Math.min(3, candidates.length)));
  const source = again?.source ?? `# ${name}\nprint(${run.random.int(0, 1000)})\n`;
  const request: Request = {
    command: "JADD",
    name,
    source: encoder.encode(source),
    outputName: `${name}.out`,
    inputs,
  };
  const submittedMs = run.scheduler.now;
  const reply = await run.call(self, request);
  if (!reply) return run.count("jadd failed");
  if (!reply.ok) {
    if (reply.reason === "unknown-input" && !run.quietSince(submittedMs)) {
      // Unreachable while membership settles: counted.
      run.count("jadd unknown-input");
      run.trace(() => `JADD ${name}: ${reply.detail}`);
      return;
    }
    return run.violation(`JADD ${name} refused: ${reply.reason} ${reply.detail}`);
  }
  const hash = parseHash(reply.fields[0]!);
  const output = parseHash(reply.fields[1]!);
  checkAcknowledged(run, `JADD ${name}`, hash, { minVersion: 0, startMs: submittedMs });
  checkAcknowledged(run, `output of JADD ${name}`, output, { minVersion: 0, startMs: submittedMs });
  const known = run.jobs.get(hash);
  if (known && (known.source !== source || known.inputs.join() !== inputs.join())) {
    return run.violation(`JADD ${name} acknowledged at ${hex(hash)}, which holds ${known.name}`);
  }
  if (known && known.output !== output) {
    return run.violation(
      `JADD ${name} again gave output ${hex(output)}, first ${hex(known.output)}`,
    );
  }
  if (!known) run.jobs.set(hash, { name, source, output, inputs, submittedMs });
  run.outputs.set(output, hash);
  run.count("jadd acked");
}

async function getSomething(run: Run, self: Endpoint): Promise<void> {
  const useFile = run.files.size > 0 && (run.outputs.size === 0 || run.random.chance(0.5));
  if (!useFile && run.outputs.size === 0) return;
  const hash = run.random.pick([...(useFile ? run.files.keys() : run.outputs.keys())]);
  const startMs = run.scheduler.now;
  let reply = await run.call(self, { command: "GET", hash });
  if (reply && !reply.ok && reply.reason === "incomplete" && run.random.chance(0.5)) {
    // As a client's get(): wait for the job, then read again.
    const timeoutMs = run.random.int(500, 8_000);
    const waited = await run.call(self, { command: "WAIT", hash, timeoutMs });
    run.count(`wait ${waited?.ok ? waited.fields[0] : waited?.reason ?? "failed"}`);
    reply = await run.call(self, { command: "GET", hash });
  }
  if (!reply) return run.count("get failed");
  if (!reply.ok) {
    if (!useFile && (reply.reason === "incomplete" || reply.reason === "failed")) return;
    if (run.quietSince(startMs)) {
      return run.violation(`GET ${hex(hash)} on a quiet ring: ${reply.reason} ${reply.detail}`);
    }
    run.count(`get ${reply.reason}`);
    run.trace(() => `GET ${hex(hash)}: NACK ${reply.reason} ${reply.detail}`);
    return;
  }
  const data = Uint8Array.fromBase64(reply.fields[0] ?? "");
  if (useFile) {
    const file = run.files.get(hash)!;
    if (decoder.decode(data) !== decoder.decode(file.data)) {
      run.violation(`GET ${hex(hash)} (${file.name}) returned other content`);
    }
  } else observe(run, hash, data);
  run.count("get ok");
}

function observe(run: Run, hash: number, data: Uint8Array): void {
  const seen = run.observed.get(hash) ?? new Set();
  seen.add(decoder.decode(data));
  run.observed.set(hash, seen);
}

// ------------------------------------------------------------------ runners

/**
 * A runner: GETJ anywhere, GET the inputs, "run" (its stdout names the job,
 * digests of the inputs it read, and a token of this run), UPD. Some die
 * holding the lease, some outlive it, some report a failure, some give the
 * job back.
 */
async function runner(run: Run, index: number, until: () => boolean): Promise<void> {
  const self = run.client();
  let lease = 0;
  while (!until()) {
    const leasedMs = run.scheduler.now;
    const reply = await run.call(self, { command: "GETJ", waitMs: run.random.pick([0, 500]) }, 1);
    if (!reply || !reply.ok) {
      await run.sleep(run.random.int(50, 400));
      continue;
    }
    const source = decoder.decode(Uint8Array.fromBase64(reply.fields[0]!));
    const hash = parseHash(reply.fields[1]!);
    const namespace: { hash: number; name: string }[] = [];
    for (let i = 2; i + 1 < reply.fields.length; i += 2) {
      namespace.push({ hash: parseHash(reply.fields[i]!), name: reply.fields[i + 1]! });
    }
    const leaseField = reply.fields[reply.fields.length - 1]!;
    if (reply.fields.length % 2 === 0 || !leaseField.startsWith("lease=")) {
      run.violation(`GETJ ${hex(hash)} handed out no lease token`);
    }
    // The runner's report and give-back carry the token (UPD and RLSE go to any server).
    const leaseToken = leaseField.slice("lease=".length);
    const token = `r${index}.${lease++}`;
    run.count("leases");
    run.trace(() => `runner ${index} took ${hex(hash)} as ${token}`);
    checkLeased(run, hash, source, namespace);
    const inputs = await fetchInputs(run, self, hash, namespace, leasedMs);
    if (!inputs) {
      await run.call(self, { command: "RLSE", hash, lease: leaseToken }, 2);
      continue;
    }
    const fate = run.random.next();
    if (fate < 0.05) {
      run.count("runner died");
      run.trace(() => `runner ${index} dies holding ${hex(hash)}`);
      await run.sleep(run.random.int(100, 3000));
      continue;
    }
    if (fate < 0.08) {
      await run.call(self, { command: "RLSE", hash, lease: leaseToken }, 2);
      continue;
    }
    // Mostly quick; sometimes longer than the lease.
    await run.sleep(
      run.random.chance(0.1) ? run.random.int(1_000, 10_000) : run.random.int(5, 500),
    );
    const failed = run.random.chance(0.05);
    const stdout = failed ? "" : `${outputText(hash, inputs)} by ${token}`;
    const request: Request = {
      command: "UPD",
      hash,
      lease: leaseToken,
      stdout: encoder.encode(stdout),
      stderr: encoder.encode(token),
      ...(failed ? { exitCode: 1, reason: "exception", detail: `boom ${token}` } : { exitCode: 0 }),
    };
    const tokens = run.reported.get(hash) ?? new Set();
    tokens.add(token);
    run.reported.set(hash, tokens);
    // As runner.ts: up to 5 tries on any NACK or connection error, then the lease expires.
    const startMs = run.scheduler.now;
    for (let attempt = 0; attempt < 5; attempt++) {
      const result = await run.call(self, request, 1);
      if (result?.ok) {
        checkAcknowledged(run, `UPD of job`, hash, { minVersion: finishedVersion, startMs });
        break;
      }
      if (result?.reason === "lease") {
        // Its lease ran out and the job went to another runner: the report is refused.
        run.count("upd lease");
        break;
      }
      if (result) {
        run.count(`upd ${result.reason}`);
        if (result.reason !== "unavailable" && run.quietSince(startMs)) {
          run.violation(
            `UPD ${hex(hash)} refused on a quiet ring: ${result.reason} ${result.detail}`,
          );
        }
      }
      await run.sleep(200 * 2 ** attempt);
    }
  }
}

function checkLeased(
  run: Run,
  hash: number,
  source: string,
  namespace: readonly { hash: number; name: string }[],
): void {
  const job = run.jobs.get(hash);
  if (!job) return;
  if (source !== job.source) run.violation(`GETJ ${hex(hash)} handed out another source`);
  const hashes = namespace.map((input) => input.hash).join();
  if (hashes !== job.inputs.join()) {
    run.violation(`GETJ ${hex(hash)} handed out inputs ${hashes}, submitted ${job.inputs.join()}`);
  }
}

async function fetchInputs(
  run: Run,
  self: Endpoint,
  job: number,
  namespace: readonly { hash: number; name: string }[],
  leasedMs: number,
): Promise<{ hash: number; data: Uint8Array }[] | null> {
  const inputs: { hash: number; data: Uint8Array }[] = [];
  for (const input of namespace) {
    const reply = await run.call(self, { command: "GET", hash: input.hash }, 3);
    if (!reply) return null;
    if (!reply.ok) {
      // While membership settles after a fault, a read may miss the newest
      // copy (the runner waits and retries; this one gives the job back).
      if (run.quietSince(leasedMs)) {
        run.violation(
          `job ${hex(job)} handed out on a quiet ring; its input ${
            hex(input.hash)
          }: ${reply.reason} ${reply.detail}`,
        );
      } else {
        run.count(`input ${reply.reason}`);
        run.trace(() => `input ${hex(input.hash)} of ${hex(job)}: ${reply.reason} ${reply.detail}`);
      }
      return null;
    }
    const data = Uint8Array.fromBase64(reply.fields[0] ?? "");
    if (run.outputs.has(input.hash)) observe(run, input.hash, data);
    const file = run.files.get(input.hash);
    if (file && decoder.decode(file.data) !== decoder.decode(data)) {
      run.violation(`input ${hex(input.hash)} of ${hex(job)} read with other content`);
    }
    inputs.push({ hash: input.hash, data });
  }
  return inputs;
}

// ------------------------------------------------------------------ faults

/** Newest version of every object on the live servers. */
function newestVersions(run: Run): Map<number, number> {
  const newest = new Map<number, number>();
  for (const server of run.cluster.live()) {
    for (const { hash, version } of server.store.scan(-1, 1_000_000)) {
      if (version > (newest.get(hash) ?? -1)) newest.set(hash, version);
    }
  }
  return newest;
}

/**
 * A fault ended: what the ring holds now must be back to `replicas` copies
 * before the next fault (OPERATIONS.md: wait for repair before losing a
 * second server). Writes after this point are not waited for: an
 * acknowledged write must already be on its owners.
 */
function faultEnded(run: Run, id: string): void {
  run.fault();
  run.troubled.delete(id);
  run.repairTarget = newestVersions(run);
}

/** True when every object of the last repair target has `replicas` live copies that far along. */
function repaired(run: Run): boolean {
  const live = run.cluster.live();
  if (live.some((server) => !server.started)) return false;
  const counts = new Map<number, number>();
  for (const server of live) {
    for (const { hash, version } of server.store.scan(-1, 1_000_000)) {
      const target = run.repairTarget.get(hash);
      if (target !== undefined && version >= target) counts.set(hash, (counts.get(hash) ?? 0) + 1);
    }
  }
  return [...run.repairTarget.keys()].every((hash) => (counts.get(hash) ?? 0) >= replicas);
}

async function chaos(run: Run, maxServers: number): Promise<void> {
  const windows: Promise<void>[] = [];
  // Some runs are busy with faults; others leave quiet stretches, where the
  // ring must behave as if nothing had happened.
  const gapMsMax = run.random.pick([4_000, 4_000, 15_000, 30_000]);
  while (run.scheduler.now < run.activeUntil - 5_000) {
    await run.sleep(run.random.int(200, gapMsMax));
    const roll = run.random.next();
    // Message loss and a server with a bug overlap the other faults.
    if (roll < 0.25) windows.push(run.spawn("drops", () => drops(run)));
    else if (roll < 0.32) windows.push(run.spawn("buggy peer", () => buggyPeer(run)));
    else if (roll < 0.7) await killAndRestart(run);
    else if (roll < 0.85) await partition(run);
    else if (run.cluster.servers.length < maxServers) await addServer(run);
  }
  await Promise.all(windows);
}

/** Waits (up to a while) until nothing is down and repair has caught up. */
async function calm(run: Run): Promise<boolean> {
  for (let i = 0; i < 40; i++) {
    if (run.troubled.size === 0 && repaired(run)) return true;
    await run.sleep(500);
  }
  run.count("fault skipped");
  return false;
}

async function killAndRestart(run: Run): Promise<void> {
  if (!await calm(run)) return;
  const victim = run.random.pick(run.cluster.live());
  run.troubled.add(victim.id);
  run.fault();
  run.count("kills");
  run.cluster.kill(victim);
  await run.sleep(run.random.int(200, 15_000));
  await restart(run, victim);
  faultEnded(run, victim.id);
}

/**
 * Starts a process on `server`'s store until one starts. A restart joins
 * through a live server or, now and then, through the members its store
 * remembers; a new server always joins through a live one.
 */
async function restart(run: Run, server: SimServer, fresh = false): Promise<void> {
  for (;;) {
    const others = run.cluster.live().filter((s) => s.started);
    const join = others.length > 0 && (fresh || run.random.chance(0.7))
      ? run.random.pick(others)
      : undefined;
    if (await run.cluster.start(server, join)) return;
    run.count("start failed");
    await run.sleep(1_000);
  }
}

async function partition(run: Run): Promise<void> {
  if (!await calm(run)) return;
  const victim = run.random.pick(run.cluster.live());
  run.troubled.add(victim.id);
  run.fault();
  run.count("partitions");
  run.trace(() => `partition: ${victim.id} cut off`);
  run.network.conditions.isolated.add(victim.id);
  await run.sleep(run.random.int(300, 12_000));
  run.network.conditions.isolated.delete(victim.id);
  run.trace(() => `partition healed`);
  // Cut off, it may have been declared dead: give it time to refute.
  await run.sleep(3_000);
  faultEnded(run, victim.id);
}

async function drops(run: Run): Promise<void> {
  const rate = run.random.pick([0.01, 0.03, 0.1, 0.3]);
  run.count("drop windows");
  run.fault();
  run.dropRates.push(rate);
  run.network.conditions.dropRate = Math.max(...run.dropRates);
  run.trace(() => `dropping ${run.network.conditions.dropRate * 100}% of messages`);
  await run.sleep(run.random.int(500, 5_000));
  run.fault();
  run.dropRates.splice(run.dropRates.indexOf(rate), 1);
  run.network.conditions.dropRate = Math.max(0, ...run.dropRates);
  run.trace(() => `dropping ${run.network.conditions.dropRate * 100}% of messages`);
}

/**
 * A server with a bug for a while: some of the copies it sends or hands
 * over are corrupted (tests/sim.ts). Its peers must refuse them; no
 * corrupted copy may ever be stored or read (the invariants at the end).
 */
async function buggyPeer(run: Run): Promise<void> {
  const live = run.cluster.live();
  if (live.length === 0 || run.network.conditions.buggy) return;
  const server = run.random.pick(live);
  const rate = run.random.pick([0.05, 0.2, 0.5]);
  run.count("buggy windows");
  run.fault();
  run.network.conditions.buggy = { id: server.id, rate };
  run.trace(() => `${server.id} corrupts ${rate * 100}% of the copies it sends`);
  await run.sleep(run.random.int(1_000, 8_000));
  run.fault();
  run.network.conditions.buggy = undefined;
  run.trace(() => `${server.id} sends good copies again`);
}

async function addServer(run: Run): Promise<void> {
  const server = run.cluster.create(run.random.int(2, 12));
  run.count("servers added");
  run.troubled.add(server.id);
  run.fault();
  await restart(run, server, true);
  faultEnded(run, server.id);
}

// ------------------------------------------------------------------ invariants

/** Checks the ring after the faults stopped and repair had time. */
/** Acknowledged jobs that no live server holds as done or failed. */
function unfinishedJobs(run: Run): number {
  let count = 0;
  for (const hash of run.jobs.keys()) {
    const finished = run.cluster.live().some((server) => {
      const meta = server.store.get(hash)?.meta;
      return meta?.kind === "job" && (meta.state === "done" || meta.state === "failed");
    });
    if (!finished) count++;
  }
  return count;
}

async function checkEnd(run: Run): Promise<void> {
  const live = run.cluster.live();
  for (const server of run.cluster.servers) {
    if (!server.process) run.violation(`${server.id} is not running at the end`);
    else if (!server.started) run.violation(`${server.id} never finished starting`);
  }
  checkMembership(run, live);
  const copies = checkCopies(run, live);
  checkJobs(run, copies);
  await checkReadable(run, live, copies);
}

function checkMembership(run: Run, live: readonly SimServer[]): void {
  const expected = live.map((s) => s.id).sort().join();
  const views = live.map((server) => {
    const info = server.node.info() as {
      members: { id: string; incarnation: number; alive: boolean }[];
    };
    const alive = info.members.filter((m) => m.alive).map((m) => m.id).sort().join();
    const table = info.members.map((m) => `${m.id}/${m.incarnation}/${m.alive}`).sort().join();
    return { server, alive, table, ring: server.node.ring.members.join() };
  });
  for (const view of views) {
    if (view.alive !== expected) {
      run.violation(`${view.server.id} sees alive ${view.alive}, live are ${expected}`);
    }
    if (view.ring !== expected) run.violation(`${view.server.id} has ring ${view.ring}`);
    if (view.table !== views[0]!.table) {
      run.violation(
        `${view.server.id} members ${view.table} ≠ ${views[0]!.server.id}'s ${views[0]!.table}`,
      );
    }
  }
}

/** Every object on exactly its owners, all copies equal; returns one copy of each. */
function checkCopies(run: Run, live: readonly SimServer[]): Map<number, StoredObject> {
  const ring = live[0]!.node.ring;
  const holders = new Map<number, SimServer[]>();
  for (const server of live) {
    for (const { hash } of server.store.scan(-1, 1_000_000)) {
      const list = holders.get(hash) ?? [];
      list.push(server);
      holders.set(hash, list);
    }
  }
  const copies = new Map<number, StoredObject>();
  for (const [hash, servers] of holders) {
    const owners = ring.owners(hash, replicas).sort().join();
    const held = servers.map((s) => s.id).sort().join();
    const objects = servers.map((s) => s.store.get(hash)!);
    const first = objects[0]!;
    if (held !== owners) {
      run.violation(
        `${first.meta.kind} ${first.name} (${hex(hash)}) held by ${held}, owners ${owners}`,
      );
    }
    for (const [i, object] of objects.entries()) {
      if (!sameCopy(object, first)) {
        run.violation(
          `copies of ${first.name} (${hex(hash)}) differ: ${servers[0]!.id} ${describe(first)}, ${
            servers[i]!.id
          } ${describe(object)}`,
        );
      }
    }
    copies.set(hash, first);
  }
  for (const hash of [...run.files.keys(), ...run.jobs.keys(), ...run.outputs.keys()]) {
    if (!copies.has(hash)) run.violation(`acknowledged ${hex(hash)} is on no live server`);
  }
  return copies;
}

function sameCopy(a: StoredObject, b: StoredObject): boolean {
  return JSON.stringify(a.meta) === JSON.stringify(b.meta) &&
    a.data.toBase64() === b.data.toBase64() && a.name === b.name && a.salt === b.salt;
}

function describe(object: StoredObject): string {
  const meta = object.meta;
  return meta.kind === "job"
    ? `${meta.state} attempt ${meta.attempt} lost ${meta.lost}`
    : `${meta.state} attempt ${meta.attempt ?? "-"}`;
}

/** Every acknowledged job finished once, its output consistent with its inputs. */
function checkJobs(run: Run, copies: ReadonlyMap<number, StoredObject>): void {
  const exposed = splitBrainJobs(run);
  for (const [hash, results] of run.finishedTwice) {
    if (exposed.has(hash)) {
      run.count("split brain: finished twice");
      continue;
    }
    run.violation(
      `job ${run.jobs.get(hash)?.name ?? ""} (${hex(hash)}) finished twice: ${results}`,
    );
  }
  for (const [hash, record] of run.jobs) {
    const job = copies.get(hash);
    const output = copies.get(record.output);
    if (!job || !output) continue;
    if (!isJob(job)) {
      run.violation(`job ${record.name} (${hex(hash)}) is stored as a file`);
      continue;
    }
    const meta = job.meta;
    const outputMeta = output.meta;
    if (outputMeta.kind !== "file") {
      run.violation(`output ${hex(record.output)} of ${record.name} is a job`);
      continue;
    }
    if (meta.state !== "done" && meta.state !== "failed") {
      run.violation(`job ${record.name} (${hex(hash)}) stuck: ${describe(job)}`);
      continue;
    }
    // A job finished from an output stored by an earlier report keeps no
    // stderr: that report's token is in the output.
    const fromOutput = meta.state === "done" && meta.stderr === "" &&
      meta.detail.startsWith("result taken from the output");
    const token = fromOutput
      ? decoder.decode(output.data).replace(/^.* by /, "")
      : decoder.decode(Uint8Array.fromBase64(meta.stderr));
    if (fromOutput) run.count("jobs finished from their output");
    const seen = run.observed.get(record.output) ?? new Set<string>();
    if (meta.state === "failed") {
      checkFailed(run, hash, record, meta, token, copies);
      if (outputMeta.state !== "failed") {
        run.violation(`job ${record.name} failed but its output is ${outputMeta.state}`);
      }
      if (seen.size > 0) run.violation(`output of failed job ${record.name} was read`);
      continue;
    }
    if (outputMeta.state !== "complete") {
      run.violation(`job ${record.name} done but its output is ${outputMeta.state}`);
      continue;
    }
    const text = decoder.decode(output.data);
    const inputs = record.inputs.map((input) => ({
      hash: input,
      data: copies.get(input)?.data ?? new Uint8Array(),
    }));
    const expected = `${outputText(hash, inputs)} by ${token}`;
    // Under a split brain a job may run on both sides, and the result kept
    // may not be the one a reader (or a dependent job) saw first.
    if (text !== expected) checkDependent(run, record, text, expected, exposed);
    if (!run.reported.get(hash)?.has(token)) {
      run.violation(`job ${record.name} holds result ${token}, which no runner reported`);
    }
    for (const other of seen) {
      if (other === text) continue;
      if (exposed.has(hash)) run.count("split brain: result replaced after a read");
      else run.violation(`output of ${record.name} was read as "${other}", is "${text}"`);
    }
  }
}

/**
 * A done job's output does not match its inputs as finally stored: a
 * violation, unless every input it read differently is the output of a job
 * exposed to a split brain (whose kept result is not the one first read).
 */
function checkDependent(
  run: Run,
  record: JobRecord,
  text: string,
  expected: string,
  exposed: ReadonlySet<number>,
): void {
  const parts = (line: string) => line.replace(/ by .*$/, "").split(" <= ")[1]?.split(",") ?? [];
  const got = parts(text);
  const want = parts(expected);
  const explained = text.replace(/^.* by /, "") === expected.replace(/^.* by /, "") &&
    got.length === want.length &&
    got.every((part, i) =>
      part === want[i] || exposed.has(run.outputs.get(record.inputs[i] ?? -1) ?? -1)
    );
  if (explained) return run.count("split brain: dependent saw another result");
  run.violation(`output of ${record.name}: "${text}", expected "${expected}"`);
}

/**
 * Jobs that may have run on both sides of a split brain: a live server was
 * declared dead while it was the job's owner (in the ring of the servers
 * running then) around the time the job was in flight.
 */
function splitBrainJobs(run: Run): Set<number> {
  const exposed = new Set<number>();
  for (const [hash, record] of run.jobs) {
    const finishedMs = run.finishedAt.get(hash) ?? Infinity;
    for (const death of run.falseDeaths) {
      if (record.submittedMs > death.atMs + splitBrainMs) continue;
      if (finishedMs < death.atMs - splitBrainMs) continue;
      if (death.ring.primary(hash) !== death.victim || exposed.has(hash)) continue;
      exposed.add(hash);
      run.trace(() =>
        `job ${record.name} (${
          hex(hash)
        }) exposed to a split brain: its owner ${death.victim} was declared dead at ${
          run.elapsed(death.atMs)
        }`
      );
    }
  }
  return exposed;
}

function checkFailed(
  run: Run,
  hash: number,
  record: JobRecord,
  meta: JobMeta,
  token: string,
  copies: ReadonlyMap<number, StoredObject>,
): void {
  switch (meta.reason) {
    case "exception":
      if (!run.reported.get(hash)?.has(token)) {
        run.violation(`job ${record.name} failed with result ${token}, which no runner reported`);
      }
      return;
    case "lost":
      return run.count("jobs lost");
    case "input-failed": {
      const failed = record.inputs.some((input) => {
        const meta = copies.get(input)?.meta;
        return meta?.kind === "file" && meta.state === "failed";
      });
      if (!failed) run.violation(`job ${record.name} failed for an input, none failed`);
      return;
    }
    default:
      run.violation(`job ${record.name} failed with reason ${meta.reason}`);
  }
}

/** Every acknowledged file and output reads the same through every live server. */
async function checkReadable(
  run: Run,
  live: readonly SimServer[],
  copies: ReadonlyMap<number, StoredObject>,
): Promise<void> {
  const self = run.client();
  const hashes = [...run.files.keys(), ...run.outputs.keys()];
  for (const server of live) {
    for (const hash of hashes) {
      let reply: Reply;
      try {
        reply = await run.network.send(self, server.id, { command: "GET", hash }, {
          timeoutMs: 30_000,
          peer: null,
        });
      } catch (error) {
        run.violation(`GET ${hex(hash)} via ${server.id}: ${(error as Error).message}`);
        continue;
      }
      const copy = copies.get(hash);
      const expected = run.files.get(hash)?.data ?? copy?.data;
      const failed = copy?.meta.kind === "file" && copy.meta.state === "failed";
      if (failed && !reply.ok && reply.reason === "failed") continue;
      if (!reply.ok) {
        run.violation(`GET ${hex(hash)} via ${server.id}: NACK ${reply.reason} ${reply.detail}`);
      } else if (
        expected === undefined || reply.fields[0] !== expected.toBase64()
      ) run.violation(`GET ${hex(hash)} via ${server.id} returned other content`);
    }
  }
}

// ------------------------------------------------------------------ a run

/** Runs the simulation for one seed and checks it. */
export async function simulate(seed: number, options: SimOptions = {}): Promise<SimResult> {
  const run = new Run(seed, options);
  const onRejection = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    run.violation(`unhandled rejection: ${(event.reason as Error)?.stack ?? event.reason}`);
  };
  globalThis.addEventListener("unhandledrejection", onRejection);
  let finished = false;
  try {
    const main = run.spawn("scenario", () => scenario(run)).finally(() => finished = true);
    await run.scheduler.runUntil(startMs + 600_000, () => finished);
    if (!finished) run.violation("the scenario did not finish within 600 s of virtual time");
    void main;
  } finally {
    run.cluster.shutdown();
    globalThis.removeEventListener("unhandledrejection", onRejection);
  }
  run.count("steps", run.scheduler.steps);
  run.count("messages", run.network.sent);
  run.count("copies corrupted", run.network.corrupted);
  return {
    seed,
    violations: run.violations,
    trace: run.traceLines(options.traceTail ?? 60),
    stats: run.stats,
  };
}

async function scenario(run: Run): Promise<void> {
  const random = run.random;
  const initial = random.int(3, 5);
  const maxServers = initial + random.int(0, 2);
  for (let i = 0; i < initial; i++) {
    const server = run.cluster.create(random.int(2, 12));
    const started = run.cluster.live().filter((s) => s.started);
    const join = started.length > 0 ? random.pick(started) : undefined;
    if (!await run.cluster.start(server, join)) run.violation(`${server.id} could not join`);
  }
  const activeMs = random.int(20_000, 60_000);
  run.activeUntil = run.scheduler.now + activeMs;
  const clients = Array.from(
    { length: random.int(1, 3) },
    (_, i) => run.spawn(`client ${i}`, () => client(run, i)),
  );
  let runnersStop = false;
  const runners = Array.from(
    { length: random.int(1, 3) },
    (_, i) => run.spawn(`runner ${i}`, () => runner(run, i, () => runnersStop)),
  );
  await run.spawn("chaos", () => chaos(run, maxServers));
  await Promise.all(clients);
  run.trace(() => "workload over; repair time");
  // Jobs finish; repair passes (one every 30 s) bring every copy in place.
  // The runners go on until every acknowledged job has finished somewhere
  // (a seed with one slow runner can leave a long queue), for at most 300 s.
  const drainUntil = run.scheduler.now + 300_000;
  await run.sleep(70_000);
  while (run.scheduler.now < drainUntil && unfinishedJobs(run) > 0) await run.sleep(5_000);
  runnersStop = true;
  await Promise.all(runners);
  await run.sleep(35_000);
  await checkEnd(run);
}
