/**
 * Looking at the ring from a client: listing jobs (JOBS, page after page),
 * one job's whole record with its stderr, live while it runs (JOBI), the
 * runners (RUNS). The answers are JSON documented in docs/PROTOCOL.md
 * (5.24-5.28); the types below say what a client may rely on.
 *
 * @module
 */

import { parseHash } from "../protocol/hash.ts";
import type { ComputeCloud } from "./cloud.ts";
import { CloudError } from "./errors.ts";

/** A job as a listing shows it. */
export interface JobSummary {
  readonly hash: string;
  readonly name: string;
  readonly state: string;
  readonly createdMs: number;
  /** Since it was created, by the clock of the server that answered. */
  readonly ageMs: number;
  readonly attempt: number;
  readonly lost: number;
  readonly runningMs: number | null;
  readonly ranMs: number | null;
  readonly leaseRemainingMs: number | null;
  readonly exitCode: number | null;
  readonly reason: string | null;
  readonly detail: string;
  readonly output: string;
  readonly outputName: string;
  readonly inputs: readonly string[];
  readonly inputCount: number;
}

/** Which servers an answer covers. */
export interface Coverage {
  readonly asked: number;
  readonly answered: number;
  readonly unreachable: readonly string[];
}

/** A page of jobs. */
export interface JobPage {
  readonly jobs: readonly JobSummary[];
  readonly next: string | null;
  readonly counts: Readonly<Record<string, number>>;
  readonly servers: Coverage;
}

/** A job's whole record (JOBI). */
export interface JobRecord extends Omit<JobSummary, "inputs"> {
  readonly leaseUntilMs: number | null;
  readonly inputs: readonly { readonly hash: string; readonly name: string }[];
  /** Base64 of the job's source. */
  readonly source: string;
  /** Base64 of its stderr: so far while it runs (`stderrLive`), else the final one. */
  readonly stderr: string;
  readonly stderrLive: boolean;
  readonly stderrAgeMs: number | null;
}

/** A runner as the ring knows it. */
export interface RunnerInfo {
  readonly id: string;
  readonly host: string;
  readonly sandbox: string;
  readonly lanes: number;
  readonly version: string;
  readonly pid: number | null;
  readonly jobs: readonly { readonly hash: string; readonly runningMs: number }[];
  readonly lastSeenMs: number;
  readonly server: string;
}

/** What to list. */
export interface JobListQuery {
  /** Only these states. */
  readonly states?: readonly string[];
  /** A part of the name, or a pattern with `*` and `?` matching the whole name. */
  readonly name?: string;
  /** Only jobs reading this file. */
  readonly input?: string;
  /** At most this many jobs (several pages when more than a page holds). */
  readonly limit?: number;
}

/** Jobs one request asks for: what a server's page holds at most. */
const pageLimitMax = 200;

const decoder = new TextDecoder();

async function jsonCall<T>(cloud: ComputeCloud, request: Parameters<ComputeCloud["call"]>[0]) {
  const [field] = await cloud.call(request);
  return JSON.parse(decoder.decode(Uint8Array.fromBase64(field ?? ""))) as T;
}

/**
 * Lists the ring's jobs, newest first: up to `query.limit` (default 50),
 * with the counts by state of those matching the name and input.
 *
 * @throws {CloudError} on a NACK (`json` for a bad query, `unknown-command` from an older server).
 */
export async function listJobs(cloud: ComputeCloud, query: JobListQuery = {}): Promise<JobPage> {
  const wanted = query.limit ?? 50;
  const jobs: JobSummary[] = [];
  let before: string | undefined;
  for (;;) {
    const limit = Math.min(pageLimitMax, wanted - jobs.length);
    const page = await jsonCall<JobPage>(cloud, {
      command: "JOBS",
      query: JSON.stringify({
        ...(query.states && query.states.length > 0 ? { states: query.states } : {}),
        ...(query.name ? { name: query.name } : {}),
        ...(query.input ? { input: query.input } : {}),
        limit,
        ...(before ? { before } : {}),
      }),
    });
    jobs.push(...page.jobs);
    if (page.next === null || jobs.length >= wanted || page.jobs.length === 0) {
      return { ...page, jobs };
    }
    before = page.next;
  }
}

/**
 * A job's whole record, from its primary: source, inputs, attempts and
 * lease, and stderr (so far, while it runs).
 *
 * @throws {CloudError} `not-found`, `not-a-job`, or `unknown-command` from an older server.
 */
export async function jobRecord(cloud: ComputeCloud, hash: string): Promise<JobRecord> {
  return await jsonCall<JobRecord>(cloud, { command: "JOBI", hash: parseHash(hash) });
}

/** Every runner the ring's servers heard from lately, by id. */
export async function listRunners(
  cloud: ComputeCloud,
): Promise<{ runners: RunnerInfo[]; servers: Coverage }> {
  const runners: RunnerInfo[] = [];
  let after: string | null = null;
  for (;;) {
    const page: { runners: RunnerInfo[]; next: string | null; servers: Coverage } = await jsonCall(
      cloud,
      { command: "RUNS", query: after === null ? "" : JSON.stringify({ after }) },
    );
    runners.push(...page.runners);
    if (page.next === null || page.runners.length === 0) return { runners, servers: page.servers };
    after = page.next;
  }
}

/** The runner holding job `hash` now, if the ring knows one. */
export async function runnerOf(cloud: ComputeCloud, hash: string): Promise<RunnerInfo | null> {
  try {
    const { runners } = await listRunners(cloud);
    return runners.find((runner) => runner.jobs.some((job) => job.hash === hash)) ?? null;
  } catch (error) {
    if (error instanceof CloudError) return null;
    throw error;
  }
}
