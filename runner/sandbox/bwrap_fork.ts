/**
 * The bubblewrap backend's fork mode: a pool of zygote jails (see
 * `zygote.ts`, `zygote_jail.ts`), one job at a time in each, so jobs in
 * flight never share a jail. The pool starts with `warm` jails and grows,
 * when a job finds none free, to the number of jobs run at once (at most
 * `bwrapForkJailsMax`); a jail that fails is retired and replaced on demand.
 * Jails beyond `warm` that stay idle for `idleRetireMs` are retired, so a
 * runner that waits for work gives back the memory of a burst.
 *
 * A job whose inputs cannot be hard-linked into a jail's `/net` runs in a
 * jail started for it, as in fresh mode; so does a job whose jail died
 * before it received the job, or for which no zygote could start.
 *
 * @module
 */

import { bwrapForkIdleRetireMs, bwrapForkJailsMax, zygotePumpDelayMs } from "../../limits.ts";
import { bwrapBootstrap } from "./bootstrap.ts";
import {
  type Base,
  discardJail,
  releaseBase,
  resolveInputs,
  runInJail,
  spawnColdJail,
} from "./bwrap_jail.ts";
import type { BwrapProbe, BwrapSandbox } from "./bwrap_types.ts";
import { killedBeforeStart, sandboxError, SandboxLifecycle } from "./lifecycle.ts";
import { type NetEntry, planNetEntries } from "./net_names.ts";
import type { SandboxJob, SandboxLimits, SandboxResult } from "./sandbox.ts";
import { zygoteProgram } from "./zygote.ts";
import { ZygoteJail } from "./zygote_jail.ts";

/** Fork mode's tunables (see `BwrapOptions` in `bwrap.ts`). */
export interface ForkTuning {
  /** How long a jail beyond the warm ones may stay idle (default `bwrapForkIdleRetireMs`). */
  readonly idleRetireMs?: number;
  /** How long a job may take to have its output read after its end (default `zygotePumpDelayMs`). */
  readonly pumpDelayMs?: number;
}

/** What a job waiting for a jail gets: a jail, why none could start, or its abort. */
type Offer = ZygoteJail | Error | "aborted";

/** A fork-mode bubblewrap sandbox. */
export class BwrapFork implements BwrapSandbox {
  readonly name = "bwrap" as const;
  readonly mode = "fork" as const;
  readonly limits: SandboxLimits;
  readonly probe: BwrapProbe;
  readonly stats = { warm: 0, cold: 0 };
  readonly #base: Base;
  readonly #zygoteProgram: string;
  readonly #coldProgram: string;
  /** Free jails, the longest idle first, with when each became free. */
  readonly #idle: { readonly jail: ZygoteJail; readonly since: number }[] = [];
  readonly #waiting: ((offer: Offer) => void)[] = [];
  readonly #lifecycle = new SandboxLifecycle();
  /** Jails started and not retired: idle, running or recycling. */
  readonly #jails = new Set<ZygoteJail>();
  readonly #warm: number;
  readonly #idleRetireMs: number;
  readonly #pumpDelayMs: number;
  /** Set while idle jails beyond `warm` wait to be retired. */
  #sweeper: ReturnType<typeof setTimeout> | undefined;
  #starting = 0;
  #recycling = 0;
  #nextSlot = 0;

  private constructor(base: Base, probe: BwrapProbe, warm: number, tuning: ForkTuning) {
    this.#base = base;
    this.limits = base.limits;
    this.probe = probe;
    this.#zygoteProgram = zygoteProgram(probe.sysPath, base.limits);
    this.#coldProgram = bwrapBootstrap(probe.sysPath);
    this.#warm = warm;
    this.#idleRetireMs = tuning.idleRetireMs ?? bwrapForkIdleRetireMs;
    this.#pumpDelayMs = tuning.pumpDelayMs ?? zygotePumpDelayMs;
  }

  /** Jails started and not retired (idle, running or being prepared). */
  get jailCount(): number {
    return this.#jails.size;
  }

