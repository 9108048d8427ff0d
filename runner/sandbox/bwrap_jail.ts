/**
 * What both modes of the bubblewrap backend share: starting a jail (the
 * launch script, cgroups, seccomp), running one job in a jail started for it,
 * turning a supervision into a result, and the `/net` directory helpers.
 *
 * @module
 */

import { encodeJobFrame } from "./bootstrap.ts";
import { bwrapArgv, type HostLayout, type NetSource } from "./bwrap_args.ts";
import type { CgroupParent, JobCgroup } from "./cgroup.ts";
import type { JailMemory } from "./jail_python.ts";
import type { NetEntry } from "./net_names.ts";
import { closeNetStaging, type NetStaging, stageInputs } from "./net_staging.ts";
import { classifyOutcome } from "./outcome.ts";
import type { SandboxJob, SandboxLimits, SandboxResult } from "./sandbox.ts";
import { supervise, type Supervision } from "./supervise.ts";
import { bwrapNetCopyBytesMax } from "../../limits.ts";

/** What every jail of one sandbox is started with. */
export interface Base {
  readonly bwrapPath: string;
  readonly prlimitPath: string;
  readonly pythonPath: string;
  readonly limits: SandboxLimits;
  /** The memory bounds of the jail's processes (see `jail_python.ts`). */
  readonly memory: JailMemory;
  /** The interpreter's environment besides `PATH`, `LANG` and `HOME`. */
  readonly environment: Readonly<Record<string, string>>;
  readonly layout: HostLayout;
  readonly cgroups: CgroupParent | null;
  /** This sandbox's own directory (seccomp filter, probe output), removed by `close`. */
  readonly workDir: string;
  /** Where jails' `/net` directories are made (see `net_staging.ts`), removed by `close`. */
  readonly netStaging: NetStaging;
  /** The seccomp filter file, or null (not x86-64). */
  readonly seccompPath: string | null;
}

/** A started jail that has not finished yet. */
export interface Jail {
  readonly child: Deno.ChildProcess;
  readonly stdout: ReadableStreamDefaultReader<Uint8Array>;
  /** The job's cgroups (null for a zygote jail, whose children get their own). */
  readonly cgroup: JobCgroup | null;
  /** The jail's own `/net` directory (null for a jail started for its job). */
  readonly netDir: string | null;
}

/**
 * sh program run as `sh -c SCRIPT sh FILTER N PROCS... ARGV...`: moves itself
 * into the job's cgroups (writing its pid into each of the N `cgroup.procs`
 * files; before bwrap starts, so nothing escapes them), then execs bwrap with
 * the seccomp filter file (if FILTER is not empty) open as fd 3.
 */
const launchScript = 'filter=$1; n=$2; shift 2; while [ "$n" -gt 0 ]; do ' +
  'echo $$ > "$1" || { echo "cloud-sandbox: cannot join cgroup $1" >&2; exit 125; }; ' +
  "shift; n=$((n - 1)); done; " +
  'if [ -n "$filter" ]; then exec "$@" 3< "$filter"; fi; exec "$@"';

/** The descriptor the launch script opens the seccomp filter on. */
const seccompFd = 3;

/** First lines of stderr that mean the jail itself failed, not the job. */
const jailErrorPrefixes = ["bwrap: ", "cloud-sandbox: ", "prlimit: ", "sh: "];

/**
 * Starts a jail running `program`. A one-job jail joins a new job cgroup
 * before bubblewrap starts; a zygote jail (`zygote: true`) joins none (each
 * of its children is moved into its own). Throws if the process cannot start.
 */
export async function spawnJail(
  base: Base,
  program: string,
  options: { net: NetSource; netDir: string | null; zygote?: boolean },
): Promise<Jail> {
  const zygote = options.zygote === true;
  const cgroup = zygote ? null : createJobCgroup(base);
  const filter = base.seccompPath;
  const argv = bwrapArgv({
    ...base,
    addressSpaceBytes: base.memory.addressSpaceBytes,
    program,
    net: options.net,
    seccompFd: filter === null ? null : seccompFd,
    zygote,
  });
  const procsFiles = cgroup?.procsFiles ?? [];
  const args = [
    "-c",
    launchScript,
    "sh",
    filter ?? "",
    String(procsFiles.length),
    ...procsFiles,
    ...argv,
  ];
  try {
    const child = new Deno.Command("/bin/sh", {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      clearEnv: true,
      cwd: "/",
    }).spawn();
    return { child, stdout: child.stdout.getReader(), cgroup, netDir: options.netDir };
  } catch (error) {
    await cgroup?.remove().catch(() => {});
    throw error;
  }
}

/** A job cgroup with the sandbox's limits, or null without cgroups. Throws if cgroupfs refuses. */
export function createJobCgroup(base: Base): JobCgroup | null {
  return base.cgroups?.create({
    processes: base.limits.processes,
    memoryBytes: base.memory.cgroupBytes,
  }) ?? null;
}

/**
 * Runs `job` in a one-job jail (already started, blocked reading its job) to
 * its end. The caller discards the jail afterwards.
 */
