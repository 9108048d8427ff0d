/**
 * The JSON the dashboard reads (and scripts may): the ring, jobs, one
 * job with the DAG around it, one object, runners. Each answer is put
 * together from requests served by this server's node as a client's would
 * be (JOBS, JOBI, RUNS, STAT, GET: forwarded and fanned out across the
 * ring by the same code), and from each member's INFO. docs/DASHBOARD.md
 * documents every route.
 *
 * @module
 */

import { formatHash, parseHash } from "../protocol/hash.ts";
import type { Request as WireRequest } from "../protocol/message.ts";
import { httpFanoutTimeoutMs, inspectionCountsMaxAgeMs, jobListingLimitMax } from "../limits.ts";
import { parseJsonField } from "./fan_out.ts";
import { type InfoSummary, ringView } from "./http_ring.ts";
import type { JobRecordView } from "./job_listing.ts";
import { encodeJobQuery, type JobPage, type JobSummary } from "./job_listing_pages.ts";
import { mapLimit } from "./map_limit.ts";
import type { Node } from "./node.ts";
import type { RunnerPage, RunnerView } from "./runner_registry.ts";

/** A request the API cannot answer: its HTTP status and why. */
export class ApiError extends Error {
  override name = "ApiError";
  /** `reason` is the NACK's reason or a word of the API's own (`bad-request`). */
  constructor(readonly status: number, readonly reason: string, message: string) {
    super(message);
  }
}

/** The HTTP status of a NACK reason. */
function statusOf(reason: string): number {
  if (reason === "not-found") return 404;
  if (reason === "unavailable") return 503;
  if (["hash", "json", "fields", "number", "not-a-job", "not-a-file"].includes(reason)) return 400;
  return 502;
}

/** Input hashes a job's page looks up (the rest are listed without their state). */
const pageInputsMax = 64;
/** Dependents a job's or file's page lists. */
const pageDependentsMax = 50;
/** Bytes of a file's content a page shows. */
const previewBytesMax = 4096;
const decoder = new TextDecoder();

/** The API over one server. */
export class Api {
  readonly #node: Node;

  /** The API of `node`. */
  constructor(node: Node) {
    this.#node = node;
  }

