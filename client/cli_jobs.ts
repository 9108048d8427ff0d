/**
 * The inspection subcommands of `cloud client`: `jobs` (the ring's jobs,
 * newest first, with counts by state), `logs` (a job's stderr, followed
 * live while it runs), `runners`, and the human form of `status` (times
 * as `created 3 s ago`, `running for 12 s on runner r1`). Each `--json`
 * output has one shape whatever the jobs' states; times stay milliseconds there.
 *
 * @module
 */

import { type Command, InvalidArgumentError } from "commander";
import { isFinishedState } from "../protocol/states.ts";
import { jobStates } from "../protocol/states.ts";
import { positiveInteger } from "../cli/options.ts";
import { runnerProgressMs } from "../limits.ts";
import type { ComputeCloud } from "./cloud.ts";
import type { ObjectStatus } from "./file_object.ts";
import { print } from "./cli_io.ts";
import {
  jobRecord,
  type JobSummary,
  listJobs,
  listRunners,
  type RunnerInfo,
  runnerOf,
} from "./inspect.ts";

/** Global options the subcommands read. */
interface GlobalOptions {
  json?: boolean;
}

/** Runs a subcommand with a client (cli.ts's `withCloud`). */
export type WithCloud = (
  command: Command,
  work: (cloud: ComputeCloud, options: GlobalOptions) => Promise<void>,
) => Promise<void>;

