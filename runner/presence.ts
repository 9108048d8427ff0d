/**
 * A runner telling the ring who it is: every `runnerAnnounceMs` (and soon
 * after it takes or ends a job) it sends RUNR to its server, with its id,
 * host, sandbox, lanes, version and the jobs it holds; every
 * `runnerProgressMs` it sends PROG with the stderr so far of each running
 * job whose stderr grew. Both are best effort: a server that does not
 * answer is asked again at the next turn, one that does not know the
 * commands (an older server) is not asked again.
 *
 * @module
 */

import { formatHash } from "../protocol/hash.ts";
import type { Reply, Request } from "../protocol/message.ts";
import { runnerAnnounceMs, runnerProgressMs, stderrBytesMax } from "../limits.ts";
import { HeadTailCapture } from "./sandbox/capture.ts";

/** Who a runner is, as it tells the ring. */
export interface RunnerIdentity {
  readonly id: string;
  readonly host: string;
  readonly sandbox: string;
  readonly lanes: number;
  readonly version: string;
  readonly pid: number | null;
}

/** What presence needs of the client: sending one request. */
export interface PresenceTransport {
  request(request: Request, timeoutMs?: number): Promise<Reply>;
}

/** Options of {@linkcode Presence}. */
export interface PresenceOptions {
  readonly announceMs?: number;
  readonly progressMs?: number;
  /** Milliseconds, for how long jobs have run (default `performance.now`). */
  readonly now?: () => number;
  readonly log?: (message: string) => void;
}

/** A job a runner holds: its stderr so far goes to the ring. */
export interface HeldJob {
  /** Takes a chunk of the job's stderr. */
  readonly stderr: (chunk: Uint8Array) => void;
  /** The job has ended (reported or given back). */
  release(): void;
}

interface Holding {
  readonly startedMs: number;
  readonly capture: HeadTailCapture;
  /** Bytes of stderr sent so far (the capture's total then). */
  sentBytes: number;
}

/** Requests presence waits for at most: a slow server must not hold the loop. */
const presenceRequestMs = 5_000;

/** Turns come at most this often (twice a second), however many jobs start and end. */
const turnGapMs = 500;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** The presence of one runner. */
export class Presence {
  readonly #transport: PresenceTransport;
  readonly #identity: RunnerIdentity;
  readonly #announceMs: number;
  readonly #progressMs: number;
  readonly #now: () => number;
  readonly #log: (message: string) => void;
  readonly #held = new Map<number, Holding>();
  #announcedMs = -Infinity;
  #changed = true;
  #announcing = true;
  #reporting = true;
  #wake: (() => void) | null = null;

  /** The presence of the runner `identity`, talking through `transport`. */
  constructor(
    transport: PresenceTransport,
    identity: RunnerIdentity,
    options: PresenceOptions = {},
  ) {
    this.#transport = transport;
    this.#identity = identity;
    this.#announceMs = options.announceMs ?? runnerAnnounceMs;
    this.#progressMs = options.progressMs ?? runnerProgressMs;
    this.#now = options.now ?? (() => performance.now());
    this.#log = options.log ?? (() => {});
  }

  /** Marks a job as held from now until `release()`. */
  hold(hash: number): HeldJob {
    const holding: Holding = {
      startedMs: this.#now(),
      capture: new HeadTailCapture(stderrBytesMax),
      sentBytes: 0,
    };
    this.#held.set(hash, holding);
    this.#touch();
    return {
      stderr: (chunk) => holding.capture.push(chunk),
      release: () => {
        if (this.#held.get(hash) === holding) this.#held.delete(hash);
        this.#touch();
      },
    };
  }

  /** The record RUNR carries now. */
  record(): Record<string, unknown> {
    const now = this.#now();
    return {
      ...this.#identity,
      jobs: [...this.#held].map(([hash, holding]) => ({
        hash: formatHash(hash),
        runningMs: Math.max(0, Math.round(now - holding.startedMs)),
      })),
    };
  }

  #touch(): void {
    this.#changed = true;
    this.#wake?.();
  }

  /** One turn: the progress of running jobs, then the announcement when due. */
  async tick(): Promise<void> {
    if (this.#reporting) await this.#sendProgress();
    const due = this.#changed || this.#now() - this.#announcedMs >= this.#announceMs;
    if (this.#announcing && due) await this.#announce();
  }

  async #announce(): Promise<void> {
    this.#changed = false;
    const reply = await this.#send({ command: "RUNR", record: JSON.stringify(this.record()) });
    if (reply === null) return;
    this.#announcedMs = this.#now();
    if (!reply.ok && reply.reason === "unknown-command") {
      this.#announcing = false;
      this.#log("the server does not know RUNR (an older version): runner not announced");
    }
  }

  async #sendProgress(): Promise<void> {
    for (const [hash, holding] of [...this.#held]) {
      const total = holding.capture.totalBytes;
      if (total === holding.sentBytes) continue;
      const reply = await this.#send({ command: "PROG", hash, stderr: holding.capture.bytes() });
      if (reply?.ok) holding.sentBytes = total;
      if (reply && !reply.ok && reply.reason === "unknown-command") {
        this.#reporting = false;
        return;
      }
    }
  }

  async #send(request: Request): Promise<Reply | null> {
    try {
      return await this.#transport.request(request, presenceRequestMs);
    } catch {
      // The server is away; the next turn asks again.
      return null;
    }
  }

  /**
   * Runs turns until `signal` aborts, then tells the server the runner
   * holds nothing (it stops).
   */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.tick();
      await sleep(turnGapMs, signal);
      if (this.#changed) continue;
      // Until the next progress turn, or a job taken or ended.
      const wake = new AbortController();
      this.#wake = () => wake.abort();
      await sleep(
        Math.max(0, this.#progressMs - turnGapMs),
        AbortSignal.any([signal, wake.signal]),
      );
      this.#wake = null;
    }
    this.#held.clear();
    if (this.#announcing) await this.#announce();
  }
}