export async function runInJail(
  jail: Jail,
  job: SandboxJob,
  options: { limits: SandboxLimits; signal: AbortSignal },
): Promise<{ result: SandboxResult; deliveryFailed: boolean }> {
  const seen = await supervise({
    child: jail.child,
    stdout: jail.stdout,
    stdin: [encodeJobFrame(job.source)],
    stdoutPath: job.stdoutPath,
    stdoutBytesMax: options.limits.stdoutBytesMax,
    stderrBytesMax: options.limits.stderrBytesMax,
    ...(job.onStderr ? { onStderr: job.onStderr } : {}),
    wallMs: options.limits.wallMs,
    signal: options.signal,
    kill: () => jail.child.kill("SIGKILL"),
  });
  const oomKills = jail.cgroup?.oomKills() ?? 0;
  const result = jobResult(seen, oomKills, options.limits);
  return { result, deliveryFailed: seen.deliveryFailed && seen.stdoutBytes === 0 };
}

/** Kills what is left of a jail and removes its cgroup and `/net` directory. */
export async function discardJail(jail: Jail, kill: boolean): Promise<void> {
  if (kill) {
    try {
      jail.child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await jail.stdout.cancel().catch(() => {});
    await jail.child.stderr.cancel().catch(() => {});
    await jail.child.stdin.abort().catch(() => {});
    await jail.child.status;
  }
  await jail.cgroup?.remove().catch(() => {});
  if (jail.netDir !== null) await Deno.remove(jail.netDir, { recursive: true }).catch(() => {});
}

/**
 * The result of a supervised bubblewrap job: a failing job whose stderr
 * starts with a jail error prefix (`bwrap: `, `cloud-sandbox: `, …) is a
 * sandbox error, an OOM kill in its memory cgroup is a memory failure.
 */
export function jobResult(
  seen: Supervision,
  oomKills: number,
  limits: SandboxLimits,
): SandboxResult {
  const firstLine = new TextDecoder().decode(seen.stderr.subarray(0, 200)).split("\n")[0] ?? "";
  const jailFailed = seen.observation.exitCode !== 0 &&
    jailErrorPrefixes.some((prefix) => firstLine.startsWith(prefix));
  const outcome = classifyOutcome({
    ...seen.observation,
    oomKilled: oomKills > 0,
    sandboxError: seen.observation.sandboxError ??
      (jailFailed ? `Jail failed: ${firstLine}` : null),
  }, limits);
  return {
    exitCode: seen.observation.exitCode,
    reason: outcome.reason,
    detail: outcome.detail,
    stdoutBytes: seen.stdoutBytes,
    ...(seen.stdout === undefined ? {} : { stdout: seen.stdout }),
    stderr: seen.stderr,
    wallMs: seen.wallMs,
  };
}

/**
 * Hard-links (else copies, up to `bwrapNetCopyBytesMax` in all) each entry
 * into `netDir`; false (entries left behind) on any failure.
 */
export async function linkInputs(
  base: Base,
  netDir: string,
  entries: readonly NetEntry[],
): Promise<boolean> {
  return await stageInputs(netDir, entries, {
    copies: base.netStaging.copies,
    copyBytesMax: bwrapNetCopyBytesMax,
  });
}

/**
 * Starts a jail for one job, its inputs staged in a `/net` directory of its
 * own (see `net_staging.ts`), or bound one by one from where they are when
 * they cannot be staged (more than `bwrapNetCopyBytesMax` to copy). Throws
 * if the jail cannot start.
 */
export async function spawnColdJail(
  base: Base,
  program: string,
  entries: readonly NetEntry[],
): Promise<Jail> {
  let netDir: string | null = await Deno.makeTempDir({ dir: base.netStaging.dir, prefix: "cold-" });
  if (!(await linkInputs(base, netDir, entries))) {
    await Deno.remove(netDir, { recursive: true });
    netDir = null;
  }
  try {
    return await spawnJail(base, program, {
      net: netDir === null ? { kind: "files", entries } : { kind: "directory", path: netDir },
      netDir,
    });
  } catch (error) {
    if (netDir !== null) await Deno.remove(netDir, { recursive: true }).catch(() => {});
    throw error;
  }
}

/** Removes everything inside `dir`. Throws if something cannot be removed. */
export async function emptyDirectory(dir: string): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    await Deno.remove(`${dir}/${entry.name}`, { recursive: true });
  }
}

/** Resolves symlinks so a bind or a hard link shows the file itself. */
export async function resolveInputs(
  inputs: SandboxJob["inputs"],
): Promise<{ name: string; path: string }[]> {
  return await Promise.all(inputs.map(async (input) => {
    try {
      return { name: input.name, path: await Deno.realPath(input.path) };
    } catch {
      return { name: input.name, path: input.path };
    }
  }));
}

/** Removes what a sandbox's jails shared: its cgroups and its own directory. */
export async function releaseBase(base: Base): Promise<void> {
  await base.cgroups?.close();
  await closeNetStaging(base.netStaging);
  await Deno.remove(base.workDir, { recursive: true }).catch(() => {});
}
