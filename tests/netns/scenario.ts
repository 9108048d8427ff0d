/**
 * Runs a scenario: a cluster of hosts, load from several clients (ADDs,
 * GETs, jobs and reads of their outputs, each recorded in a
 * {@linkcode History}), faults on a schedule drawn from a seed, then
 * healing, the time until every object is back at R copies, final reads of
 * everything acknowledged, and the checker's verdict.
 *
 * A seed fixes every choice the test makes (which operation, which server,
 * when each fault comes and goes); the processes' own timing is real, so a
 * seed reproduces the schedule, not every interleaving.
 *
 * @module
 */

import { Random } from "../sim.ts";
import { type Agent, NetCluster, type NetServer, type Timed } from "./harness.ts";
import type { CopyCount } from "./agent.ts";
import { check, type CheckResult, formatViolation } from "./checker.ts";
import { type AddOp, expectedFileHash, History, jobCode, type NewOp, type Op } from "./history.ts";

const replicas = 2;

/** A client host and the servers (by index) its lanes send requests to. */
export interface ClientSpec {
  readonly host: string;
  readonly servers: readonly number[];
  /** Operations in flight at once. */
  readonly lanes?: number;
}

/** A runner host and the server (by index) it attaches to. */
export interface RunnerSpec {
  readonly host: string;
  readonly server: number;
  /** Jobs it runs at once (default 2). */
  readonly jobs?: number;
}

/** What a scenario's fault schedule can do; every action is logged with its time. */
export interface FaultContext {
  readonly cluster: NetCluster;
  readonly rng: Random;
  /** Milliseconds since the load began. */
  elapsed(): number;
  sleep(ms: number): Promise<void>;
  /** Blocks both ways between the hosts of `a` and of `b`. */
  partition(a: readonly string[], b: readonly string[]): Promise<void>;
  /** Blocks from the hosts of `from` to those of `to` only. */
  block(from: readonly string[], to: readonly string[]): Promise<void>;
  /** Cuts one host off from all others. */
  isolate(host: string): Promise<void>;
  /** Removes every block. */
  heal(): Promise<void>;
  pause(server: number): void;
  resume(server: number): void;
  kill(server: number): Promise<void>;
  restart(server: number): Promise<void>;
  fillDisk(server: number): Promise<void>;
  freeDisk(server: number): Promise<void>;
  /** Records a note in the fault timeline. */
  note(text: string): void;
}

/** One scenario of issue 17. */
export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly servers: number;
  readonly serverArgs?: readonly string[];
  readonly diskMb?: Readonly<Record<number, number>>;
  readonly clients: readonly ClientSpec[];
  readonly runners: readonly RunnerSpec[];
  /** How long the load runs; the faults run within it. */
  readonly loadMs: number;
  /** Jobs submitted at most (0: no jobs). */
  readonly jobs: number;
  /** How long each job sleeps before printing. */
  readonly jobSleepMs?: number;
  /** Jobs are submitted at most this often, so they spread over the load (default 800 ms). */
  readonly jobIntervalMs?: number;
  /** How often a job reads another job's output rather than a file (default 0.4). */
  readonly chainChance?: number;
  /** The fault schedule; whatever it leaves broken is healed after the load. */
  faults(context: FaultContext): Promise<void>;
  /** Checks of this scenario beyond the checker's: a message per failure. */
  expect?(history: readonly Op[], timeline: readonly FaultEvent[]): string[];
}

/** A fault action and when it happened (ms since the load began; `at` epoch ms). */
export interface FaultEvent {
  readonly ms: number;
  readonly at: number;
  readonly action: string;
}

/** What a scenario run found. */
export interface ScenarioReport {
  readonly name: string;
  readonly seed: number;
  readonly result: CheckResult;
  /** The scenario's own checks that failed. */
  readonly expectations: readonly string[];
  /** Last fault healed → every tracked object at R copies on the running servers, or null. */
  readonly healMs: number | null;
  readonly summary: Readonly<Record<string, number>>;
  readonly timeline: readonly FaultEvent[];
  readonly history: readonly Op[];
  /** First violation with its history, or a line saying there was none. */
  readonly text: string;
}

/** Options of {@linkcode runScenario}. */
export interface RunOptions {
  readonly log?: (message: string) => void;
  /** Longest wait for healing (default 90 s). */
  readonly healTimeoutMs?: number;
  /** Log the servers' logs at the end even when nothing was found. */
  readonly serverLogs?: boolean;
}

/**
 * Runs `scenario` with `seed` and returns what the checker found; throws
 * only when the cluster cannot be set up.
 */
