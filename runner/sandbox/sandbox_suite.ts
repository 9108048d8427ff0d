/**
 * The behaviour every sandbox backend shares, as one suite each backend's
 * test file runs: `runSandboxSuite("bwrap", (limits) => createBwrapSandbox({ limits }))`.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  assertStillRuns,
  assertSuccess,
  type NewSandbox,
  pseudoRandomBytes,
  type Ran,
  registerSuite,
  runJob,
  sha256Hex,
  withTempDir,
} from "./_suite_helpers.ts";
import type { Sandbox } from "./sandbox.ts";

/** Limits of the suite's sandbox: generous time, small output bounds. */
const suiteLimits = {
  wallMs: 20_000,
  cpuSeconds: 20,
  memoryBytes: 512 * 1024 * 1024,
  processes: 32,
  stdoutBytesMax: 8 * 1024 * 1024,
  stderrBytesMax: 4 * 1024,
};

type Case = { name: string; run: (sandbox: Sandbox) => Promise<void> };

const cases: Case[] = [
  {
    name: "Sandbox.run() prints hello world",
    run: async (sandbox) => {
      const ran = await runJob(sandbox, "print('hello world')");
      assertSuccess(ran);
      assert.equal(ran.stdout, "hello world\n");
      assert.equal(ran.stderr, "");
      assert.equal(ran.result.stdoutBytes, 12);
      assert.equal(ran.result.detail, "");
      assert.ok(ran.result.wallMs >= 0);
    },
  },
  {
    name: "Sandbox.run() shows text, binary and 2 MB inputs under /net",
    run: (sandbox) =>
      withTempDir(async (dir) => {
        const text = "line one\nline two\n";
        const binary = new Uint8Array(512).map((_, i) => i % 256);
        const large = pseudoRandomBytes(2 * 1024 * 1024, 7);
        await Deno.writeTextFile(`${dir}/text`, text);
        await Deno.writeFile(`${dir}/binary`, binary);
        await Deno.writeFile(`${dir}/large`, large);
        const ran = await runJob(
          sandbox,
          [
            "import hashlib",
            "print(open('/net/notes.txt').read(), end='')",
            "for name in ('/net/data.bin', '/net/big/blob'):",
            "    with open(name, 'rb') as f:",
            "        print(hashlib.sha256(f.read()).hexdigest())",
          ].join("\n"),
          {
            inputs: [
              { name: "notes.txt", path: `${dir}/text` },
              { name: "data.bin", path: `${dir}/binary` },
              { name: "big/blob", path: `${dir}/large` },
            ],
          },
        );
        assertSuccess(ran);
        assert.equal(ran.stdout, `${text}${await sha256Hex(binary)}\n${await sha256Hex(large)}\n`);
      }),
  },
  {
    name: "Sandbox.run() shows the last input of a name and hides unsafe names",
    run: (sandbox) =>
      withTempDir(async (dir) => {
        await Deno.writeTextFile(`${dir}/old`, "old");
        await Deno.writeTextFile(`${dir}/new`, "new");
        const unsafe = ["", ".", "..", "../escape", "/abs", "a//b", "a/./b", "x/..", "nul\0name"];
        const ran = await runJob(
          sandbox,
          "import os\nprint(open('/net/dup').read())\nprint(sorted(os.listdir('/net')))",
          {
            inputs: [
              { name: "dup", path: `${dir}/old` },
              ...unsafe.map((name) => ({ name, path: `${dir}/old` })),
              { name: "dup", path: `${dir}/new` },
            ],
          },
        );
        assertSuccess(ran);
        assert.equal(ran.stdout, "new\n['dup']\n");
      }),
  },
  {
    name: "Sandbox.run() raises a catchable OSError on every open for writing",
    run: (sandbox) =>
      withTempDir(async (dir) => {
        await Deno.writeTextFile(`${dir}/in`, "data");
        const ran = await runJob(
          sandbox,
          [
            "import os",
            "for path in ('/net/in', '/net/new', '/tmp/x', 'relative', '/x'):",
            "    for mode in ('w', 'a', 'r+', 'x', 'wb'):",
            "        try:",
            "            open(path, mode)",
            "            print('WROTE', path, mode)",
            "        except OSError as error:",
            "            pass",
            "print('caught all')",
          ].join("\n"),
          { inputs: [{ name: "in", path: `${dir}/in` }] },
        );
        assertSuccess(ran);
        assert.equal(ran.stdout, "caught all\n");
        assert.equal(await Deno.readTextFile(`${dir}/in`), "data");
      }),
  },
  {
    name: "Sandbox.run() reports an uncaught exception and keeps earlier stdout",
    run: async (sandbox) => {
      const ran = await runJob(sandbox, "print('before')\nraise ValueError('boom')");
      assert.equal(ran.result.reason, "exception");
      assert.notEqual(ran.result.exitCode, 0);
      assert.equal(ran.result.detail, "ValueError: boom");
      assert.equal(ran.stdout, "before\n");
      assert.match(ran.stderr, /Traceback \(most recent call last\):/);
      assert.match(ran.stderr, /File "<job>", line 2/);
      assert.match(ran.stderr, /ValueError: boom/);
    },
  },
  {
    name: "Sandbox.run() reports a syntax error as an exception",
    run: async (sandbox) => {
      const ran = await runJob(sandbox, "def broken(:\n  pass");
      assert.equal(ran.result.reason, "exception");
      assert.match(ran.stderr, /SyntaxError/);
    },
  },
  {
    name: "Sandbox.run() keeps stdout and stderr apart",
    run: async (sandbox) => {
      const ran = await runJob(
        sandbox,
        [
          "import sys",
          "for i in range(200):",
          "    print('OUT-LINE', i)",
          "    print('ERR-LINE', i, file=sys.stderr)",
          "    sys.stdout.flush(); sys.stderr.flush()",
        ].join("\n"),
      );
      assertSuccess(ran);
      assert.ok(!ran.stdout.includes("ERR-LINE"));
      assert.ok(!ran.stderr.includes("OUT-LINE"));
      assert.equal(ran.stdout.split("\n").length, 201);
    },
  },
  {
    name: "Sandbox.run() passes unicode through as UTF-8",
    run: async (sandbox) => {
      const ran = await runJob(
        sandbox,
        "import sys\nprint('héllo wörld 世界 🎉')\nprint('ошибка ✗', file=sys.stderr)",
      );
      assertSuccess(ran);
      assert.equal(ran.stdout, "héllo wörld 世界 🎉\n");
      assert.equal(ran.stderr, "ошибка ✗\n");
    },
  },
  {
    name: "Sandbox.run() writes an empty output file for a silent job",
    run: async (sandbox) => {
      const ran = await runJob(sandbox, "x = 1 + 1");
      assertSuccess(ran);
      assert.equal(ran.result.stdoutBytes, 0);
      assert.equal(ran.stdoutBytes.length, 0);
    },
  },
  {
    name: "Sandbox.run() fails with FileNotFoundError for a missing /net name",
    run: async (sandbox) => {
      const ran = await runJob(sandbox, "open('/net/missing').read()");
      assert.equal(ran.result.reason, "exception");
      assert.match(ran.stderr, /FileNotFoundError/);
      assert.match(ran.result.detail, /FileNotFoundError/);
    },
  },
  {
    name: "Sandbox.run() returns the sys.exit status",
    run: async (sandbox) => {
      const zero = await runJob(sandbox, "import sys\nprint('done')\nsys.exit(0)");
      assertSuccess(zero);
      assert.equal(zero.stdout, "done\n");
      const three = await runJob(sandbox, "import sys\nsys.exit(3)");
      assert.equal(three.result.exitCode, 3);
      assert.equal(three.result.reason, "exception");
    },
  },
  {
    name: "Sandbox.run() keeps the head and tail of a long stderr",
    run: async (sandbox) => {
      const ran = await runJob(
        sandbox,
        "import sys\nsys.stderr.write('HEAD' + 'x' * 100000 + 'TAIL')",
      );
      assertSuccess(ran);
      assert.ok(ran.result.stderr.length <= sandbox.limits.stderrBytesMax);
      assert.ok(ran.stderr.startsWith("HEAD"));
      assert.ok(ran.stderr.endsWith("TAIL"));
      assert.match(ran.stderr, /\[cloud: \d+ bytes of stderr omitted\]/);
    },
  },
  {
    name: "Sandbox.run() reports a stdout file it cannot create as a sandbox error",
    run: async (sandbox) => {
      // More than a pipe holds, so that every backend streams it to the file.
      const result = await sandbox.run({
        source: "import sys\nsys.stdout.write('lost' * 100_000)",
        inputs: [],
        stdoutPath: "/nonexistent-cloud-dir/stdout",
      });
      assert.equal(result.reason, "sandbox-error");
      assert.match(result.detail, /Cannot write stdout/);
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() gives every job a fresh interpreter",
    run: async (sandbox) => {
      const first = await runJob(
        sandbox,
        "import builtins\nbuiltins.cloud_leak = 42\nprint('set')",
      );
      assertSuccess(first);
      const second = await runJob(
        sandbox,
        "import builtins\nprint(hasattr(builtins, 'cloud_leak'))",
      );
      assertSuccess(second);
      assert.equal(second.stdout, "False\n");
    },
  },
  {
    name: "Sandbox.run() kills a job whose signal aborts",
    run: async (sandbox) => {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), 300);
      const ran = await runJob(
        sandbox,
        "import time\nprint('started', flush=True)\ntime.sleep(60)",
        {
          signal: controller.signal,
        },
      );
      clearTimeout(timer);
      assert.equal(ran.result.reason, "killed");
      await assertStillRuns(sandbox);
    },
  },
];

/**
 * Registers the shared behaviour tests for one backend as one `Deno.test`
 * (`<name> sandbox suite`) whose cases run concurrently on one sandbox.
 */
export function runSandboxSuite(name: string, newSandbox: NewSandbox): void {
  registerSuite(`${name} sandbox suite`, () => newSandbox(suiteLimits), cases, { concurrency: 6 });
  Deno.test(`${name} Sandbox.close() kills running jobs and refuses new ones`, async () => {
    const sandbox = await newSandbox(suiteLimits);
    let running: Promise<Ran> | undefined;
    try {
      running = runJob(sandbox, "import time\nprint('started', flush=True)\ntime.sleep(60)");
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      await sandbox.close();
    }
    const ran = await running;
    assert.equal(ran.result.reason, "killed");
    const after = await runJob(sandbox, "print(1)");
    assert.equal(after.result.reason, "sandbox-error");
    assert.match(after.result.detail, /closed/);
  });
}
