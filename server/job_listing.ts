/**
 * Looking at jobs: listing them (JOBS: a client's across the ring, paged,
 * newest first, with counts by state), one job's whole record (JOBI: its
 * source, inputs, attempts and lease, and stderr, live while it runs), and
 * the runner's side of the live stderr (PROG: the stderr of a running job
 * so far, kept in memory by the job's primary until the job finishes).
 * Reads only, but for that stderr: nothing here changes what is stored.
 *
 * @module
 */

import { formatHash } from "../protocol/hash.ts";
import { ack, capStderr, nack, type Reply, type Request } from "../protocol/message.ts";
import { liveStderrJobsMax } from "../limits.ts";
import type { ServerContext } from "./context.ts";
import { askPeers, jsonAck, parseJsonField } from "./fan_out.ts";
import type { JobCatalogue } from "./job_catalogue.ts";
import {
  type CatalogueEntry,
  fitPage,
  formatCursor,
  type JobPage,
  mergePages,
  pageJsonBytesMax,
  parseJobQuery,
} from "./job_listing_pages.ts";
import { isTerminal, type StoredJob, versionOf } from "./objects.ts";
import type { Replication } from "./replication.ts";
import type { Session } from "./session.ts";

const hex = formatHash;
const encoder = new TextEncoder();

/** A running job's stderr so far, as its runner last sent it. */
interface LiveStderr {
  readonly stderr: Uint8Array;
  readonly atMs: number;
  /** The attempt it belongs to: a job leased again starts with no stderr. */
  readonly attempt: number;
}

/** What JOBI answers (JSON; hashes as 8 hex digits, source and stderr base64). */
export interface JobRecordView {
  readonly hash: string;
  readonly name: string;
  readonly state: string;
  readonly version: number;
  readonly createdMs: number;
  readonly ageMs: number;
  readonly attempt: number;
  readonly lost: number;
  readonly leaseUntilMs: number | null;
  readonly leaseRemainingMs: number | null;
  readonly runningMs: number | null;
  readonly ranMs: number | null;
  readonly exitCode: number | null;
  readonly reason: string | null;
  readonly detail: string;
  readonly output: string;
  readonly outputName: string;
  readonly inputs: readonly { readonly hash: string; readonly name: string }[];
  readonly inputCount: number;
  readonly source: string;
  readonly stderr: string;
  /** True when `stderr` is the running job's stderr so far, not its final one. */
  readonly stderrLive: boolean;
  /** How long ago the runner sent the live stderr. */
  readonly stderrAgeMs: number | null;
}

/**
 * JOBI's record of a job, at `nowMs`, with what this server saw of it
 * (`seen`) and its live stderr; inputs are cut so that it fits a reply.
 */
export function jobRecordOf(
  job: StoredJob,
  options: { nowMs: number; seen?: CatalogueEntry; live?: LiveStderr },
): JobRecordView {
  const { nowMs, seen, live } = options;
  const meta = job.meta;
  const leased = meta.state === "leased";
  const finished = isTerminal(meta);
  const useLive = !finished && live !== undefined && live.attempt === meta.attempt;
  const record: JobRecordView = {
    hash: hex(job.hash),
    name: job.name,
    state: meta.state,
    version: versionOf(meta),
    createdMs: meta.createdMs,
    ageMs: Math.max(0, nowMs - meta.createdMs),
    attempt: meta.attempt,
    lost: meta.lost,
    leaseUntilMs: leased ? meta.leaseUntilMs : null,
    leaseRemainingMs: leased ? meta.leaseUntilMs - nowMs : null,
    runningMs: leased && seen?.leasedMs != null ? Math.max(0, nowMs - seen.leasedMs) : null,
    ranMs: finished && seen?.leasedMs != null && seen.finishedMs != null
      ? Math.max(0, seen.finishedMs - seen.leasedMs)
      : null,
    exitCode: meta.exitCode,
    reason: meta.reason,
    detail: meta.detail,
    output: hex(meta.output),
    outputName: meta.outputName,
    inputs: [],
    inputCount: meta.inputs.length,
    source: job.data.toBase64(),
    stderr: useLive ? live.stderr.toBase64() : finished ? meta.stderr : "",
    stderrLive: useLive,
    stderrAgeMs: useLive ? Math.max(0, nowMs - live.atMs) : null,
  };
  let bytes = encoder.encode(JSON.stringify(record)).length;
  const inputs: { hash: string; name: string }[] = [];
  for (const input of meta.inputs) {
    const entry = { hash: hex(input.hash), name: input.name };
    bytes += encoder.encode(JSON.stringify(entry)).length + 1;
    if (bytes > pageJsonBytesMax) break;
    inputs.push(entry);
  }
  return { ...record, inputs };
}

