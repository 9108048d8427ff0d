/**
 * Runners as servers know them: a runner tells the server it talks to who
 * it is and which jobs it holds (RUNR, every `runnerAnnounceMs`); that
 * server remembers it (at most `runnersMax`, forgetting one not heard of
 * for `runnerForgetMs`), and RUNS lists them: a client's RUNS across the
 * ring, each runner once (as the server that heard from it last saw it).
 * Nothing here is stored: a runner is known again once it announces.
 *
 * @module
 */

import { formatHash, parseHash } from "../protocol/hash.ts";
import { ack, ProtocolError, type Reply } from "../protocol/message.ts";
import {
  runnerAnnounceMs,
  runnerFieldCharsMax,
  runnerForgetMs,
  runnerJobsListedMax,
  runnersMax,
} from "../limits.ts";
import type { ServerContext } from "./context.ts";
import { askPeers, type FanOut, jsonAck, parseJsonField } from "./fan_out.ts";
import { pageJsonBytesMax } from "./job_listing_pages.ts";
import type { Session } from "./session.ts";

/** What a runner says of itself (RUNR). */
export interface RunnerRecord {
  readonly id: string;
  readonly host: string;
  /** `bwrap`, `pyodide`, … as the runner names its sandbox. */
  readonly sandbox: string;
  /** Jobs it runs at once. */
  readonly lanes: number;
  readonly version: string;
  readonly pid: number | null;
  /** The jobs it runs now, with how long each has run (by the runner's clock). */
  readonly jobs: readonly { readonly hash: number; readonly runningMs: number }[];
}

/** A runner as RUNS lists it (JSON on the wire; hashes as 8 hex digits). */
export interface RunnerView {
  readonly id: string;
  readonly host: string;
  readonly sandbox: string;
  readonly lanes: number;
  readonly version: string;
  readonly pid: number | null;
  readonly jobs: readonly { readonly hash: string; readonly runningMs: number }[];
  /** Since the server heard from it. */
  readonly lastSeenMs: number;
  /** The server it talks to. */
  readonly server: string;
}

/** A page of runners (RUNS's reply). */
export interface RunnerPage {
  readonly runners: readonly RunnerView[];
  /** The id to list after for the next page, or null. */
  readonly next: string | null;
  readonly servers: { asked: number; answered: number; unreachable: readonly string[] };
}

function fail(message: string): never {
  throw new ProtocolError("json", `Invalid runner record: ${message}`);
}

function text(value: unknown, what: string): string {
  if (typeof value !== "string" || value.length === 0 || value.length > runnerFieldCharsMax) {
    fail(`${what} must be a string of 1 to ${runnerFieldCharsMax} characters`);
  }
  return value;
}

function count(value: unknown, what: string, max: number): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0 || (value as number) > max) {
    fail(`${what} must be an integer from 0 to ${max}`);
  }
  return value as number;
}

/**
 * Parses a runner's record: JSON `{id, host, sandbox, lanes, version, pid?, jobs: [{hash, runningMs}]}`.
 *
 * @throws {ProtocolError} (`json`) when it is not JSON of that shape.
 */