export async function runScenario(
  scenario: Scenario,
  seed: number,
  options: RunOptions = {},
): Promise<ScenarioReport> {
  const log = options.log ?? (() => {});
  await using cluster = await NetCluster.start({
    servers: scenario.servers,
    ...(scenario.serverArgs ? { serverArgs: scenario.serverArgs } : {}),
    ...(scenario.diskMb ? { diskMb: scenario.diskMb } : {}),
  });
  const control = await cluster.agent("ctl");
  const agents = await Promise.all(scenario.clients.map((client) => cluster.agent(client.host)));
  for (const runner of scenario.runners) {
    // Not quiet: its log (kept, printed on failure) says what became of each job.
    await cluster.runner(runner.host, cluster.servers[runner.server]!, [
      "--jobs",
      String(runner.jobs ?? 2),
    ]);
  }
  const history = new History();
  const timeline: FaultEvent[] = [];
  const started = Date.now();
  let lastFaultEnd = started;
  const event = (action: string) => {
    const at = Date.now();
    timeline.push({ ms: at - started, at, action });
    log(`${((at - started) / 1000).toFixed(1)}s ${action}`);
  };
  const rng = new Random(seed);
  const context: FaultContext = {
    cluster,
    rng,
    elapsed: () => Date.now() - started,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    partition: async (a, b) => {
      await cluster.network.partition(a, b);
      event(`partition ${a.join(",")} | ${b.join(",")}`);
    },
    block: async (from, to) => {
      await cluster.network.block(from, to);
      event(`block ${from.join(",")} -> ${to.join(",")}`);
    },
    isolate: async (host) => {
      await cluster.network.isolate(host);
      event(`isolate ${host}`);
    },
    heal: async () => {
      await cluster.network.heal();
      lastFaultEnd = Date.now();
      event("heal");
    },
    pause: (index) => {
      cluster.pause(index);
      event(`pause s${index}`);
    },
    resume: (index) => {
      cluster.resume(index);
      lastFaultEnd = Date.now();
      event(`resume s${index}`);
    },
    kill: async (index) => {
      await cluster.kill(index);
      event(`kill -9 s${index}`);
    },
    restart: async (index) => {
      await cluster.restart(index);
      lastFaultEnd = Date.now();
      event(`restart s${index}`);
    },
    fillDisk: async (index) => {
      const bytes = await cluster.fillDisk(index);
      event(`fill disk of s${index} (${bytes} bytes)`);
    },
    freeDisk: async (index) => {
      await cluster.freeDisk(index);
      lastFaultEnd = Date.now();
      event(`free disk of s${index}`);
    },
    note: (text) => event(text),
  };

  const state = new LoadState(scenario, cluster, history, seed);
  const stop = new AbortController();
  const lanes = scenario.clients.flatMap((client, c) =>
    Array.from(
      { length: client.lanes ?? 2 },
      (_, lane) => state.lane(agents[c]!, client, `${client.host}/${lane}`, stop.signal),
    )
  );
  const healTimeoutMs = options.healTimeoutMs ?? 90_000;
  // Time to heal is measured from the end of the schedule, while the load
  // goes on, over the objects acknowledged by then.
  let monitor: Promise<number | null> | undefined;
  const faults = scenario.faults(context).catch((error) => {
    event(`fault schedule failed: ${(error as Error).stack ?? error}`);
  }).then(() => {
    monitor = waitHealed(control, cluster, state.tracked(), lastFaultEnd, {
      timeoutMs: healTimeoutMs,
      log,
    });
  });
  await Promise.all([faults, context.sleep(scenario.loadMs)]);
  stop.abort();
  await Promise.all(lanes);
  event("load stopped");

  // Heal whatever the schedule left broken.
  const faultEnd = lastFaultEnd;
  if (cluster.network.partitioned) await context.heal();
  for (const server of cluster.servers) {
    if (server.paused) context.resume(server.index);
    if (!server.process || server.process.exited) await context.restart(server.index);
    if (server.diskMb !== undefined) await cluster.freeDisk(server.index);
  }
  let healMs = await monitor!;
  const everything = await waitHealed(control, cluster, state.tracked(), lastFaultEnd, {
    timeoutMs: healTimeoutMs,
    log,
  });
  if (lastFaultEnd !== faultEnd || everything === null) healMs = everything;
  event(healMs === null ? "not healed" : `healed ${healMs} ms after the last fault`);
  await finalReads(control, cluster, history, new Random(seed ^ 0x5eed));
  event("final reads done");
  const after = await healState(control, cluster, state.tracked());
  event(`after the final reads: ${after}`);
  const result = check(history.ops);
  const expectations = [
    ...(healMs === null
      ? [`not every object was back at ${replicas} copies within the heal timeout`]
      : []),
    ...(scenario.expect?.(history.ops, timeline) ?? []),
  ];
  const text = [
    formatViolation(result, history.ops, seed),
    ...expectations.map((e) => `  expectation failed: ${e}`),
    ...(result.violations.length || expectations.length
      ? [
        `  fault timeline:`,
        ...timeline.map((e) => `    ${(e.ms / 1000).toFixed(1)}s ${e.action}`),
      ]
      : []),
  ].join("\n");
  if (options.serverLogs || result.violations.length || expectations.length) {
    log(cluster.serverLogs(options.serverLogs ? 400 : 30));
  }
  return {
    name: scenario.name,
    seed,
    result,
    expectations,
    healMs,
    summary: history.summary(),
    timeline,
    history: history.ops,
    text,
  };
}

