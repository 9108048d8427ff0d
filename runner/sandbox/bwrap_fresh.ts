/**
 * The bubblewrap backend's fresh mode: one jail and one interpreter per job.
 * The interpreter takes 15-40 ms to start, so the sandbox keeps `warm` jails
 * started ahead of time, each blocked reading one job from its stdin with its
 * own empty `/net` directory (the job's inputs are hard-linked into it), and
 * discards each after its one job. A job whose inputs cannot be hard-linked,
 * or whose warm jail died while idle, gets a jail started for it.
 *
 * @module
 */

import { bwrapWarmCount } from "../../limits.ts";
import { bwrapBootstrap } from "./bootstrap.ts";
import {
  type Base,
  discardJail,
  emptyDirectory,
  type Jail,
  linkInputs,
  releaseBase,
  resolveInputs,
  runInJail,
  spawnColdJail,
  spawnJail,
} from "./bwrap_jail.ts";
import type { BwrapProbe, BwrapSandbox } from "./bwrap_types.ts";
import { sandboxError, SandboxLifecycle } from "./lifecycle.ts";
import { type NetEntry, planNetEntries } from "./net_names.ts";
import type { SandboxJob, SandboxLimits, SandboxResult } from "./sandbox.ts";

/** Fresh mode: one jail per job, `warm` of them started ahead of time. */
export class BwrapFresh implements BwrapSandbox {
  readonly name = "bwrap" as const;
  readonly mode = "fresh" as const;
  readonly limits: SandboxLimits;
  readonly probe: BwrapProbe;
  readonly stats = { warm: 0, cold: 0 };
  readonly #base: Base;
  readonly #program: string;
  readonly #warmCount: number;
  readonly #pool: Jail[] = [];
  readonly #lifecycle = new SandboxLifecycle();
  #nextSlot = 0;
  /** Warm jails being started (not yet in the pool). */
  #starting = 0;

  constructor(base: Base, probe: BwrapProbe, warm = bwrapWarmCount) {
    this.#base = base;
    this.limits = base.limits;
    this.probe = probe;
    this.#program = bwrapBootstrap(probe.sysPath);
    this.#warmCount = warm;
    this.#refill();
  }

  async run(job: SandboxJob): Promise<SandboxResult> {
    return await this.#lifecycle.run(job, (signal) => this.#run(job, signal));
  }

  async close(): Promise<void> {
    await this.#lifecycle.close({
      stop: async () => {
        await Promise.all(this.#pool.splice(0).map((jail) => discardJail(jail, true)));
      },
      cleanup: () => releaseBase(this.#base),
    });
  }

  async #run(job: SandboxJob, signal: AbortSignal): Promise<SandboxResult> {
    const plan = planNetEntries(await resolveInputs(job.inputs));
    let jail: Jail;
    try {
      const warm = await this.#takeWarm(plan.entries);
      if (warm !== null) {
        const attempt = await this.#runIn(warm, job, signal);
        // A warm jail that died while idle never read the job: start one for it.
        if (!attempt.deliveryFailed || signal.aborted) {
          this.stats.warm++;
          return attempt.result;
        }
      }
      jail = await this.#startCold(plan.entries);
    } catch (error) {
      return sandboxError(`Cannot start jail: ${error instanceof Error ? error.message : error}`);
    }
    this.stats.cold++;
    return (await this.#runIn(jail, job, signal)).result;
  }

  /** Runs the job in a started jail, then discards the jail. */
  async #runIn(
    jail: Jail,
    job: SandboxJob,
    signal: AbortSignal,
  ): Promise<{ result: SandboxResult; deliveryFailed: boolean }> {
    const attempt = await runInJail(jail, job, { limits: this.limits, signal });
    // The job is over: report now, clean up (cgroup, links) in the background.
    this.#lifecycle.track(discardJail(jail, false));
    return attempt;
  }

  /** A warm jail with the inputs linked into its `/net`, or null. */
  async #takeWarm(entries: readonly NetEntry[]): Promise<Jail | null> {
    const jail = this.#pool.shift();
    if (jail === undefined) return null;
    this.#refill();
    if (await linkInputs(this.#base, jail.netDir!, entries)) return jail;
    if (this.#lifecycle.closed) {
      await discardJail(jail, true);
      return null;
    }
    // Untouched (it never got a job): back to the pool once its /net is empty.
    await emptyDirectory(jail.netDir!);
    this.#pool.unshift(jail);
    return null;
  }

  async #startCold(entries: readonly NetEntry[]): Promise<Jail> {
    return await spawnColdJail(this.#base, this.#program, entries);
  }

  #refill(): void {
    const missing = this.#warmCount - this.#pool.length - this.#starting;
    for (let i = 0; i < missing && !this.#lifecycle.closed; i++) {
      this.#starting++;
      const start = this.#startWarm().then((jail) => {
        this.#starting--;
        if (this.#lifecycle.closed) return discardJail(jail, true);
        this.#pool.push(jail);
      }, () => {
        this.#starting--;
      });
      this.#lifecycle.track(start);
    }
  }

  async #startWarm(): Promise<Jail> {
    const netDir = `${this.#base.netStaging.dir}/net-${this.#nextSlot++}`;
    await Deno.mkdir(netDir, { mode: 0o755 });
    try {
      return await spawnJail(this.#base, this.#program, {
        net: { kind: "directory", path: netDir },
        netDir,
      });
    } catch (error) {
      await Deno.remove(netDir, { recursive: true }).catch(() => {});
      throw error;
    }
  }
}
