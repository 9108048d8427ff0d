/**
 * Time and timers as a server sees them. Production uses the system clock;
 * the simulation (tests/sim.ts) passes a virtual one, so that a run is
 * decided by its seed alone.
 *
 * @module
 */

/** Wall-clock time and timers. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `callback` once after `ms`; returns an id for {@linkcode Clock.clearTimer}. */
  setTimeout(callback: () => void, ms: number): number;
  /** Calls `callback` every `ms`; returns an id for {@linkcode Clock.clearTimer}. */
  setInterval(callback: () => void, ms: number): number;
  /** Cancels a timer of either kind; unknown ids are ignored. */
  clearTimer(id: number): void;
}

/**
 * `Date.now` and the global timers. (Deno's timers return numbers; the
 * Node typings seen through `node:` imports say `Timeout`, hence `Number`.)
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => Number(setTimeout(callback, ms)),
  setInterval: (callback, ms) => Number(setInterval(callback, ms)),
  clearTimer: (id) => clearTimeout(id),
};