/** JOBS, JOBI and PROG. */
export class JobListing {
  readonly #ctx: ServerContext;
  readonly #replication: Replication;
  readonly #catalogue: JobCatalogue;
  /** Live stderr of running jobs this server is primary of, the least recently sent first. */
  readonly #live = new Map<number, LiveStderr>();

  /** The job listing of one server. */
  constructor(ctx: ServerContext, rooms: { replication: Replication; catalogue: JobCatalogue }) {
    this.#ctx = ctx;
    this.#replication = rooms.replication;
    this.#catalogue = rooms.catalogue;
  }

  /** How many running jobs' stderr is kept here. */
  get liveCount(): number {
    return this.#live.size;
  }

  /**
   * JOBS: the jobs held here that match the query or, for a client, those
   * of every server, one summary per job (the freshest), one page.
   *
   * @throws {ProtocolError} (`json`) when the query is malformed.
   */
  async jobs(text: string, session: Session): Promise<Reply> {
    const query = parseJobQuery(text);
    const local = this.#catalogue.page(query);
    const self = { asked: 1, answered: 1, unreachable: [] };
    let page = fitPage(local.jobs, query.limit, { counts: local.counts, servers: self });
    const last = page.jobs.at(-1);
    if (local.more && page.next === null && last) {
      const cursor = { createdMs: last.createdMs, hash: Number.parseInt(last.hash, 16) };
      page = { ...page, next: formatCursor(cursor) };
    }
    if (session.peer) return ack(jsonAck(page));
    const fanned = await askPeers(this.#ctx, { command: "JOBS", query: text });
    const pages: JobPage[] = [page];
    const unreachable = [...fanned.unreachable];
    for (const { id, fields } of fanned.answers) {
      try {
        pages.push(parseJsonField(fields[0]) as JobPage);
      } catch {
        unreachable.push(id);
      }
    }
    const servers = {
      asked: fanned.answers.length + fanned.unreachable.length + 1,
      answered: pages.length,
      unreachable,
    };
    return ack(jsonAck(mergePages(pages, query, servers)));
  }

  /**
   * JOBI: a job's whole record, from its primary (which keeps its live stderr).
   *
   * @throws {UnavailableError} when no copy can be found and some server did not answer.
   */
  async job(hash: number, session: Session): Promise<Reply> {
    if (!session.peer) {
      const forwarded = await this.#replication.forward(hash, { command: "JOBI", hash });
      if (forwarded) return forwarded;
    }
    const object = await this.#replication.find(hash, { strict: true });
    if (!object) return nack("not-found", `No job ${hex(hash)}`);
    if (object.meta.kind !== "job") return nack("not-a-job", `${hex(hash)} is a file, not a job`);
    const job = object as StoredJob;
    const seen = this.#catalogue.get(hash);
    const live = this.#live.get(hash);
    if (live && isTerminal(job.meta)) this.#live.delete(hash);
    return ack(jsonAck(jobRecordOf(job, {
      nowMs: this.#ctx.now(),
      ...(seen ? { seen } : {}),
      ...(live ? { live } : {}),
    })));
  }

  /**
   * PROG: a runner's stderr so far of a job it runs, kept by the job's
   * primary while the job is leased (a report for a job that is not
   * leased is acknowledged and dropped).
   */
  async progress(request: Extract<Request, { command: "PROG" }>, session: Session): Promise<Reply> {
    if (!session.peer) {
      const forwarded = await this.#replication.forward(request.hash, request);
      if (forwarded) return forwarded;
    }
    const entry = this.#catalogue.get(request.hash);
    if (!entry) return nack("not-found", `No job ${hex(request.hash)} here`);
    if (entry.state !== "leased") return ack();
    this.#live.delete(request.hash);
    this.#live.set(request.hash, {
      stderr: capStderr(request.stderr),
      atMs: this.#ctx.now(),
      attempt: entry.attempt,
    });
    if (this.#live.size > liveStderrJobsMax) this.#forgetFinished();
    return ack();
  }

  /** Forgets the stderr of jobs no longer leased, then the oldest, until within the bound. */
  #forgetFinished(): void {
    for (const hash of this.#live.keys()) {
      if (this.#catalogue.get(hash)?.state !== "leased") this.#live.delete(hash);
    }
    while (this.#live.size > liveStderrJobsMax) {
      this.#live.delete(this.#live.keys().next().value!);
    }
  }
}