export function parseRunnerRecord(json: string): RunnerRecord {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    fail("not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail("not an object");
  const raw = value as Record<string, unknown>;
  if (!Array.isArray(raw.jobs) || raw.jobs.length > runnerJobsListedMax) {
    fail(`jobs must be a list of at most ${runnerJobsListedMax}`);
  }
  const jobs = raw.jobs.map((job: unknown) => {
    const entry = (typeof job === "object" && job !== null ? job : {}) as Record<string, unknown>;
    if (typeof entry.hash !== "string" || !/^[0-9a-f]{8}$/.test(entry.hash)) {
      fail("a job's hash must be 8 hex digits");
    }
    return { hash: parseHash(entry.hash), runningMs: count(entry.runningMs, "runningMs", 2 ** 45) };
  });
  return {
    id: text(raw.id, "id"),
    host: text(raw.host, "host"),
    sandbox: text(raw.sandbox, "sandbox"),
    lanes: count(raw.lanes, "lanes", 1_000_000),
    version: text(raw.version, "version"),
    pid: raw.pid === undefined || raw.pid === null ? null : count(raw.pid, "pid", 2 ** 32),
    jobs,
  };
}

/** The runners one server heard from. */
export class RunnerRegistry {
  readonly #ctx: Pick<ServerContext, "id" | "now" | "membership" | "peers">;
  /** By id, the one heard from longest ago first. */
  readonly #runners = new Map<string, { record: RunnerRecord; seenMs: number }>();

  /** The registry of one server. */
  constructor(ctx: Pick<ServerContext, "id" | "now" | "membership" | "peers">) {
    this.#ctx = ctx;
  }

  /** RUNR: remembers what a runner said of itself. */
  announce(json: string): Reply {
    const record = parseRunnerRecord(json);
    this.#runners.delete(record.id);
    this.#runners.set(record.id, { record, seenMs: this.#ctx.now() });
    while (this.#runners.size > runnersMax) {
      this.#runners.delete(this.#runners.keys().next().value!);
    }
    return ack();
  }

  /** The runners heard from within `runnerForgetMs`, forgetting the others. */
  local(): RunnerView[] {
    const now = this.#ctx.now();
    const views: RunnerView[] = [];
    for (const [id, { record, seenMs }] of this.#runners) {
      if (now - seenMs > runnerForgetMs) {
        this.#runners.delete(id);
        continue;
      }
      views.push({
        ...record,
        jobs: record.jobs.map((job) => ({
          hash: formatHash(job.hash),
          runningMs: job.runningMs + (now - seenMs),
        })),
        lastSeenMs: now - seenMs,
        server: this.#ctx.id,
      });
    }
    return views;
  }

  /** Runners heard from within a few announcement intervals: those that run now. */
  get activeCount(): number {
    return this.local().filter((runner) => runner.lastSeenMs <= 3 * runnerAnnounceMs).length;
  }

  /**
   * RUNS: the runners this server heard from or, for a client, every
   * server's, each once, by id, from `after` on.
   *
   * @throws {ProtocolError} (`json`) when the query is not `{after?, limit?}`.
   */
  async list(query: string, session: Session): Promise<Reply> {
    const { after, limit } = parseRunnerQuery(query);
    const fanned: FanOut = session.peer
      ? { answers: [], unreachable: [] }
      : await askPeers(this.#ctx, { command: "RUNS", query });
    const byId = new Map<string, RunnerView>();
    const add = (view: RunnerView) => {
      const known = byId.get(view.id);
      if (!known || view.lastSeenMs < known.lastSeenMs) byId.set(view.id, view);
    };
    this.local().forEach(add);
    const unreachable = [...fanned.unreachable];
    let answered = 1;
    for (const { id, fields } of fanned.answers) {
      try {
        (parseJsonField(fields[0]) as RunnerPage).runners.forEach(add);
        answered++;
      } catch {
        unreachable.push(id);
      }
    }
    const sorted = [...byId.values()]
      .filter((view) => after === null || view.id > after)
      .sort((a, b) => (a.id < b.id ? -1 : 1));
    const servers = { asked: answered + unreachable.length, answered, unreachable };
    return ack(jsonAck(fitRunners(sorted, limit, servers)));
  }
}

/** Runners RUNS lists at most per page. */
const runnersPageMax = 1000;

function parseRunnerQuery(json: string): { after: string | null; limit: number } {
  let raw: Record<string, unknown> = {};
  try {
    if (json !== "") raw = JSON.parse(json);
  } catch {
    throw new ProtocolError("json", "Invalid query: not JSON");
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ProtocolError("json", "Invalid query: not an object");
  }
  const limit = raw.limit ?? runnersPageMax;
  if (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > runnersPageMax) {
    throw new ProtocolError("json", `Invalid query: limit must be from 1 to ${runnersPageMax}`);
  }
  if (raw.after !== undefined && typeof raw.after !== "string") {
    throw new ProtocolError("json", "Invalid query: after must be a runner id");
  }
  return { after: (raw.after as string | undefined) ?? null, limit: limit as number };
}

const encoder = new TextEncoder();

/** The first runners of `sorted` that fit in one reply, and where the next page starts. */
export function fitRunners(
  sorted: readonly RunnerView[],
  limit: number,
  servers: RunnerPage["servers"],
): RunnerPage {
  let bytes = encoder.encode(JSON.stringify({ runners: [], next: "", servers })).length +
    runnerFieldCharsMax * 3;
  const runners: RunnerView[] = [];
  for (const view of sorted) {
    const size = encoder.encode(JSON.stringify(view)).length + 1;
    if (runners.length >= limit || bytes + size > pageJsonBytesMax) break;
    bytes += size;
    runners.push(view);
  }
  const next = runners.length < sorted.length ? runners.at(-1)?.id ?? null : null;
  return { runners, next, servers };
}