/** A duration for people: `0.4 s`, `12 s`, `3 min 4 s`, `2 h 5 min`. */
export function humanMs(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

/** How long a listed job has been at it, for people. */
export function elapsedText(
  job: Pick<JobSummary, "state" | "runningMs" | "ranMs" | "ageMs">,
): string {
  if (job.state === "leased") {
    return job.runningMs === null ? "running" : `running ${humanMs(job.runningMs)}`;
  }
  if (isFinishedState(job.state)) return job.ranMs === null ? "" : `ran ${humanMs(job.ranMs)}`;
  return `waiting ${humanMs(job.ageMs)}`;
}

function stateList(text: string): string[] {
  const states = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  for (const state of states) {
    if (!(jobStates as readonly string[]).includes(state)) {
      throw new InvalidArgumentError(`unknown state "${state}" (states: ${jobStates.join(", ")})`);
    }
  }
  return states;
}

/** The lines of `cloud client jobs`. */
export function formatJobs(
  page: {
    jobs: readonly (JobSummary & { runner: string | null })[];
    counts: Record<string, number>;
  },
  unreachable: readonly string[],
): string {
  const total = Object.values(page.counts).reduce((sum, n) => sum + n, 0);
  const counts = jobStates.filter((s) => page.counts[s]).map((s) => `${page.counts[s]} ${s}`);
  const lines = [`${total} jobs${counts.length ? `: ${counts.join(", ")}` : ""}`];
  if (unreachable.length > 0) {
    lines.push(`not answering (their jobs are missing): ${unreachable.join(", ")}`);
  }
  for (const job of page.jobs) {
    const failure = job.reason ? `${job.reason}${job.detail ? `: ${job.detail}` : ""}` : "";
    const runner = job.runner ? `on ${job.runner}` : "";
    lines.push(
      [job.hash, job.state.padEnd(8), job.name, elapsedText(job), runner, failure]
        .filter((field) => field !== "").join("  "),
    );
  }
  return lines.join("\n") + "\n";
}

/** The lines of `cloud client runners`. */
export function formatRunners(runners: readonly RunnerInfo[]): string {
  if (runners.length === 0) return "no runner has told the ring who it is\n";
  return runners.map((r) =>
    `${r.id}  ${r.host}  ${r.sandbox}  ${r.jobs.length}/${r.lanes} busy  ${r.version}  seen ${
      humanMs(r.lastSeenMs)
    } ago via ${r.server}${r.jobs.length ? `  jobs ${r.jobs.map((j) => j.hash).join(" ")}` : ""}`
  ).join("\n") + "\n";
}

/**
 * The lines of `cloud client status` for people: every key, with times as
 * durations (`created 3 s ago`, `running for 12 s on runner r1`).
 */
export function formatStatus(
  status: ObjectStatus,
  timing: { ageMs?: number; runningMs?: number | null; runner?: string | null; nowMs: number },
): string {
  const lines: string[] = [];
  for (const [key, value] of Object.entries(status)) {
    if (key === "createdMs" && typeof value === "number") {
      lines.push(`created ${humanMs(timing.ageMs ?? timing.nowMs - value)} ago`);
    } else if (key === "leaseUntilMs" && typeof value === "number") {
      const running = timing.runningMs == null
        ? "running"
        : `running for ${humanMs(timing.runningMs)}`;
      const on = timing.runner ? ` on runner ${timing.runner}` : "";
      lines.push(`${running}${on}, lease expires in ${humanMs(value - timing.nowMs)}`);
    } else {
      lines.push(`${key}: ${typeof value === "object" ? JSON.stringify(value) : value}`);
    }
  }
  return lines.join("\n") + "\n";
}

/** `status` for people: STAT's keys, with the job's times from JOBI and its runner from RUNS. */
export async function humanStatus(cloud: ComputeCloud, status: ObjectStatus): Promise<string> {
  if (status.kind !== "job") return formatStatus(status, { nowMs: Date.now() });
  const record = await jobRecord(cloud, status.hash).catch(() => null);
  const runner = status.state === "leased" ? await runnerOf(cloud, status.hash) : null;
  return formatStatus(status, {
    nowMs: Date.now(),
    ...(record ? { ageMs: record.ageMs, runningMs: record.runningMs } : {}),
    runner: runner?.id ?? null,
  });
}

const decoder = new TextDecoder();

/** Adds `jobs`, `logs` and `runners` to `client`. */
export function addInspectionCommands(client: Command, withCloud: WithCloud): void {
  client.command("jobs")
    .description("list the ring's jobs, newest first, with counts by state")
    .option("--state <states>", "only these states (comma-separated)", stateList)
    .option("--name <pattern>", "names containing this, or matching a pattern with * and ?")
    .option("--limit <n>", "at most this many jobs", positiveInteger, 50)
    .action((options: { state?: string[]; name?: string; limit: number }, command: Command) =>
      withCloud(command, async (cloud, global) => {
        const [page, runners] = await Promise.all([
          listJobs(cloud, {
            ...(options.state ? { states: options.state } : {}),
            ...(options.name ? { name: options.name } : {}),
            limit: options.limit,
          }),
          listRunners(cloud).catch(() => ({ runners: [] as RunnerInfo[] })),
        ]);
        const holder = new Map(runners.runners.flatMap((r) => r.jobs.map((j) => [j.hash, r.id])));
        const jobs = page.jobs.map((job) => ({
          ...job,
          runner: job.state === "leased" ? holder.get(job.hash) ?? null : null,
        }));
        if (global.json) {
          return await print(
            JSON.stringify({ jobs, counts: page.counts, next: page.next, servers: page.servers }) +
              "\n",
          );
        }
        await print(formatJobs({ jobs, counts: { ...page.counts } }, page.servers.unreachable));
      })
    );

  client.command("logs")
    .description("print a job's stderr (so far, while it runs); --follow prints it as it grows")
    .argument("<job>", "job hash")
    .option("-f, --follow", "keep printing until the job finishes")
    .action((hash: string, options: { follow?: boolean }, command: Command) =>
      withCloud(command, async (cloud, global) => {
        const job = hash.toLowerCase().padStart(8, "0");
        let record = await jobRecord(cloud, job);
        let shown = "";
        const show = async (text: string) => {
          if (global.json) return;
          if (text.startsWith(shown)) await print(text.slice(shown.length));
          else {
            await print(
              `${shown ? "\n" : ""}[cloud: stderr of attempt ${record.attempt}]\n${text}`,
            );
          }
          shown = text;
        };
        await show(decoder.decode(Uint8Array.fromBase64(record.stderr)));
        while (options.follow && !isFinishedState(record.state)) {
          await new Promise((resolve) => setTimeout(resolve, runnerProgressMs));
          record = await jobRecord(cloud, job);
          await show(decoder.decode(Uint8Array.fromBase64(record.stderr)));
        }
        if (global.json) {
          await print(
            JSON.stringify({
              job: record.hash,
              state: record.state,
              live: record.stderrLive,
              stderr: decoder.decode(Uint8Array.fromBase64(record.stderr)),
            }) + "\n",
          );
        }
      })
    );

  client.command("runners")
    .description("list the runners the ring's servers heard from: host, sandbox, lanes, jobs held")
    .action((_options: unknown, command: Command) =>
      withCloud(command, async (cloud, global) => {
        const { runners, servers } = await listRunners(cloud);
        if (global.json) return await print(JSON.stringify({ runners, servers }) + "\n");
        await print(formatRunners(runners));
      })
    );
}
