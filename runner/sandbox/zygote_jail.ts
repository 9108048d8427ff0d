/**
 * One fork-mode jail: bubblewrap running a zygote (see `zygote.ts`) as pid 1,
 * with one child forked ahead of time. Runs one job at a time: the job's
 * child is moved into the jail's job cgroups and its pipes opened before the
 * job arrives; after the job the zygote has killed and reaped every process
 * of the jail, and the jail checks the cgroups are empty (killing anything
 * left, as a second line of defence), removes the job's inputs from `/net`
 * and prepares the next child. The job cgroups are the jail's for its life:
 * emptied between jobs, they bound one job at a time, and an OOM kill is told
 * by the growth of their counter.
 *
 * A jail that fails (its zygote died, answered nonsense or too late, or
 * cleanup failed) must be retired by its owner; it is never reused.
 *
 * @module
 */

import { bwrapKillGraceMs, bwrapZygoteReplyMs, zygotePumpDelayMs } from "../../limits.ts";
import { encodeJobFrame } from "./bootstrap.ts";
import {
  type Base,
  createJobCgroup,
  type Jail,
  jobResult,
  linkInputs,
  spawnJail,
} from "./bwrap_jail.ts";
import { HeadTailCapture } from "./capture.ts";
import type { JobCgroup } from "./cgroup.ts";
import type { NetEntry } from "./net_names.ts";
import type { SandboxJob, SandboxLimits, SandboxResult } from "./sandbox.ts";
import { type ChunkReader, type JobExit, superviseStreams } from "./supervise.ts";
import {
  encodeKill,
  parseChildren,
  parseNsPids,
  parseZygoteLine,
  zygoteLineBytesMax,
  type ZygoteMessage,
} from "./zygote.ts";

/** Bytes of the zygote's own stderr kept for error messages. */
const diagnosticsBytesMax = 2048;

/** A child forked ahead of time, moved into the job cgroups, its pipes open. */
interface PreparedChild {
  readonly seq: number;
  readonly stdout: Deno.FsFile;
  readonly stderr: Deno.FsFile;
  readonly source: Deno.FsFile;
}

/** A zygote jail. Start with {@linkcode ZygoteJail.start}. */
export class ZygoteJail {
  /** The host directory bound read-only as the jail's `/net`. */
  readonly netDir: string;
  readonly #base: Base;
  readonly #jail: Jail;
  readonly #control: ControlLines;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #diagnostics: HeadTailCapture;
  readonly #stderrDone: Promise<void>;
  /** The cgroups each child joins before its job (null: none writable). */
  #cgroup: JobCgroup | null = null;
  /** OOM kills counted in `#cgroup` before the current job. */
  #oomKills = 0;
  /** The zygote's pid on the host (its children are found from it). */
  #zygotePid = 0;
  /** The zygote's start time (`/proc/<pid>/stat`), to tell it from a process reusing its pid. */
  #zygoteStart = "";
  #child: PreparedChild | null = null;
  /** Top-level names linked into `netDir` for the current job. */
  readonly #linked = new Set<string>();
  /** The child whose job ran last, until its files are closed. */
  #used: PreparedChild | null = null;
  #dead = false;
  #retired = false;

