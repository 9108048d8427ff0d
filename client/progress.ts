/**
 * Progress lines for the command line (on stderr, through `npm:cli-progress`):
 * bytes moved with rate and time left, or the state of an object being
 * waited for. Shown only when stderr is a terminal and JSON was not asked
 * for; otherwise every call does nothing, so scripts see no noise.
 *
 * @module
 */

import cliProgress from "cli-progress";
import process from "node:process";

/** A progress line; `stop` clears it. Every method is a no-op when disabled. */
export interface Progress {
  /** Bytes done so far, and the total when known. */
  bytes(done: number, total?: number): void;
  /** A state word (e.g. `leased`) for waits. */
  state(state: string): void;
  /** Ends the line. */
  stop(): void;
}

const quiet: Progress = { bytes() {}, state() {}, stop() {} };

/** Formats a byte count with a decimal unit: `12.3 MB`. */
export function formatBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  if (seconds < 60) return `${Math.round(seconds)}s`;
  return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, "0")}s`;
}

interface Bar {
  start(total: number, value: number, payload?: Record<string, unknown>): void;
  update(value: number, payload?: Record<string, unknown>): void;
  setTotal(total: number): void;
  stop(): void;
}

/**
 * A progress line labelled `label` when `enabled` (callers pass
 * `Deno.stderr.isTerminal() && !json`).
 */
export function progress(label: string, enabled: boolean): Progress {
  if (!enabled) return quiet;
  const startedMs = performance.now();
  let total: number | undefined;
  let done = 0;
  let state = "";
  const format = (options: { barsize?: number }, params: { value: number; total: number }) => {
    const seconds = (performance.now() - startedMs) / 1000;
    if (state) return `${label}: ${state} · ${formatSeconds(seconds)}`;
    const rate = seconds > 0 ? params.value / seconds : 0;
    const moved = `${formatBytes(params.value)}${
      total === undefined ? "" : ` / ${formatBytes(total)}`
    }`;
    const speed = `${formatBytes(rate)}/s`;
    if (total === undefined || total === 0) return `${label} ${moved} · ${speed}`;
    const ratio = Math.min(1, params.value / total);
    const width = options.barsize ?? 30;
    const filled = Math.round(ratio * width);
    const left = rate > 0 ? (total - params.value) / rate : Infinity;
    return `${label} [${"█".repeat(filled)}${"░".repeat(width - filled)}] ${
      Math.floor(ratio * 100)
    }% · ${moved} · ${speed} · ${formatSeconds(left)} left`;
  };
  const bar: Bar = new cliProgress.SingleBar({
    format,
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
    fps: 8,
    barsize: 30,
  });
  let started = false;
  const ensure = () => {
    if (started) return;
    started = true;
    bar.start(total ?? 0, done);
  };
  return {
    bytes(value: number, size?: number) {
      done = value;
      if (size !== undefined && size !== total) {
        total = size;
        if (started) bar.setTotal(size);
      }
      ensure();
      bar.update(done);
    },
    state(value: string) {
      state = value;
      ensure();
      bar.update(done);
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}