/** What the clients know, shared by their lanes. */
class LoadState {
  readonly #scenario: Scenario;
  readonly #cluster: NetCluster;
  readonly #history: History;
  readonly #seed: number;
  /** Files acknowledged or attempted, by hash. */
  readonly files: AddOp[] = [];
  /** Jobs submitted and acknowledged. */
  readonly jobs: { job: string; output: string }[] = [];
  #submitted = 0;
  #lastSubmit = 0;
  #counter = 0;
  #lanes = 0;

  constructor(scenario: Scenario, cluster: NetCluster, history: History, seed: number) {
    this.#scenario = scenario;
    this.#cluster = cluster;
    this.#history = history;
    this.#seed = seed;
  }

  /** Every hash that must be back at R copies after healing. */
  tracked(): string[] {
    return [
      ...new Set([
        ...this.files.filter((f) => f.outcome === "ok").map((f) => f.hash),
        ...this.jobs.flatMap((j) => [j.job, j.output]),
      ]),
    ];
  }

  /** One client lane: operations one after another until `signal` aborts. */
  async lane(agent: Agent, client: ClientSpec, name: string, signal: AbortSignal): Promise<void> {
    const rng = new Random(this.#seed * 31 + ++this.#lanes);
    while (!signal.aborted) {
      const server = this.#cluster.servers[rng.pick(client.servers)]!;
      const roll = rng.next();
      const canSubmit = this.#scenario.jobs > this.#submitted &&
        Date.now() - this.#lastSubmit >= (this.#scenario.jobIntervalMs ?? 800) &&
        this.files.some((f) => f.outcome === "ok");
      if (roll < 0.45 || this.files.length === 0) await this.#add(agent, server, name);
      else if (roll < 0.85) await this.#read(agent, server, name, rng);
      else if (roll < 0.95 && canSubmit) await this.#submit(agent, server, name, rng);
      else if (roll >= 0.95 && this.jobs.length > 0) {
        await this.#readOutput(agent, server, name, rng, 500, "load");
      } else await this.#read(agent, server, name, rng);
    }
  }

  async #add(agent: Agent, server: NetServer, client: string): Promise<void> {
    const text = `f${this.#counter++} ${crypto.randomUUID()}`;
    const reply = await agent.call({ op: "add", server: server.id, name: "in", text });
    const op = this.#history.record({
      ...base(reply, client, server, "load"),
      kind: "add",
      name: "in",
      text,
      hash: reply.ok ? String(reply.value) : expectedFileHash("in", text),
    }) as AddOp;
    this.files.push(op);
  }

  async #read(agent: Agent, server: NetServer, client: string, rng: Random): Promise<void> {
    const file = rng.pick(this.files);
    const reply = await agent.call({ op: "get", server: server.id, hash: file.hash });
    this.#history.record({
      ...base(reply, client, server, "load"),
      kind: "read",
      hash: file.hash,
      ...(reply.ok ? { value: String(reply.value) } : {}),
    });
  }

  async #submit(agent: Agent, server: NetServer, client: string, rng: Random): Promise<void> {
    this.#submitted++;
    this.#lastSubmit = Date.now();
    const acked = this.files.filter((f) => f.outcome === "ok");
    const chain = this.jobs.length > 0 && rng.chance(this.#scenario.chainChance ?? 0.4);
    const input = chain ? rng.pick(this.jobs).output : rng.pick(acked).hash;
    const name = `j${this.#submitted}-${this.#seed}`;
    const reply = await agent.call({
      op: "job",
      server: server.id,
      name,
      code: jobCode(this.#scenario.jobSleepMs ?? 100),
      outputName: "in",
      inputs: [input],
    });
    const value = reply.ok ? reply.value as { job: string; output: string } : undefined;
    this.#history.record({
      ...base(reply, client, server, "load"),
      kind: "submit",
      name,
      input,
      ...(value ? { job: value.job, output: value.output } : {}),
    });
    if (value) this.jobs.push(value);
  }

  async #readOutput(
    agent: Agent,
    server: NetServer,
    client: string,
    rng: Random,
    timeoutMs: number,
    phase: "load" | "final",
  ): Promise<void> {
    const job = rng.pick(this.jobs);
    await readOutput(this.#history, agent, server, client, job, timeoutMs, phase);
  }
}

