/**
 * Supervises one running job: delivers the job (on a child process's stdin,
 * or however the backend hands it over), streams stdout to the output file
 * under its limit, keeps stderr's head and tail, and kills on wall-clock
 * timeout, output overflow or abort. Shared by the backends; what the
 * observation means is decided by `classifyOutcome`.
 *
 * @module
 */

import { HeadTailCapture } from "./capture.ts";
import { lastLine, type Observation } from "./outcome.ts";

/** How long to keep draining pipes after the process ended (orphans may hold them). */
const drainAfterExitMs = 1_000;

/** What to supervise: a job's process, spawned with all three stdio piped. */
export interface SuperviseOptions
  extends Omit<SuperviseStreamsOptions, "stderr" | "deliver" | "exited"> {
  /** The job's process, spawned with all three stdio piped. */
  readonly child: Deno.ChildProcess;
  /** Bytes to write to the child's stdin before closing it; streamed in order. */
  readonly stdin: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
}

/** What supervision needs of a stream reader (a `ReadableStreamDefaultReader` will do). */
export interface ChunkReader {
  read(): Promise<ReadableStreamReadResult<Uint8Array>>;
  cancel(): Promise<void>;
}

/** What to supervise, whatever runs the job. */
export interface SuperviseStreamsOptions {
  /** Reader of the job's stdout (the caller may already have read a prefix). */
  readonly stdout: ChunkReader;
  /** Stdout bytes the caller read past its own prefix: the job's first bytes. */
  readonly stdoutHead?: Uint8Array;
  /** Reader of the job's stderr. */
  readonly stderr: ChunkReader;
  /** Hands the job over; resolves false if that failed (the runner of the job was gone). */
  readonly deliver: () => Promise<boolean>;
  /** Resolves when the job has ended and all its processes are gone. Never rejects. */
  readonly exited: Promise<JobExit>;
  /** Where stdout goes (created or truncated). */
  readonly stdoutPath: string;
  readonly stdoutBytesMax: number;
  readonly stderrBytesMax: number;
  /** Told of stderr as it is read (streaming only; see `SandboxJob.onStderr`). */
  readonly onStderr?: (chunk: Uint8Array) => void;
  /** Kill after this many milliseconds. */
  readonly wallMs: number;
  /** Kills the job when aborted (the job's signal, the sandbox closing). */
  readonly signal: AbortSignal;
  /** Kills every process of the job. */
  readonly kill: () => void;
  /**
   * For a backend whose `exited` resolves (without a `sandboxError`) only
   * once no process can write to the job's stdout and stderr any more: then
   * reading both pipes to their end never blocks. A job that ends within
   * `pumpDelayMs` then has its output read synchronously after its end and
   * kept in memory ({@linkcode Supervision.stdout}; nothing is written to
   * `stdoutPath`), sparing a short job the trips through the runtime's
   * blocking-I/O threads that streaming costs. Output still in the pipes is
   * bounded by their capacity. A job still running after `pumpDelayMs` is
   * streamed as without this option.
   */
  readonly afterExit?: {
    readonly stdout: SyncReader;
    readonly stderr: SyncReader;
    readonly pumpDelayMs: number;
  };
}

/** A pipe read synchronously (a `Deno.FsFile` will do). */
export interface SyncReader {
  readSync(buffer: Uint8Array): number | null;
}

/** How a job ended. */
export interface JobExit {
  /** Exit status (128 + n after signal n), or null if unknown. */
  readonly exitCode: number | null;
  /** Set when whatever ran the job failed (it died, or spoke nonsense). */
  readonly sandboxError: string | null;
}

/** What happened, for `classifyOutcome`, and the job's byte counts. */
export interface Supervision {
  readonly observation: Omit<Observation, "oomKilled">;
  readonly stdoutBytes: number;
  /** The whole stdout, when it was read after the job ended (`afterExit`) instead of written to `stdoutPath`. */
  readonly stdout?: Uint8Array;
  readonly stderr: Uint8Array;
  readonly wallMs: number;
  /** The delivery failed (the process was gone before reading its job). */
  readonly deliveryFailed: boolean;
}

/** Runs the supervision of a child process to its end. Never throws. */
export async function supervise(options: SuperviseOptions): Promise<Supervision> {
  const { child, stdin } = options;
  return await superviseStreams({
    ...options,
    stderr: child.stderr.getReader(),
    deliver: () => deliver(child, stdin),
    exited: child.status.then((status) => ({
      exitCode: status.signal === null
        ? status.code
        : 128 + signalNumber(status.signal, status.code),
      sandboxError: null,
    })),
  });
}