  private constructor(base: Base, jail: Jail, netDir: string) {
    this.#base = base;
    this.#jail = jail;
    this.netDir = netDir;
    this.#control = new ControlLines(jail.stdout);
    this.#stdin = jail.child.stdin.getWriter();
    this.#diagnostics = new HeadTailCapture(diagnosticsBytesMax);
    this.#stderrDone = collect(jail.child.stderr, this.#diagnostics);
    jail.child.status.then(() => this.#dead = true);
  }

  /**
   * Starts a zygote jail with `netDir` (an existing empty directory) as its
   * `/net` and waits until its first child is prepared. Throws `Error` when
   * the jail cannot start; nothing is left running then.
   */
  static async start(base: Base, program: string, netDir: string): Promise<ZygoteJail> {
    const jail = await spawnJail(base, program, {
      net: { kind: "directory", path: netDir },
      netDir,
      zygote: true,
    });
    const zygote = new ZygoteJail(base, jail, netDir);
    try {
      const ready = await within(zygote.#control.next(), bwrapZygoteReplyMs, "zygote start");
      if (ready?.kind !== "ready") throw new Error(`expected ready, got ${ready?.kind ?? "EOF"}`);
      zygote.#zygotePid = childWithNsPid(jail.child.pid, ready.pid);
      zygote.#zygoteStart = startTime(zygote.#zygotePid);
      zygote.#cgroup = createJobCgroup(base);
      await zygote.#prepare();
      return zygote;
    } catch (error) {
      await zygote.retire();
      await within(zygote.#stderrDone, 1_000, "stderr").catch(() => {});
      const said = new TextDecoder().decode(zygote.#diagnostics.bytes()).trim();
      throw new Error(
        `Cannot start zygote: ${error instanceof Error ? error.message : error}${
          said === "" ? "" : `: ${said}`
        }`,
      );
    }
  }

  /**
   * Hard-links a job's inputs into `/net`. False if one cannot be linked
   * (another file system): nothing is left linked then.
   */
  async link(entries: readonly NetEntry[]): Promise<boolean> {
    for (const entry of entries) this.#linked.add(entry.segments[0]!);
    if (await linkInputs(this.#base, this.netDir, entries)) return true;
    // Left behind, a link would show in the next job's /net: never reuse the jail then.
    await this.#unlink().catch(() => this.#killJail());
    return false;
  }

  /** The zygote died or was retired: never run a job here again. */
  get dead(): boolean {
    return this.#dead;
  }

  /**
   * Runs `job` in the prepared child (its inputs already linked into
   * `netDir`) to its end: every process of the jail but the zygote is dead
   * when this returns. Then call {@linkcode recycle} (or {@linkcode retire}).
   */
  async run(
    job: SandboxJob,
    options: { limits: SandboxLimits; signal: AbortSignal; pumpDelayMs?: number },
  ): Promise<{ result: SandboxResult; deliveryFailed: boolean }> {
    const child = this.#child;
    if (child === null) throw new Error("ZygoteJail.run(): no prepared child (programmer error)");
    this.#child = null;
    this.#used = child;
    let escalation: ReturnType<typeof setTimeout> | undefined;
    const kill = () => {
      this.#stdin.write(encodeKill(child.seq)).catch(() => {});
      escalation ??= setTimeout(() => this.#killJail(), bwrapKillGraceMs);
    };
    const seen = await superviseStreams({
      stdout: fileReader(child.stdout),
      stderr: fileReader(child.stderr),
      deliver: () => deliver(child.source, job.source, options.signal),
      exited: this.#waitExit(child.seq),
      stdoutPath: job.stdoutPath,
      stdoutBytesMax: options.limits.stdoutBytesMax,
      stderrBytesMax: options.limits.stderrBytesMax,
      ...(job.onStderr ? { onStderr: job.onStderr } : {}),
      wallMs: options.limits.wallMs,
      signal: options.signal,
      kill,
      // The zygote reports the end only once every other process of the jail is gone.
      afterExit: {
        stdout: child.stdout,
        stderr: child.stderr,
        pumpDelayMs: options.pumpDelayMs ?? zygotePumpDelayMs,
      },
    });
    clearTimeout(escalation);
    // The counter only grows; a failed read (0) must not lower the baseline.
    const oomKillsBefore = this.#oomKills;
    this.#oomKills = Math.max(oomKillsBefore, this.#cgroup?.oomKills() ?? 0);
    const oomKills = this.#oomKills - oomKillsBefore;
    return {
      result: jobResult(seen, oomKills, options.limits),
      deliveryFailed: seen.deliveryFailed && seen.stdoutBytes === 0,
    };
  }

  /**
   * After a job: checks its cgroups are empty (killing what is left), removes
   * its inputs from `/net`, then waits for the next child and prepares it.
   * Throws `Error` if any step fails (the jail must then be retired).
   */
  async recycle(): Promise<void> {
    if (this.#dead) throw new Error("Cannot recycle jail: the zygote is gone");
    if (this.#used !== null) closeFiles(this.#used);
    this.#used = null;
    await this.#cgroup?.empty();
    await this.#unlink();
    await this.#prepare();
  }

  /** Kills the jail (the zygote and anything left) and removes what it used. */
  async retire(): Promise<void> {
    if (this.#retired) return;
    this.#retired = true;
    this.#dead = true;
    this.#killJail();
    await this.#stdin.abort().catch(() => {});
    await this.#jail.stdout.cancel().catch(() => {});
    await this.#jail.child.status;
    for (const child of [this.#child, this.#used]) if (child !== null) closeFiles(child);
    this.#child = this.#used = null;
    await this.#cgroup?.remove().catch(() => {});
    await Deno.remove(this.netDir, { recursive: true }).catch(() => {});
  }

  /** Removes what {@linkcode link} linked. Throws `Error` if it cannot. */
  async #unlink(): Promise<void> {
    for (const name of this.#linked) {
      await Deno.remove(`${this.netDir}/${name}`, { recursive: true }).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
    }
    this.#linked.clear();
  }

  /** Reads the next child's announcement, moves it into the job cgroups, opens its pipes. */
  async #prepare(): Promise<void> {
    const message = await within(this.#control.next(), bwrapZygoteReplyMs, "zygote fork");
    if (message?.kind !== "child") {
      throw new Error(`Cannot prepare child: expected a child, got ${message?.kind ?? "EOF"}`);
    }
    const opened: Deno.FsFile[] = [];
    try {
      this.#checkZygote();
      const childPid = childWithNsPid(this.#zygotePid, message.pid);
      const childStart = startTime(childPid);
      // Before the job exists: the child waits for its source until then.
      for (const file of this.#cgroup?.procsFiles ?? []) {
        Deno.writeTextFileSync(file, String(childPid));
      }
      // Opening a pipe through /proc never blocks: synchronous is cheapest.
      const open = (fd: number, options: Deno.OpenOptions) => {
        const file = Deno.openSync(`/proc/${childPid}/fd/${fd}`, options);
        opened.push(file);
        return file;
      };
      this.#child = {
        seq: message.seq,
        stdout: open(1, { read: true }),
        stderr: open(2, { read: true }),
        source: open(0, { write: true }),
      };
      // Had the child died and its pid been reused, these would be another process's pipes.
      if (startTime(childPid) !== childStart) throw new Error("Cannot prepare child: it is gone");
      this.#checkZygote();
    } catch (error) {
      this.#child = null;
      for (const file of opened) closeQuietly(file);
      throw error;
    }
  }

  /** Throws `Error` if the zygote's pid no longer names the zygote. */
  #checkZygote(): void {
    if (this.#dead || startTime(this.#zygotePid) !== this.#zygoteStart) {
      throw new Error("Cannot prepare child: the zygote is gone");
    }
  }

  /** Waits for the zygote to report child `seq` ended; never rejects. */
  async #waitExit(seq: number): Promise<JobExit> {
    try {
      const message = await this.#control.next();
      if (message?.kind === "exit" && message.seq === seq) {
        return { exitCode: message.exitCode, sandboxError: null };
      }
      if (message !== null) throw new Error(`expected exit ${seq}, got ${message.kind}`);
    } catch (error) {
      this.#killJail();
      return {
        exitCode: null,
        sandboxError: `Zygote failed during the job: ${
          error instanceof Error ? error.message : error
        }`,
      };
    }
    this.#dead = true;
    await within(this.#stderrDone, 200, "stderr").catch(() => {});
    const said = new TextDecoder().decode(this.#diagnostics.bytes()).trim().split("\n")[0] ?? "";
    return {
      exitCode: null,
      sandboxError: `Zygote died during the job${said === "" ? "" : `: ${said}`}`,
    };
  }

  #killJail(): void {
    this.#dead = true;
    try {
      // The outer bubblewrap; the zygote gets SIGKILL with it (--die-with-parent)
      // and every process of the pid namespace dies with the zygote.
      this.#jail.child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/**
 * The largest frame written to a fresh source pipe synchronously: a pipe holds
 * at least one page even when the user's pipe buffer quota is spent, so this
 * much never blocks (and saves a trip through the blocking thread pool).
 */
const syncFrameBytesMax = 4096;

/** Writes the job frame into the child's source pipe; false if the child is gone. */
async function deliver(file: Deno.FsFile, source: string, signal: AbortSignal): Promise<boolean> {
  try {
    if (signal.aborted) return false;
    const frame = encodeJobFrame(source);
    if (frame.length <= syncFrameBytesMax) return file.writeSync(frame) === frame.length;
    for (let offset = 0; offset < frame.length;) {
      offset += await file.write(frame.subarray(offset));
    }
    return true;
  } catch {
    return false;
  } finally {
    closeQuietly(file);
  }
}

/** Bytes asked of a job's pipe per read (a pipe holds 64 KiB by default). */
const pipeReadBytes = 64 * 1024;

/**
 * Reads a pipe in chunks, closing it at the end or when cancelled. Lighter
 * than `file.readable` (no stream machinery per job); each chunk is a new
 * buffer, so a consumer may keep it.
 */
function fileReader(file: Deno.FsFile): ChunkReader {
  return {
    async read() {
      const buffer = new Uint8Array(pipeReadBytes);
      const n = await file.read(buffer);
      if (n !== null) return { done: false, value: buffer.subarray(0, n) };
      closeQuietly(file);
      return { done: true, value: undefined };
    },
    cancel() {
      closeQuietly(file);
      return Promise.resolve();
    },
  };
}

/** Control lines from the zygote's stdout. */
class ControlLines {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #buffer = "";

  constructor(reader: ReadableStreamDefaultReader<Uint8Array>) {
    this.#reader = reader;
  }

  /** The next message, or null at the end. Throws `Error` on a malformed line. */
  async next(): Promise<ZygoteMessage | null> {
    while (true) {
      const newline = this.#buffer.indexOf("\n");
      if (newline >= 0) {
        const line = this.#buffer.slice(0, newline);
        this.#buffer = this.#buffer.slice(newline + 1);
        return parseZygoteLine(line);
      }
      if (this.#buffer.length > zygoteLineBytesMax) {
        throw new Error(`Cannot read zygote message: longer than ${zygoteLineBytesMax} bytes`);
      }
      const { done, value } = await this.#reader.read().catch(() => ({ done: true, value: null }));
      if (done || value === null) return null;
      this.#buffer += this.#decoder.decode(value, { stream: true });
    }
  }
}

/**
 * The host pid of the child of host process `parent` whose pid in its own
 * (innermost) pid namespace is `nsPid`. Throws `Error` if there is none.
 * Synchronous: procfs never waits on a disk.
 */
function childWithNsPid(parent: number, nsPid: number): number {
  const children = parseChildren(Deno.readTextFileSync(`/proc/${parent}/task/${parent}/children`));
  for (const pid of children) {
    let status = "";
    try {
      status = Deno.readTextFileSync(`/proc/${pid}/status`);
    } catch {
      continue; // Gone.
    }
    const nsPids = parseNsPids(status);
    if (nsPids.length >= 2 && nsPids.at(-1) === nsPid) return pid;
  }
  throw new Error(`Cannot find process: no child of ${parent} is pid ${nsPid} in its namespace`);
}

/** Field 22 of `/proc/<pid>/stat` (start time in clock ticks), or "" if there is no such process. */
function startTime(pid: number): string {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // The command name (field 2) may hold spaces and parentheses: count from its end.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "";
  } catch {
    return "";
  }
}

async function collect(stream: ReadableStream<Uint8Array>, into: HeadTailCapture): Promise<void> {
  try {
    for await (const chunk of stream) into.push(chunk);
  } catch {
    // Cancelled or broken: nothing more to keep.
  }
}

function closeFiles(child: PreparedChild): void {
  for (const file of [child.stdout, child.stderr, child.source]) closeQuietly(file);
}

function closeQuietly(file: Deno.FsFile): void {
  try {
    file.close();
  } catch {
    // Already closed (a finished readable stream closes its file).
  }
}

/** `promise`, or a rejection with `Error` after `ms` milliseconds. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`No answer within ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