async function readOutput(
  history: History,
  agent: Agent,
  server: NetServer,
  client: string,
  job: { job: string; output: string },
  timeoutMs: number,
  phase: "load" | "final",
): Promise<void> {
  const reply = await agent.call(
    { op: "output", server: server.id, hash: job.output, timeoutMs },
    timeoutMs + 10_000,
  );
  history.record({
    ...base(reply, client, server, phase),
    kind: "output",
    job: job.job,
    output: job.output,
    ...(reply.ok ? { value: String(reply.value) } : {}),
  });
}

/** The fields every operation has, from an agent's reply. */
function base(reply: Timed, client: string, server: NetServer, phase: "load" | "final") {
  const common = { client, server: server.host, start: reply.start, end: reply.end, phase };
  if (reply.ok) return { ...common, outcome: "ok" as const };
  const definite = reply.error.kind === "nack" && reply.error.reason !== "timeout";
  return {
    ...common,
    outcome: definite ? "fail" as const : "unknown" as const,
    error: `${reply.error.reason}: ${reply.error.message.slice(0, 160)}`,
  };
}

/**
 * Waits until every running server sees the same ring of all running
 * servers and every tracked hash is held by all R of its owners at one
 * version (stray copies on other servers may remain: they are dropped by
 * a later anti-entropy pass); returns the time from `since` to then, or
 * null on timeout.
 */
export async function waitHealed(
  control: Agent,
  cluster: NetCluster,
  hashes: readonly string[],
  since: number,
  options: { timeoutMs: number; log: (message: string) => void },
): Promise<number | null> {
  const deadline = Date.now() + options.timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    const state = await healState(control, cluster, hashes);
    if (state.startsWith("healed")) return Date.now() - since;
    if (state.replace(/[0-9]+/g, "") !== last.replace(/[0-9]+/g, "")) {
      options.log(`${((Date.now() - since) / 1000).toFixed(1)}s after the last fault: ${state}`);
    }
    last = state;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  options.log(`not healed: ${last}`);
  return null;
}

async function healState(
  control: Agent,
  cluster: NetCluster,
  hashes: readonly string[],
): Promise<string> {
  const ids = cluster.running.map((s) => s.id).sort();
  for (const server of cluster.running) {
    const info = await control.call({ op: "info", server: server.id }, 8_000);
    if (!info.ok) return `${server.host} does not answer INFO: ${info.error.message}`;
    const ring = [...(info.value as { ring: string[] }).ring].sort();
    if (ring.join() !== ids.join()) return `${server.host} sees ring ${ring.join(",")}`;
  }
  const reply = await control.call({
    op: "copies",
    servers: ids,
    hashes: [...hashes],
    replicas,
  }, 30_000);
  if (!reply.ok) return `cannot count copies: ${reply.error.message}`;
  const counts = reply.value as CopyCount[];
  const wrong = counts.filter((c) =>
    !c.owners.every((owner) => c.holders.includes(owner)) || new Set(c.versions).size !== 1
  );
  if (wrong.length > 0) {
    const example = wrong[0]!;
    return `${wrong.length} objects not on their ${replicas} owners at one version, e.g. ${example.hash} owned by ${
      example.owners.join(",")
    } held by ${example.holders.join(",") || "none"} (versions ${example.versions.join(",")})`;
  }
  const strays = counts.filter((c) => c.holders.length > replicas).length;
  return strays === 0 ? "healed" : `healed but ${strays} objects have stray copies`;
}

/**
 * Reads back, through the control host, every file written (acknowledged
 * ones through two servers) and every job's output (through two servers,
 * waiting for it to finish).
 */
async function finalReads(
  control: Agent,
  cluster: NetCluster,
  history: History,
  rng: Random,
): Promise<void> {
  const files = new Map<string, AddOp>();
  for (const op of history.ops) {
    if (op.kind === "add" && (!files.has(op.hash) || op.outcome === "ok")) files.set(op.hash, op);
  }
  const jobs = history.ops.flatMap((op) =>
    op.kind === "submit" && op.outcome === "ok" ? [{ job: op.job!, output: op.output! }] : []
  );
  const servers = cluster.running;
  const tasks: (() => Promise<void>)[] = [];
  for (const file of files.values()) {
    const count = file.outcome === "ok" ? 2 : 1;
    for (const server of rng.sample(servers, count)) {
      tasks.push(async () => {
        const reply = await control.call({ op: "get", server: server.id, hash: file.hash });
        history.record({
          ...base(reply, "ctl", server, "final"),
          kind: "read",
          hash: file.hash,
          ...(reply.ok ? { value: String(reply.value) } : {}),
        } as NewOp);
      });
    }
  }
  for (const job of jobs) {
    for (const server of rng.sample(servers, 2)) {
      tasks.push(() => readOutput(history, control, server, "ctl", job, 60_000, "final"));
    }
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < tasks.length) await tasks[next++]!();
    }),
  );
}