/** Runs the supervision to the end of the job. Never throws. */
export async function superviseStreams(options: SuperviseStreamsOptions): Promise<Supervision> {
  const started = performance.now();
  const state = {
    aborted: false,
    wallTimeout: false,
    stdoutOverflow: false,
    ioError: null as string | null,
  };
  const kill = () => {
    try {
      options.kill();
    } catch {
      // Already gone.
    }
  };
  const onAbort = () => {
    state.aborted = true;
    kill();
  };
  if (options.signal.aborted) onAbort();
  options.signal.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(() => {
    state.wallTimeout = true;
    kill();
  }, options.wallMs);
  const stderr = new HeadTailCapture(options.stderrBytesMax);
  const delivery = options.deliver();
  let pumps: { stdout: Promise<number>; stderr: Promise<void> } | null = null;
  const startPumps = () =>
    pumps ??= {
      stdout: pumpStdout(options, state, kill),
      stderr: pumpStderr(options.stderr, stderr, options.onStderr),
    };
  if (options.afterExit === undefined) startPumps();
  else {
    let delay: ReturnType<typeof setTimeout> | undefined;
    const later = new Promise<void>((resolve) => {
      delay = setTimeout(resolve, options.afterExit!.pumpDelayMs);
    });
    // Streaming starts if the job is still running once the delay is over.
    void later.then(startPumps);
    await Promise.race([options.exited, later]);
    clearTimeout(delay);
  }
  const exit = await options.exited;
  const wallMs = performance.now() - started;
  clearTimeout(timer);
  options.signal.removeEventListener("abort", onAbort);
  let stdoutBytes: number;
  let stdout: Uint8Array | undefined;
  if (pumps === null && options.afterExit !== undefined && exit.sandboxError === null) {
    stdout = readStdoutSync(options.afterExit.stdout, options.stdoutBytesMax, state);
    stdoutBytes = stdout.length;
    readSync(options.afterExit.stderr, (chunk) => {
      stderr.push(chunk);
      return true;
    });
  } else {
    const { stdout: stdoutDone, stderr: stderrDone } = startPumps();
    const drained = await drain([stdoutDone, stderrDone]);
    if (!drained) {
      await options.stdout.cancel().catch(() => {});
      await options.stderr.cancel().catch(() => {});
    }
    stdoutBytes = await stdoutDone;
  }
  const deliveryFailed = !(await delivery);
  const stderrBytes = stderr.bytes();
  return {
    observation: {
      exitCode: exit.exitCode,
      aborted: state.aborted,
      stdoutOverflow: state.stdoutOverflow,
      wallTimeout: state.wallTimeout,
      sandboxError: state.ioError ?? exit.sandboxError,
      stderrLastLine: lastLine(new TextDecoder().decode(stderrBytes.subarray(-4096))),
    },
    stdoutBytes,
    ...(stdout === undefined ? {} : { stdout }),
    stderr: stderrBytes,
    wallMs,
    deliveryFailed,
  };
}

/** Bytes asked of a pipe per synchronous read. */
const syncReadBytes = 64 * 1024;

/** Reads a pipe with no writer left to its end, handing each chunk to `take` until it says stop. */
function readSync(reader: SyncReader, take: (chunk: Uint8Array) => boolean): void {
  const buffer = new Uint8Array(syncReadBytes);
  for (;;) {
    const count = reader.readSync(buffer);
    if (count === null || count === 0) return;
    if (!take(buffer.slice(0, count))) return;
  }
}

/** The job's stdout from its pipe, at most `bytesMax` of it (more is an overflow). */
function readStdoutSync(
  reader: SyncReader,
  bytesMax: number,
  state: { stdoutOverflow: boolean },
): Uint8Array {
  const chunks: Uint8Array[] = [];
  let length = 0;
  readSync(reader, (chunk) => {
    const room = bytesMax - length;
    if (chunk.length > room) state.stdoutOverflow = true;
    const part = chunk.subarray(0, Math.max(0, Math.min(room, chunk.length)));
    chunks.push(part);
    length += part.length;
    return !state.stdoutOverflow;
  });
  const whole = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    whole.set(chunk, offset);
    offset += chunk.length;
  }
  return whole;
}

/** Writes the job to stdin and closes it; false if the pipe broke. */
async function deliver(
  child: Deno.ChildProcess,
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): Promise<boolean> {
  const writer = child.stdin.getWriter();
  try {
    for await (const chunk of chunks) await writer.write(chunk);
    await writer.close();
    return true;
  } catch {
    await writer.abort().catch(() => {});
    return false;
  }
}

async function pumpStdout(
  options: SuperviseStreamsOptions,
  state: { stdoutOverflow: boolean; ioError: string | null },
  kill: () => void,
): Promise<number> {
  let written = 0;
  let file: Deno.FsFile | null = null;
  try {
    file = await Deno.open(options.stdoutPath, { write: true, create: true, truncate: true });
    const write = async (chunk: Uint8Array) => {
      const room = options.stdoutBytesMax - written;
      if (chunk.length > room) {
        state.stdoutOverflow = true;
        kill();
      }
      const part = chunk.subarray(0, Math.max(0, Math.min(room, chunk.length)));
      for (let offset = 0; offset < part.length;) {
        offset += await file!.write(part.subarray(offset));
      }
      written += part.length;
    };
    if (options.stdoutHead !== undefined) await write(options.stdoutHead);
    while (!state.stdoutOverflow) {
      const { done, value } = await options.stdout.read();
      if (done) break;
      await write(value);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.Interrupted) && !state.stdoutOverflow) {
      state.ioError = `Cannot write stdout: ${error instanceof Error ? error.message : error}`;
      kill();
    }
  } finally {
    file?.close();
    // After an overflow keep reading (and dropping) so the pipe never blocks.
    await discard(options.stdout);
  }
  return written;
}

async function pumpStderr(
  reader: ChunkReader,
  capture: HeadTailCapture,
  onStderr?: (chunk: Uint8Array) => void,
): Promise<void> {
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) return;
      capture.push(value);
      onStderr?.(value);
    }
  } catch {
    // Cancelled after the drain deadline.
  }
}

async function discard(reader: ChunkReader): Promise<void> {
  try {
    while (!(await reader.read()).done) {
      // Dropped.
    }
  } catch {
    // Cancelled.
  }
}

async function drain(pumps: Promise<unknown>[]): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), drainAfterExitMs);
  });
  const done = Promise.all(pumps).then(() => true as const);
  const drained = await Promise.race([done, timeout]);
  clearTimeout(timer);
  return drained;
}

const signalNumbers: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGXCPU: 24,
  SIGXFSZ: 25,
};

function signalNumber(signal: Deno.Signal, code: number): number {
  return signalNumbers[signal] ?? (code > 128 ? code - 128 : 0);
}
