/**
 * The Pyodide worker: a child process that loads Pyodide once, then runs
 * exactly one job and exits. Started by `pyodide.ts` with no permission but
 * reading Pyodide's own files (and the snapshot), so neither Python nor a
 * JavaScript escape from it (`import js`) can reach the network, the host's
 * files, its environment or other processes.
 *
 * With `--make-snapshot` it instead writes a memory snapshot of a freshly
 * started interpreter to stdout; with `--snapshot=PATH` it starts from one.
 *
 * The protocol with the parent is in `pyodide_protocol.ts`.
 *
 * @module
 */

import { loadPyodide, type PyodideAPI } from "pyodide";
import { pythonRunFunction } from "./bootstrap.ts";
import { readyByte, workerFailureStatus, type WorkerJobHeader } from "./pyodide_protocol.ts";

/** Input bytes move into the in-memory file system in pieces of this size. */
const inputChunkBytes = 64 * 1024;

/** Buffered reads of stdin: a line, then exact byte counts. */
class StdinReader {
  readonly #reader = Deno.stdin.readable.getReader();
  #buffer = new Uint8Array(0);

  async line(): Promise<string> {
    while (true) {
      const newline = this.#buffer.indexOf(0x0a);
      if (newline >= 0) return new TextDecoder().decode(this.#take(newline + 1)).trim();
      if (!(await this.#fill())) throw new Error("Cannot read job: stdin ended before the header");
    }
  }

  /** Calls `sink` with pieces of the next `count` bytes. */
  async bytes(count: number, sink: (piece: Uint8Array) => void): Promise<void> {
    let left = count;
    while (left > 0) {
      if (this.#buffer.length === 0 && !(await this.#fill())) {
        throw new Error(`Cannot read job: stdin ended with ${left} input bytes missing`);
      }
      const piece = this.#take(Math.min(left, this.#buffer.length, inputChunkBytes));
      sink(piece);
      left -= piece.length;
    }
  }

  #take(count: number): Uint8Array {
    const piece = this.#buffer.subarray(0, count);
    this.#buffer = this.#buffer.subarray(count);
    return piece;
  }

  async #fill(): Promise<boolean> {
    const { done, value } = await this.#reader.read();
    if (done) return false;
    const joined = new Uint8Array(this.#buffer.length + value.length);
    joined.set(this.#buffer, 0);
    joined.set(value, this.#buffer.length);
    this.#buffer = joined;
    return true;
  }
}

function writeAllSync(file: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  for (let offset = 0; offset < bytes.length;) offset += file.writeSync(bytes.subarray(offset));
}

// deno-lint-ignore no-explicit-any
type EmscriptenFS = any;

/** Writes the inputs into Pyodide's in-memory file system under /net. */
async function receiveInputs(
  fs: EmscriptenFS,
  stdin: StdinReader,
  header: WorkerJobHeader,
): Promise<void> {
  fs.mkdirTree("/net");
  for (const input of header.inputs) {
    const path = `/net/${input.name}`;
    const slash = path.lastIndexOf("/");
    if (slash > "/net".length) fs.mkdirTree(path.slice(0, slash));
    const stream = fs.open(path, "w");
    await stdin.bytes(input.bytes, (piece) => fs.write(stream, piece, 0, piece.length));
    fs.close(stream);
  }
}

/** O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND in Emscripten's numbering. */
const writeFlags = 0o1 | 0o2 | 0o100 | 0o1000 | 0o2000;

/**
 * Makes the in-memory file system refuse every change with EROFS, as a
 * read-only mount would: opening for writing (except existing character
 * devices such as /dev/null) and every call that creates, removes, renames or
 * changes a file. Python's `open`, `os.*` and `shutil` all go through these.
 */
function denyWrites(pyodide: PyodideAPI): void {
  const fs: EmscriptenFS = pyodide.FS;
  // deno-lint-ignore no-explicit-any
  const erofs = (pyodide as any)._module.ERRNO_CODES.EROFS as number;
  const open = fs.open.bind(fs);
  fs.open = (path: unknown, flags: unknown, mode?: unknown) => {
    const numeric = typeof flags === "string" ? (flags === "r" ? 0 : 0o1) : Number(flags);
    if ((numeric & writeFlags) !== 0 && !isCharacterDevice(fs, path)) {
      throw new fs.ErrnoError(erofs);
    }
    return open(path, flags, mode);
  };
  const changes = [
    "mkdir",
    "mknod",
    "rmdir",
    "unlink",
    "rename",
    "symlink",
    "truncate",
    "ftruncate",
    "chmod",
    "fchmod",
    "lchmod",
    "chown",
    "fchown",
    "lchown",
    "utime",
  ];
  for (const name of changes) {
    fs[name] = () => {
      throw new fs.ErrnoError(erofs);
    };
  }
}

function isCharacterDevice(fs: EmscriptenFS, path: unknown): boolean {
  try {
    const node = typeof path === "string" ? fs.lookupPath(path, { follow: true }).node : path;
    return fs.isChrdev(node.mode);
  } catch {
    return false;
  }
}

/** Python run once per interpreter before any job: the bootstrap, and imports it uses. */
const setupPython =
  `import sys\nsys.dont_write_bytecode = True\nimport traceback\n${pythonRunFunction}`;

/**
 * Loads Pyodide, from a memory snapshot when given one (~0.4 s instead of
 * ~2.5 s: the snapshot holds an interpreter that finished starting up and
 * ran only {@linkcode setupPython}, never a job).
 */
async function load(snapshotPath: string | null, makeSnapshot: boolean): Promise<PyodideAPI> {
  const options = {
    env: { HOME: "/home/pyodide", LANG: "C.UTF-8" },
    // Private options of the pinned Pyodide version (see pyodide.ts).
    ...(makeSnapshot ? { _makeSnapshot: true } : {}),
    ...(snapshotPath === null ? {} : { _loadSnapshot: Deno.readFileSync(snapshotPath) }),
  };
  const pyodide = await loadPyodide(options);
  pyodide.runPython(setupPython);
  return pyodide;
}

/** Writes a memory snapshot of a freshly set-up interpreter to stdout. */
async function makeSnapshot(): Promise<number> {
  const pyodide = await load(null, true);
  // deno-lint-ignore no-explicit-any
  const snapshot: Uint8Array = (pyodide as any).makeMemorySnapshot();
  writeAllSync(Deno.stdout, snapshot);
  return 0;
}

async function runOneJob(snapshotPath: string | null): Promise<number> {
  const pyodide = await load(snapshotPath, false);
  pyodide.setStdout({
    write: (bytes: Uint8Array) => (writeAllSync(Deno.stdout, bytes), bytes.length),
  });
  pyodide.setStderr({
    write: (bytes: Uint8Array) => (writeAllSync(Deno.stderr, bytes), bytes.length),
  });
  pyodide.setStdin({ stdin: () => undefined });
  writeAllSync(Deno.stdout, new Uint8Array([readyByte]));
  const stdin = new StdinReader();
  const header = JSON.parse(
    new TextDecoder().decode(await readExact(stdin, Number(await stdin.line()))),
  ) as WorkerJobHeader;
  await receiveInputs(pyodide.FS, stdin, header);
  denyWrites(pyodide);
  const run = pyodide.globals.get("_cloud_run");
  return Number(run(header.source));
}

async function readExact(stdin: StdinReader, count: number): Promise<Uint8Array> {
  const out = new Uint8Array(count);
  let offset = 0;
  await stdin.bytes(count, (piece) => {
    out.set(piece, offset);
    offset += piece.length;
  });
  return out;
}

if (import.meta.main) {
  let status: number;
  try {
    const snapshotArg = Deno.args.find((arg) => arg.startsWith("--snapshot="));
    status = Deno.args.includes("--make-snapshot")
      ? await makeSnapshot()
      : await runOneJob(snapshotArg === undefined ? null : snapshotArg.slice("--snapshot=".length));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    writeAllSync(
      Deno.stderr,
      new TextEncoder().encode(`cloud-sandbox: ${message.split("\n")[0]}\n`),
    );
    status = workerFailureStatus;
  }
  Deno.exit(status);
}
