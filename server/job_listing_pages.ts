/**
 * Job listings as data: the JOBS query, which jobs match it, the summary
 * of a job a listing shows, the order (newest first) and the paging (a page
 * fits one frame; its cursor says where the next starts), merging the pages
 * of several servers into one, and the record of one job JOBI answers.
 * Pure: time comes in as `nowMs`.
 *
 * @module
 */

import { formatHash, parseHash } from "../protocol/hash.ts";
import { capDetail, ProtocolError } from "../protocol/message.ts";
import { type JobState, jobStates } from "../protocol/states.ts";
import {
  framePayloadBytesMax,
  jobListingLimitDefault,
  jobListingLimitMax,
  listingDetailBytesMax,
  listingInputsMax,
} from "../limits.ts";

/** Where a page starts: after the job created at `createdMs` with hash `hash` (newest first). */
export interface Cursor {
  readonly createdMs: number;
  readonly hash: number;
}

/** A JOBS query, checked. */
export interface JobQuery {
  /** Only jobs in these states; null for all. */
  readonly states: ReadonlySet<string> | null;
  /** Only jobs whose name matches (see {@linkcode nameMatches}); null for all. */
  readonly name: string | null;
  /** Only jobs that read this file; null for all. */
  readonly input: number | null;
  readonly limit: number;
  /** Only jobs older than this position (the next page). */
  readonly before: Cursor | null;
}

/** What a server knows of one job it holds, as its catalogue keeps it. */
export interface CatalogueEntry {
  readonly hash: number;
  readonly name: string;
  readonly state: JobState;
  /** The record's version (objects.ts): the higher of two copies is the fresher. */
  readonly version: number;
  readonly createdMs: number;
  readonly attempt: number;
  readonly lost: number;
  readonly leaseUntilMs: number;
  readonly exitCode: number | null;
  readonly reason: string | null;
  readonly detail: string;
  readonly output: number;
  readonly outputName: string;
  readonly inputs: readonly number[];
  /** When this server saw the current lease begin (its clock); null when not seen. */
  readonly leasedMs: number | null;
  /** When this server saw the job finish (its clock); null when not seen. */
  readonly finishedMs: number | null;
}

/** A job as a listing shows it (on the wire: JSON; hashes as 8 hex digits). */
export interface JobSummary {
  readonly hash: string;
  readonly name: string;
  readonly state: JobState;
  readonly version: number;
  readonly createdMs: number;
  /** Since the job was created, by the clock of the server answering. */
  readonly ageMs: number;
  readonly attempt: number;
  readonly lost: number;
  /** Leased: how long the current lease has run (as far as the server saw it begin). */
  readonly runningMs: number | null;
  /** Finished: from the last lease to the end, when the server saw both. */
  readonly ranMs: number | null;
  /** Leased: until the lease expires. */
  readonly leaseRemainingMs: number | null;
  readonly exitCode: number | null;
  readonly reason: string | null;
  /** The failure detail, cut to `listingDetailBytesMax`. */
  readonly detail: string;
  readonly output: string;
  readonly outputName: string;
  /** The first `listingInputsMax` inputs. */
  readonly inputs: readonly string[];
  readonly inputCount: number;
}

/** Counts of jobs by state. */
export type StateCounts = Record<string, number>;

/** Which servers a ring-wide answer covers. */
export interface Coverage {
  readonly asked: number;
  readonly answered: number;
  /** Servers that did not answer (their jobs are missing from the page). */
  readonly unreachable: readonly string[];
}

/** One page of a job listing (JOBS's reply). */
export interface JobPage {
  readonly jobs: readonly JobSummary[];
  /** The cursor of the next page, or null when this is the last. */
  readonly next: string | null;
  /** Jobs by state among those matching the query's name and input (not its states). */
  readonly counts: StateCounts;
  readonly servers: Coverage;
}

function fail(message: string): never {
  throw new ProtocolError("json", `Invalid query: ${message}`);
}

/** The text of a cursor. */
export function formatCursor(cursor: Cursor): string {
  return `${cursor.createdMs}-${formatHash(cursor.hash)}`;
}

/**
 * Parses a cursor.
 *
 * @throws {ProtocolError} (`json`) when it is not one.
 */
