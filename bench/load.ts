/**
 * A closed-loop load generator: C connections, each running one operation at
 * a time, back to back, for a duration or a number of operations. Every
 * operation's latency goes into one histogram. Systems plug in through
 * LoadDriver (one per connection): the Redis driver in resp.ts, and the cloud
 * object-store driver in cloud.ts.
 *
 * @module
 */

import { LatencyHistogram } from "./histogram.ts";

/** One connection of a system under test. */
export interface LoadDriver {
  /**
   * Perform operation number `i` and resolve when its reply has arrived and
   * been checked. `i` counts up from 0 across all connections of one load
   * run, so every operation of a run has its own number. Throw on any error.
   */
  op(i: number): Promise<void>;
  /** Close the connection. */
  close(): Promise<void>;
}

/** Opens the driver of connection number `connection` (0..connections-1). */
export type OpenDriver = (connection: number) => Promise<LoadDriver>;

/** Options of runLoad(). */
export interface LoadOptions {
  /** Concurrent connections, each with one operation in flight. */
  connections: number;
  /** Stop starting operations after this long. */
  durationMs?: number;
  /** Stop after this many operations in total. */
  operations?: number;
  /** Run operations for this long first, unrecorded (same connections). */
  warmupMs?: number;
}

/** What one load run measured. */
export interface LoadResult {
  operations: number;
  seconds: number;
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

interface Phase {
  histogram?: LatencyHistogram;
  deadline: number;
  limit: number;
  next: number;
  failed: boolean;
}

async function drive(driver: LoadDriver, phase: Phase): Promise<void> {
  while (!phase.failed && phase.next < phase.limit && performance.now() < phase.deadline) {
    const i = phase.next++;
    const start = performance.now();
    try {
      await driver.op(i);
    } catch (error) {
      phase.failed = true;
      throw error;
    }
    phase.histogram?.record(performance.now() - start);
  }
}

async function runPhase(drivers: LoadDriver[], phase: Phase): Promise<void> {
  const outcomes = await Promise.allSettled(drivers.map((driver) => drive(driver, phase)));
  const failure = outcomes.find((outcome) => outcome.status === "rejected");
  if (failure) throw (failure as PromiseRejectedResult).reason;
}

/**
 * Open `connections` drivers, run operations on all of them back to back until
 * the duration or the operation count is reached, close them, and report
 * throughput and latency percentiles.
 *
 * @throws {RangeError} when neither durationMs nor operations is given.
 * @throws the first error an operation threw (the run stops at once).
 */
export async function runLoad(open: OpenDriver, options: LoadOptions): Promise<LoadResult> {
  if (options.durationMs === undefined && options.operations === undefined) {
    throw new RangeError("Cannot run load: give durationMs or operations");
  }
  const drivers: LoadDriver[] = [];
  try {
    for (let c = 0; c < options.connections; c++) drivers.push(await open(c));
    if (options.warmupMs) {
      await runPhase(drivers, {
        deadline: performance.now() + options.warmupMs,
        limit: Infinity,
        next: 0,
        failed: false,
      });
    }
    const histogram = new LatencyHistogram();
    const start = performance.now();
    const phase: Phase = {
      histogram,
      deadline: start + (options.durationMs ?? Infinity),
      limit: options.operations ?? Infinity,
      next: 0,
      failed: false,
    };
    await runPhase(drivers, phase);
    const seconds = (performance.now() - start) / 1000;
    return {
      operations: histogram.count,
      seconds,
      opsPerSecond: histogram.count / seconds,
      p50Ms: histogram.percentileMs(0.5),
      p99Ms: histogram.percentileMs(0.99),
      maxMs: histogram.maxMs,
    };
  } finally {
    await Promise.allSettled(drivers.map((driver) => driver.close()));
  }
}
