/**
 * The jobs a server holds, as summaries in memory for listings (JOBS) and
 * counts (the dashboard, /metrics): loaded from the store at start, kept in
 * step with every copy stored or dropped here (object_index.ts tells it),
 * bounded by `jobCatalogueMax` (every unfinished job, then the most recent
 * finished ones). It also notices a job this server is primary of finish,
 * with how long its last lease ran, for the finished-jobs counter and the
 * log. What it keeps beyond the stored record (when a lease began, when
 * the job finished) is this server's observation, lost on restart.
 *
 * @module
 */

import { jobCatalogueMax } from "../limits.ts";
import {
  type CatalogueEntry,
  type JobQuery,
  type JobSummary,
  matchesFilters,
  matchesQuery,
  newestFirst,
  type StateCounts,
  summaryOf,
} from "./job_listing_pages.ts";
import { isTerminal, type JobMeta, versionOf } from "./objects.ts";

/** A job as the store holds it: what the catalogue reads. */
export interface CatalogueJob {
  readonly hash: number;
  readonly name: string;
  readonly meta: JobMeta;
}

/** What {@linkcode JobCatalogue} needs. */
export interface CatalogueOptions {
  /** Milliseconds since the epoch, by this server's clock. */
  readonly now: () => number;
  /** True when this server is the primary of `hash` now. */
  readonly isPrimary: (hash: number) => boolean;
  /** How long a lease lasts (a loaded lease began this long before it ends). */
  readonly leaseMs: number;
  /** Told when a job this server is primary of finishes (after it is recorded). */
  readonly onFinished?: (entry: CatalogueEntry) => void;
  /** Summaries kept at most (default `jobCatalogueMax`). */
  readonly entriesMax?: number;
}

/** Summaries of the jobs held here. */
export class JobCatalogue {
  readonly #options: CatalogueOptions;
  readonly #entries = new Map<number, CatalogueEntry>();
  readonly #entriesMax: number;

  /** An empty catalogue; {@linkcode load} fills it. */
  constructor(options: CatalogueOptions) {
    this.#options = options;
    this.#entriesMax = options.entriesMax ?? jobCatalogueMax;
  }

  /** How many jobs it holds summaries of. */
  get size(): number {
    return this.#entries.size;
  }

  /** Adds the jobs the store holds (at start): no finish is noticed for them. */
  load(jobs: Iterable<CatalogueJob>): void {
    for (const job of jobs) {
      const meta = job.meta;
      const leasedMs = meta.state === "leased" ? meta.leaseUntilMs - this.#options.leaseMs : null;
      this.#entries.set(job.hash, entryOf(job, { leasedMs, finishedMs: null }));
    }
    this.#trim();
  }

  /** Records a copy of a job stored here (new, or further along). */
  apply(job: CatalogueJob): void {
    const previous = this.#entries.get(job.hash);
    const now = this.#options.now();
    const meta = job.meta;
    const newLease = meta.state === "leased" &&
      (previous?.state !== "leased" || previous.attempt !== meta.attempt);
    const finishing = isTerminal(meta) && previous !== undefined && !isFinished(previous);
    const entry = entryOf(job, {
      leasedMs: newLease ? now : previous?.leasedMs ?? null,
      finishedMs: finishing ? now : previous?.finishedMs ?? null,
    });
    this.#entries.set(job.hash, entry);
    if (finishing && this.#options.isPrimary(job.hash)) this.#options.onFinished?.(entry);
    if (this.#entries.size > this.#entriesMax) this.#trim();
  }

  /** Forgets a job whose copy was dropped here. */
  drop(hash: number): void {
    this.#entries.delete(hash);
  }

  /** The summary kept of `hash`, if any. */
  get(hash: number): CatalogueEntry | undefined {
    return this.#entries.get(hash);
  }

  /**
   * This server's part of a listing: the newest `query.limit` jobs held here
   * that match, and the counts by state of the matching jobs it is primary of.
   */
  page(query: JobQuery): { jobs: JobSummary[]; counts: StateCounts; more: boolean } {
    const now = this.#options.now();
    const matching: CatalogueEntry[] = [];
    const counts: StateCounts = {};
    for (const entry of this.#entries.values()) {
      if (!matchesFilters(entry, query)) continue;
      if (this.#options.isPrimary(entry.hash)) counts[entry.state] = (counts[entry.state] ?? 0) + 1;
      if (matchesQuery(entry, query)) matching.push(entry);
    }
    matching.sort(newestFirst);
    return {
      jobs: matching.slice(0, query.limit).map((entry) => summaryOf(entry, now)),
      counts,
      more: matching.length > query.limit,
    };
  }

  /** Jobs this server is primary of, by state. */
  counts(): StateCounts {
    const counts: StateCounts = {};
    for (const entry of this.#entries.values()) {
      if (this.#options.isPrimary(entry.hash)) counts[entry.state] = (counts[entry.state] ?? 0) + 1;
    }
    return counts;
  }

  /** Forgets the oldest finished jobs until the catalogue is within its bound. */
  #trim(): void {
    // Trim to a tenth below the bound, so that trimming (a sort) is rare.
    const target = Math.floor(this.#entriesMax * 0.9);
    if (this.#entries.size <= this.#entriesMax) return;
    const finished = [...this.#entries.values()].filter(isFinished).sort(newestFirst);
    while (this.#entries.size > target && finished.length > 0) {
      this.#entries.delete(finished.pop()!.hash);
    }
  }
}

function isFinished(entry: CatalogueEntry): boolean {
  return entry.state === "done" || entry.state === "failed";
}

function entryOf(
  job: CatalogueJob,
  seen: { leasedMs: number | null; finishedMs: number | null },
): CatalogueEntry {
  const meta = job.meta;
  return {
    hash: job.hash,
    name: job.name,
    state: meta.state,
    version: versionOf(meta),
    createdMs: meta.createdMs,
    attempt: meta.attempt,
    lost: meta.lost,
    leaseUntilMs: meta.leaseUntilMs,
    exitCode: meta.exitCode,
    reason: meta.reason,
    detail: meta.detail,
    output: meta.output,
    outputName: meta.outputName,
    inputs: meta.inputs.map((input) => input.hash),
    leasedMs: seen.leasedMs,
    finishedMs: seen.finishedMs,
  };
}