export function parseCursor(text: string): Cursor {
  const match = /^([0-9]{1,16})-([0-9a-fA-F]{1,8})$/.exec(text);
  if (!match) fail(`bad cursor ${JSON.stringify(text.slice(0, 40))}`);
  return { createdMs: Number(match[1]), hash: parseHash(match[2]!) };
}

/**
 * Parses a JOBS query: JSON `{states?, name?, input?, limit?, before?}`,
 * or "" for the defaults.
 *
 * @throws {ProtocolError} (`json`) when it is not JSON of that shape.
 */
export function parseJobQuery(text: string): JobQuery {
  let value: unknown = {};
  if (text !== "") {
    try {
      value = JSON.parse(text);
    } catch {
      fail("not JSON");
    }
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail("not an object");
  const raw = value as Record<string, unknown>;
  let states: Set<string> | null = null;
  if (raw.states !== undefined) {
    if (!Array.isArray(raw.states)) fail("states must be a list");
    for (const state of raw.states) {
      if (!(jobStates as readonly unknown[]).includes(state)) {
        fail(`unknown state ${JSON.stringify(state)} (states: ${jobStates.join(", ")})`);
      }
    }
    states = raw.states.length === 0 ? null : new Set(raw.states as string[]);
  }
  if (raw.name !== undefined && (typeof raw.name !== "string" || raw.name.length > 1024)) {
    fail("name must be a string of at most 1024 characters");
  }
  let input: number | null = null;
  if (raw.input !== undefined) {
    if (typeof raw.input !== "string" || !/^[0-9a-fA-F]{1,8}$/.test(raw.input)) {
      fail("input must be a hash of 8 hex digits");
    }
    input = parseHash(raw.input);
  }
  const limit = raw.limit ?? jobListingLimitDefault;
  if (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > jobListingLimitMax) {
    fail(`limit must be an integer from 1 to ${jobListingLimitMax}`);
  }
  if (raw.before !== undefined && typeof raw.before !== "string") fail("before must be a cursor");
  return {
    states,
    name: typeof raw.name === "string" && raw.name !== "" ? raw.name : null,
    input,
    limit: limit as number,
    before: typeof raw.before === "string" ? parseCursor(raw.before) : null,
  };
}

/** The JSON text of a query (what a client sends). */
export function encodeJobQuery(query: {
  readonly states?: readonly string[];
  readonly name?: string;
  readonly input?: string;
  readonly limit?: number;
  readonly before?: string;
}): string {
  return JSON.stringify(query);
}

/**
 * Whether `name` matches `pattern`: with `*` (any run) or `?` (one
 * character) the whole name must match; without them, the name must
 * contain the pattern.
 */
export function nameMatches(pattern: string, name: string): boolean {
  if (!/[*?]/.test(pattern)) return name.includes(pattern);
  const source = [...pattern].map((c) =>
    c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|[\]\\]/g, "\\$&")
  ).join("");
  return new RegExp(`^${source}$`, "s").test(name);
}

/** True when the job matches the query's name and input (its states aside). */
export function matchesFilters(entry: CatalogueEntry, query: JobQuery): boolean {
  if (query.name !== null && !nameMatches(query.name, entry.name)) return false;
  return query.input === null || entry.inputs.includes(query.input);
}

/** True when the job belongs on the query's page: filters, states, and before the cursor. */
export function matchesQuery(entry: CatalogueEntry, query: JobQuery): boolean {
  if (query.states !== null && !query.states.has(entry.state)) return false;
  if (query.before !== null && !isOlder(entry, query.before)) return false;
  return matchesFilters(entry, query);
}

function isOlder(job: { createdMs: number; hash: number }, cursor: Cursor): boolean {
  return job.createdMs < cursor.createdMs ||
    (job.createdMs === cursor.createdMs && job.hash < cursor.hash);
}

/** Newest first; between jobs created at the same time, the higher hash first. */
export function newestFirst(
  a: { readonly createdMs: number; readonly hash: string | number },
  b: { readonly createdMs: number; readonly hash: string | number },
): number {
  if (a.createdMs !== b.createdMs) return b.createdMs - a.createdMs;
  const ha = typeof a.hash === "number" ? a.hash : parseHash(a.hash);
  const hb = typeof b.hash === "number" ? b.hash : parseHash(b.hash);
  return hb - ha;
}