  /**
   * Starts the first zygote jail and runs a trivial job in it, then starts
   * `warm - 1` more in the background. Throws `Error` (nothing left running)
   * when the first jail does not work.
   */
  static async create(
    base: Base,
    probe: BwrapProbe,
    warm: number,
    tuning: ForkTuning = {},
  ): Promise<BwrapFork> {
    const sandbox = new BwrapFork(base, probe, warm, tuning);
    const first = await sandbox.#startJail();
    const stdoutPath = `${base.workDir}/probe-fork-stdout`;
    const { result } = await first.run(
      { source: "print(6 * 7)", inputs: [], stdoutPath },
      { limits: base.limits, signal: sandbox.#lifecycle.signal },
    );
    const stdout = result.stdout === undefined
      ? await Deno.readTextFile(stdoutPath).catch(() => "")
      : new TextDecoder().decode(result.stdout);
    await Deno.remove(stdoutPath).catch(() => {});
    if (result.reason !== null || stdout !== "42\n") {
      await first.retire();
      throw new Error(
        `Cannot use fork mode: the probe job failed (${result.reason}: ${result.detail}) ${
          new TextDecoder().decode(result.stderr).trim()
        }`,
      );
    }
    sandbox.#jails.add(first);
    sandbox.#recycle(first);
    for (let i = 1; i < warm; i++) sandbox.#start();
    return sandbox;
  }

  async run(job: SandboxJob): Promise<SandboxResult> {
    return await this.#lifecycle.run(job, (signal) => this.#run(job, signal));
  }

  async close(): Promise<void> {
    await this.#lifecycle.close({
      stop: () => {
        clearTimeout(this.#sweeper);
        for (const offer of this.#waiting.splice(0)) offer("aborted");
        for (const { jail } of this.#idle.splice(0)) this.#retire(jail);
      },
      cleanup: () => releaseBase(this.#base),
    });
  }

  async #run(job: SandboxJob, signal: AbortSignal): Promise<SandboxResult> {
    const plan = planNetEntries(await resolveInputs(job.inputs));
    const jail = await this.#take(signal);
    if (jail === "aborted") return killedBeforeStart();
    if (jail instanceof Error) return await this.#runCold(plan.entries, job, signal);
    if (!(await jail.link(plan.entries))) {
      // Untouched (its child never got a job): back to the pool.
      this.#offer(jail);
      return await this.#runCold(plan.entries, job, signal);
    }
    const attempt = await jail.run(job, {
      limits: this.limits,
      signal,
      pumpDelayMs: this.#pumpDelayMs,
    });
    this.#recycle(jail);
    // The zygote died before its child read the job: run it elsewhere.
    if (attempt.deliveryFailed && !signal.aborted) {
      return await this.#runCold(plan.entries, job, signal);
    }
    this.stats.warm++;
    return attempt.result;
  }

  /** Runs a job in a one-job jail started for it. */
  async #runCold(
    entries: readonly NetEntry[],
    job: SandboxJob,
    signal: AbortSignal,
  ): Promise<SandboxResult> {
    if (signal.aborted) return killedBeforeStart();
    let attempt;
    try {
      const jail = await spawnColdJail(this.#base, this.#coldProgram, entries);
      attempt = await runInJail(jail, job, { limits: this.limits, signal });
      this.#lifecycle.track(discardJail(jail, false));
    } catch (error) {
      return sandboxError(`Cannot start jail: ${error instanceof Error ? error.message : error}`);
    }
    this.stats.cold++;
    return attempt.result;
  }

  /** A free jail: an idle one, else the next one to become free (starting one if needed). */
  async #take(signal: AbortSignal): Promise<Offer> {
    if (signal.aborted) return "aborted";
    // The most recently used jail: the others can then grow idle enough to retire.
    for (let free = this.#idle.pop(); free !== undefined; free = this.#idle.pop()) {
      if (!free.jail.dead) return free.jail;
      this.#retire(free.jail);
    }
    return await new Promise<Offer>((resolve) => {
      const onAbort = () => {
        const at = this.#waiting.indexOf(offer);
        if (at >= 0) this.#waiting.splice(at, 1);
        resolve("aborted");
      };
      const offer = (value: Offer) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#waiting.push(offer);
      this.#grow();
    });
  }

  /** Gives a free jail to the first waiting job, or keeps it idle. */
  #offer(jail: ZygoteJail): void {
    if (this.#lifecycle.closed || jail.dead) {
      this.#retire(jail);
      return;
    }
    const waiter = this.#waiting.shift();
    if (waiter !== undefined) return waiter(jail);
    this.#idle.push({ jail, since: Date.now() });
    this.#armSweeper();
  }

  /** Retires the jails beyond `warm` that have been idle for `idleRetireMs`. */
  #retireIdle(): void {
    this.#sweeper = undefined;
    const before = Date.now() - this.#idleRetireMs;
    while (this.#jails.size > this.#warm) {
      const oldest = this.#idle[0];
      if (oldest === undefined || oldest.since > before) break;
      this.#idle.shift();
      this.#retire(oldest.jail);
    }
    this.#armSweeper();
  }

  /** Plans the next {@linkcode #retireIdle} when an idle jail beyond `warm` exists. */
  #armSweeper(): void {
    const oldest = this.#idle[0];
    if (this.#sweeper !== undefined || this.#lifecycle.closed) return;
    if (oldest === undefined || this.#jails.size <= this.#warm) return;
    const dueMs = Math.max(0, oldest.since + this.#idleRetireMs - Date.now());
    this.#sweeper = setTimeout(() => this.#retireIdle(), dueMs + 1);
  }

  /** Starts jails for the jobs waiting beyond those about to be free. */
  #grow(): void {
    const soon = this.#starting + this.#recycling;
    const room = bwrapForkJailsMax - this.#jails.size - this.#starting;
    const missing = Math.min(this.#waiting.length - soon, room);
    for (let i = 0; i < missing; i++) this.#start();
  }

  #start(): void {
    if (this.#lifecycle.closed) return;
    this.#starting++;
    this.#lifecycle.track(
      this.#startJail().then((jail) => {
        this.#starting--;
        this.#jails.add(jail);
        this.#offer(jail);
      }, (error: Error) => {
        this.#starting--;
        // A job waiting for this jail runs in a jail of its own instead.
        if (this.#waiting.length > this.#starting + this.#recycling) this.#waiting.shift()?.(error);
      }),
    );
  }

  async #startJail(): Promise<ZygoteJail> {
    const netDir = `${this.#base.netStaging.dir}/net-${this.#nextSlot++}`;
    await Deno.mkdir(netDir, { mode: 0o755 });
    try {
      // The jail owns netDir: retiring it removes it.
      return await ZygoteJail.start(this.#base, this.#zygoteProgram, netDir);
    } catch (error) {
      await Deno.remove(netDir, { recursive: true }).catch(() => {});
      throw error;
    }
  }

  /** After a job: clean up and prepare the jail in the background, then offer it. */
  #recycle(jail: ZygoteJail): void {
    this.#recycling++;
    this.#lifecycle.track(
      jail.recycle().then(() => {
        this.#recycling--;
        this.#offer(jail);
      }, () => {
        this.#recycling--;
        this.#retire(jail);
      }),
    );
  }

  #retire(jail: ZygoteJail): void {
    if (!this.#jails.delete(jail)) return;
    this.#lifecycle.track(jail.retire());
    this.#grow();
  }
}
