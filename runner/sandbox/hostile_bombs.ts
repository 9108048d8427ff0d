/**
 * The hostile suite's cases that exhaust a limit: processes, fork and memory
 * bombs, busy and sleeping loops, output and error floods.
 *
 * @module
 */

import assert from "node:assert/strict";
import { assertStillRuns, assertSuccess, runJob } from "./_suite_helpers.ts";
import type { HostileCase } from "./hostile_host.ts";

/** The cases that exhaust a limit. */
export const bombCases: HostileCase[] = [
  {
    name: "Sandbox.run() bounds the processes a job can start",
    run: async (sandbox) => {
      const ran = await runJob(
        sandbox,
        [
          "import os, time",
          "count = 0",
          "for i in range(200):",
          "    try:",
          "        pid = os.fork()",
          "    except (OSError, AttributeError):",
          "        break",
          "    if pid == 0:",
          "        time.sleep(60)",
          "        os._exit(0)",
          "    count += 1",
          "print('forked', count)",
        ].join("\n"),
      );
      assertSuccess(ran);
      const forked = Number(/forked (\d+)/.exec(ran.stdout)?.[1]);
      assert.ok(forked < sandbox.limits.processes, `forked ${forked} processes`);
      // The sleeping children died with the job: it did not wait for them.
      assert.ok(ran.result.wallMs < sandbox.limits.wallMs, `took ${ran.result.wallMs} ms`);
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() contains a fork bomb",
    run: async (sandbox) => {
      const ran = await runJob(
        sandbox,
        [
          "import os, subprocess, sys",
          "while True:",
          "    try:",
          "        os.fork()",
          "    except OSError:",
          "        pass",
          "    try:",
          "        subprocess.Popen([sys.executable, '-c', 'while True: pass'])",
          "    except OSError:",
          "        pass",
        ].join("\n"),
      );
      assert.ok(
        ran.result.reason === "timeout" || ran.result.reason === "exception",
        `${ran.result.reason}: ${ran.result.detail}`,
      );
      const host = await new Deno.Command("/bin/true").output();
      assert.ok(host.success, "the host cannot start a process");
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() stops a memory bomb with reason memory",
    run: async (sandbox) => {
      const ran = await runJob(
        sandbox,
        "blocks = []\nwhile True:\n    blocks.append(bytearray(32 * 1024 * 1024))",
      );
      assert.equal(ran.result.reason, "memory", `${ran.result.detail}\n${ran.stderr}`);
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() stops JavaScript buffers past the memory limit with reason memory",
    run: async (sandbox) => {
      // Pyodide's bridge allocates outside WebAssembly memory; elsewhere there is no bridge.
      const ran = await runJob(
        sandbox,
        [
          "try:",
          "    import js",
          "except ImportError:",
          "    print('no js bridge')",
          "    raise SystemExit(0)",
          "buffers = []",
          "for i in range(50):",
          "    buffer = js.Uint8Array.new(100_000_000)",
          "    buffer.fill(i + 1)",
          "    buffers.append(buffer)",
          "print('ALLOCATED', len(buffers))",
        ].join("\n"),
      );
      if (ran.stdout === "no js bridge\n") assertSuccess(ran);
      else assert.equal(ran.result.reason, "memory", `${ran.result.detail}\n${ran.stderr}`);
      assert.ok(!ran.stdout.includes("ALLOCATED"), ran.stdout);
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() stops a busy loop with reason timeout",
    run: async (sandbox) => {
      const ran = await runJob(sandbox, "while True:\n    pass");
      assert.equal(ran.result.reason, "timeout", ran.result.detail);
      assert.ok(ran.result.wallMs < sandbox.limits.wallMs + 2_000, `took ${ran.result.wallMs} ms`);
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() stops a sleeping job at the wall-clock limit",
    run: async (sandbox) => {
      const ran = await runJob(sandbox, "import time\ntime.sleep(600)");
      assert.equal(ran.result.reason, "timeout");
      assert.match(ran.result.detail, /wall clock/);
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() stops an output flood at the stdout limit",
    run: async (sandbox) => {
      const ran = await runJob(
        sandbox,
        "import sys\nchunk = 'x' * 65536\nwhile True:\n    sys.stdout.write(chunk)",
      );
      assert.equal(ran.result.reason, "output-limit", ran.result.detail);
      assert.equal(ran.result.stdoutBytes, sandbox.limits.stdoutBytesMax);
      assert.equal(ran.stdoutBytes.length, sandbox.limits.stdoutBytesMax);
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() caps a stderr flood",
    run: async (sandbox) => {
      const ran = await runJob(
        sandbox,
        "import sys\nwhile True:\n    sys.stderr.write('e' * 65536)",
      );
      assert.equal(ran.result.reason, "timeout");
      assert.ok(ran.result.stderr.length <= sandbox.limits.stderrBytesMax);
      await assertStillRuns(sandbox);
    },
  },
];