/** How a catalogue entry shows in a listing, at `nowMs`. */
export function summaryOf(entry: CatalogueEntry, nowMs: number): JobSummary {
  const leased = entry.state === "leased";
  const finished = entry.state === "done" || entry.state === "failed";
  return {
    hash: formatHash(entry.hash),
    name: entry.name,
    state: entry.state,
    version: entry.version,
    createdMs: entry.createdMs,
    ageMs: Math.max(0, nowMs - entry.createdMs),
    attempt: entry.attempt,
    lost: entry.lost,
    runningMs: leased && entry.leasedMs !== null ? Math.max(0, nowMs - entry.leasedMs) : null,
    ranMs: finished && entry.leasedMs !== null && entry.finishedMs !== null
      ? Math.max(0, entry.finishedMs - entry.leasedMs)
      : null,
    leaseRemainingMs: leased ? entry.leaseUntilMs - nowMs : null,
    exitCode: entry.exitCode,
    reason: entry.reason,
    detail: capDetail(entry.detail, listingDetailBytesMax),
    output: formatHash(entry.output),
    outputName: entry.outputName,
    inputs: entry.inputs.slice(0, listingInputsMax).map(formatHash),
    inputCount: entry.inputs.length,
  };
}

const encoder = new TextEncoder();

/**
 * Bytes of JSON a reply may carry: it travels as base64 (4 bytes per 3)
 * after `ACK:`, in one frame.
 */
export const pageJsonBytesMax = Math.floor((framePayloadBytesMax - 16) / 4) * 3;

/**
 * The first `limit` of `sorted` (newest first) that fit with `rest` (the
 * page's other fields) in `pageJsonBytesMax`, and the cursor after the last
 * one when more follow.
 */
export function fitPage(
  sorted: readonly JobSummary[],
  limit: number,
  rest: Omit<JobPage, "jobs" | "next">,
): JobPage {
  // The page's fields, a cursor, and a comma per job.
  let bytes = encoder.encode(JSON.stringify({ ...rest, jobs: [], next: "x".repeat(32) })).length;
  const jobs: JobSummary[] = [];
  for (const job of sorted) {
    if (jobs.length >= limit) break;
    const size = encoder.encode(JSON.stringify(job)).length + 1;
    if (bytes + size > pageJsonBytesMax) break;
    bytes += size;
    jobs.push(job);
  }
  const last = jobs.at(-1);
  const next = jobs.length < sorted.length && last
    ? formatCursor({ createdMs: last.createdMs, hash: parseHash(last.hash) })
    : null;
  return { jobs, next, ...rest };
}

/** Adds counts into `into`. */
export function addCounts(into: StateCounts, counts: StateCounts): void {
  for (const [state, n] of Object.entries(counts)) into[state] = (into[state] ?? 0) + n;
}

/**
 * Merges the pages of every server into the ring's page: one summary per
 * job (the freshest copy), newest first, counts summed, paged again. A
 * server's page that stopped early (it has a next cursor) bounds the
 * merged page at its last job: past it, that server's jobs are not known.
 */
export function mergePages(
  pages: readonly Pick<JobPage, "jobs" | "counts" | "next">[],
  query: JobQuery,
  servers: Coverage,
): JobPage {
  const byHash = new Map<string, JobSummary>();
  const counts: StateCounts = {};
  let bound: JobSummary | undefined;
  for (const page of pages) {
    addCounts(counts, page.counts);
    for (const job of page.jobs) {
      const known = byHash.get(job.hash);
      if (!known || job.version > known.version) byHash.set(job.hash, job);
    }
    const last = page.jobs.at(-1);
    if (page.next !== null && last && (!bound || newestFirst(last, bound) < 0)) bound = last;
  }
  const sorted = [...byHash.values()].sort(newestFirst);
  if (!bound) return fitPage(sorted, query.limit, { counts, servers });
  // Past the bound some server's jobs are not known yet: the page ends there, with a cursor.
  const cut = sorted.findIndex((job) => newestFirst(job, bound!) > 0);
  const page = fitPage(cut < 0 ? sorted : sorted.slice(0, cut), query.limit, { counts, servers });
  const last = page.jobs.at(-1);
  if (page.next !== null || !last) return page;
  return { ...page, next: formatCursor({ createdMs: last.createdMs, hash: parseHash(last.hash) }) };
}
