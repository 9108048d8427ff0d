import assert from "node:assert/strict";
import { classifyOutcome, lastLine, type Observation } from "./outcome.ts";

const limits = { wallMs: 2000, cpuSeconds: 3, memoryBytes: 1024, stdoutBytesMax: 10 };
const ok: Observation = {
  exitCode: 0,
  aborted: false,
  stdoutOverflow: false,
  wallTimeout: false,
  oomKilled: false,
  sandboxError: null,
  stderrLastLine: "",
};

Deno.test("classifyOutcome() reports success for status 0", () => {
  assert.deepEqual(classifyOutcome(ok, limits), { reason: null, detail: "" });
});

Deno.test("classifyOutcome() puts what the supervisor did first", () => {
  const all = {
    ...ok,
    exitCode: 137,
    aborted: true,
    stdoutOverflow: true,
    wallTimeout: true,
    oomKilled: true,
  };
  assert.equal(classifyOutcome(all, limits).reason, "killed");
  assert.equal(classifyOutcome({ ...all, aborted: false }, limits).reason, "output-limit");
  assert.equal(
    classifyOutcome({ ...all, aborted: false, stdoutOverflow: false }, limits).reason,
    "timeout",
  );
});

Deno.test("classifyOutcome() names each limit in the detail", () => {
  assert.equal(
    classifyOutcome({ ...ok, exitCode: 137, stdoutOverflow: true }, limits).detail,
    "Output limit reached: more than 10 bytes of stdout",
  );
  assert.equal(
    classifyOutcome({ ...ok, exitCode: 137, wallTimeout: true }, limits).detail,
    "Time limit reached: 2000 ms wall clock",
  );
  assert.deepEqual(classifyOutcome({ ...ok, exitCode: 152 }, limits), {
    reason: "timeout",
    detail: "Time limit reached: 3 s of CPU",
  });
  assert.deepEqual(classifyOutcome({ ...ok, exitCode: 137, oomKilled: true }, limits), {
    reason: "memory",
    detail: "Memory limit reached: 1024 bytes",
  });
});

Deno.test("classifyOutcome() reads MemoryError from the last stderr line", () => {
  assert.equal(
    classifyOutcome({ ...ok, exitCode: 1, stderrLastLine: "MemoryError" }, limits).reason,
    "memory",
  );
  assert.equal(
    classifyOutcome(
      { ...ok, exitCode: 134, stderrLastLine: "Fatal RPython error: MemoryError" },
      limits,
    ).reason,
    "memory",
  );
  assert.equal(
    classifyOutcome({ ...ok, exitCode: 1, stderrLastLine: "NotAMemoryError: x" }, limits).reason,
    "exception",
  );
});

Deno.test("classifyOutcome() reports failures of the job as exceptions", () => {
  assert.deepEqual(
    classifyOutcome({ ...ok, exitCode: 1, stderrLastLine: "ValueError: boom" }, limits),
    {
      reason: "exception",
      detail: "ValueError: boom",
    },
  );
  assert.equal(classifyOutcome({ ...ok, exitCode: 3 }, limits).detail, "Exited with status 3");
  assert.equal(classifyOutcome({ ...ok, exitCode: 139 }, limits).detail, "Killed by signal 11");
  assert.equal(classifyOutcome({ ...ok, exitCode: null }, limits).reason, "exception");
});

Deno.test("classifyOutcome() reports sandbox failures before the job's status", () => {
  assert.deepEqual(
    classifyOutcome({ ...ok, exitCode: 1, sandboxError: "Jail failed: bwrap: x" }, limits),
    {
      reason: "sandbox-error",
      detail: "Jail failed: bwrap: x",
    },
  );
});

Deno.test("lastLine() returns the last non-empty trimmed line", () => {
  assert.equal(lastLine("a\nb  \n\n"), "b");
  assert.equal(lastLine(""), "");
  assert.equal(lastLine("x".repeat(300)).length, 200);
});

Deno.test("classifyOutcome() reads PyPy's allocator giving up as memory", () => {
  for (
    const line of [
      "out of memory: couldn't allocate the next arena",
      "out of memory: couldn't allocate a few KB more",
      "using too much memory, aborting",
    ]
  ) {
    assert.equal(
      classifyOutcome({ ...ok, exitCode: 134, stderrLastLine: line }, limits).reason,
      "memory",
      line,
    );
  }
});

Deno.test("classifyOutcome() reads a JavaScript allocation failure in Pyodide as memory", () => {
  for (
    const line of [
      "pyodide.ffi.JsException: RangeError: Array buffer allocation failed",
      "pyodide.ffi.JsException: RangeError: WebAssembly.Memory(): could not allocate memory",
    ]
  ) {
    assert.equal(
      classifyOutcome({ ...ok, exitCode: 1, stderrLastLine: line }, limits).reason,
      "memory",
    );
  }
  const other = "pyodide.ffi.JsException: RangeError: Invalid typed array length: -1";
  assert.equal(
    classifyOutcome({ ...ok, exitCode: 1, stderrLastLine: other }, limits).reason,
    "exception",
  );
});