  /**
   * Serves a request as a client's and returns the ACK's fields; a NACK
   * becomes an {@linkcode ApiError}. The HTTP request was authorized before
   * (http_routes.ts), so it speaks with the client role: it may read, never
   * take jobs or send a server's commands.
   */
  async #call(request: WireRequest): Promise<readonly string[]> {
    const reply = await this.#node.handle(request, { peer: null, role: "client" });
    if (!reply.ok) throw new ApiError(statusOf(reply.reason), reply.reason, reply.detail);
    return reply.fields;
  }

  async #json<T>(request: WireRequest): Promise<T> {
    return parseJsonField((await this.#call(request))[0]) as T;
  }

  /** `/api/ring`: every member with its state, share, holdings, repair, and totals. */
  async ring(): Promise<Record<string, unknown>> {
    const node = this.#node;
    const self = node.info(inspectionCountsMaxAgeMs) as unknown as InfoSummary & {
      replicas: number;
    };
    const table = self.members ?? [];
    const infos = new Map<string, InfoSummary | Error>();
    await Promise.all(
      table.filter((m) => m.alive).map(async (member) => {
        if (member.id === node.id) return void infos.set(member.id, self);
        try {
          const reply = await node.ask(
            member.id,
            { command: "INFO", maxAgeMs: inspectionCountsMaxAgeMs },
            httpFanoutTimeoutMs,
          );
          if (!reply.ok) throw new Error(`${reply.reason}: ${reply.detail}`);
          infos.set(member.id, parseJsonField(reply.fields[0]) as InfoSummary);
        } catch (error) {
          infos.set(member.id, error instanceof Error ? error : new Error(String(error)));
        }
      }),
    );
    const members = ringView(table, infos, node.ring);
    const totals = { objects: 0, bytes: 0, openJobs: 0, underReplicated: 0, inFlight: 0 };
    for (const member of members) {
      const info = member.info;
      if (!info) continue;
      totals.objects += info.objects?.owner ?? 0;
      totals.bytes += info.objects?.bytes ?? 0;
      totals.openJobs += info.openJobs ?? 0;
      totals.underReplicated += Number(info.repair?.underReplicated ?? 0);
      totals.inFlight += Number(info.repair?.inFlight ?? 0);
    }
    return { self: node.id, replicas: self.replicas, members, totals };
  }

  /** `/api/jobs`: a page of the ring's jobs (newest first), each with its runner, and counts by state. */
  async jobs(params: URLSearchParams): Promise<Record<string, unknown>> {
    const states = (params.get("state") ?? "").split(",").filter((s) => s !== "");
    const limit = params.has("limit") ? Number(params.get("limit")) : undefined;
    if (
      limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= jobListingLimitMax)
    ) {
      throw new ApiError(
        400,
        "bad-request",
        `limit must be an integer from 1 to ${jobListingLimitMax}`,
      );
    }
    const query = encodeJobQuery({
      ...(states.length > 0 ? { states } : {}),
      ...(params.get("name") ? { name: params.get("name")! } : {}),
      ...(params.get("input") ? { input: params.get("input")! } : {}),
      ...(limit !== undefined ? { limit } : {}),
      ...(params.get("before") ? { before: params.get("before")! } : {}),
    });
    const [page, runners] = await Promise.all([
      this.#json<JobPage>({ command: "JOBS", query }),
      this.runners(),
    ]);
    const holder = holders(runners.runners);
    return { ...page, jobs: page.jobs.map((job) => withRunner(job, holder)) };
  }

  /** `/api/runners`: every runner the ring's servers heard from. */
  async runners(): Promise<RunnerPage> {
    return await this.#json<RunnerPage>({ command: "RUNS", query: "" });
  }

  /** `/api/jobs/<hash>`: a job's record, its runner, its inputs and output with their states, its dependents. */
  async job(hashText: string): Promise<Record<string, unknown>> {
    const hash = hashOf(hashText);
    const [record, runners] = await Promise.all([
      this.#json<JobRecordView>({ command: "JOBI", hash }),
      this.runners().catch(() => ({ runners: [] as RunnerView[] })),
    ]);
    const inputs = await this.#files(record.inputs.slice(0, pageInputsMax));
    const [output] = await this.#files([{ hash: record.output, name: record.outputName }]);
    const dependents = await this.#dependents(record.output);
    const runner = holders(runners.runners).get(record.hash) ?? null;
    return { ...record, runner, inputFiles: inputs, outputFile: output, dependents };
  }

  /** `/api/objects/<hash>`: a file's state, size, producing job, content (the start of it), readers. */
  async object(hashText: string): Promise<Record<string, unknown>> {
    const hash = hashOf(hashText);
    const [file] = await this.#files([{ hash: formatHash(hash), name: "" }]);
    const base = file!;
    if (base.kind === "job") return { ...base };
    const preview = base.state === "complete" && !base.chunked
      ? await this.#preview(hash).catch(() => null)
      : null;
    return { ...base, preview, dependents: await this.#dependents(formatHash(hash)) };
  }

  /** Each file's STAT, with the state of the job producing it. */
  async #files(
    files: readonly { hash: string; name: string }[],
  ): Promise<Record<string, unknown>[]> {
    const result: Record<string, unknown>[] = new Array(files.length);
    await mapLimit([...files.keys()], 8, async (i) => {
      const file = files[i]!;
      result[i] = await this.#stat(file.hash).then(async (stat) => {
        const job = typeof stat.job === "string"
          ? await this.#stat(stat.job).catch(() => null)
          : null;
        return { ...stat, jobState: job?.state ?? null, jobName: job?.name ?? null };
      }, (error) => ({ hash: file.hash, name: file.name, state: "unknown", error: error.message }));
    });
    return result;
  }

  async #stat(hashText: string): Promise<Record<string, unknown>> {
    const [kind, state, summary] = await this.#call({ command: "STAT", hash: parseHash(hashText) });
    return { hash: hashText, kind, state, ...(parseJsonField(summary) as Record<string, unknown>) };
  }

  async #dependents(hash: string): Promise<readonly (JobSummary & { runner?: string })[]> {
    const page = await this.#json<JobPage>({
      command: "JOBS",
      query: encodeJobQuery({ input: hash, limit: pageDependentsMax }),
    }).catch(() => null);
    return page?.jobs ?? [];
  }

  /** The start of a file's content, as text. */
  async #preview(hash: number): Promise<{ text: string; bytes: number; truncated: boolean }> {
    const [data] = await this.#call({ command: "GET", hash });
    const bytes = Uint8Array.fromBase64(data ?? "");
    return {
      text: decoder.decode(bytes.subarray(0, previewBytesMax)),
      bytes: bytes.length,
      truncated: bytes.length > previewBytesMax,
    };
  }
}

function hashOf(text: string): number {
  try {
    return parseHash(text);
  } catch {
    throw new ApiError(400, "bad-request", `Not a hash of 8 hex digits: ${text.slice(0, 40)}`);
  }
}

/** Which runner holds each job, by job hash. */
function holders(runners: readonly RunnerView[]): Map<string, string> {
  const byJob = new Map<string, string>();
  for (const runner of runners) for (const job of runner.jobs) byJob.set(job.hash, runner.id);
  return byJob;
}

function withRunner(job: JobSummary, holder: ReadonlyMap<string, string>) {
  return { ...job, runner: job.state === "leased" ? holder.get(job.hash) ?? null : null };
}
