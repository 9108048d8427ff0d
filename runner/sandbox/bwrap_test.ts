import assert from "node:assert/strict";
import { type BwrapMode, createBwrapSandbox } from "./bwrap.ts";
import { runHostileSuite } from "./hostile_suite.ts";
import { runSandboxSuite } from "./sandbox_suite.ts";
import { assertStillRuns, pidsMentioning, runJob } from "./_suite_helpers.ts";
import { assertNoHostPaths } from "./hostile_kernel.ts";
import { bwrapNetCopyBytesMax } from "../../limits.ts";

// bwrap is the default backend: a machine without bubblewrap or an
// interpreter fails these tests unless CLOUD_SKIP_BWRAP=1 says to skip them.
const skip = Deno.env.get("CLOUD_SKIP_BWRAP") === "1";

const modes: readonly BwrapMode[] = ["fork", "fresh"];

if (skip) {
  Deno.test({ name: "bwrap suites (skipped: CLOUD_SKIP_BWRAP=1)", ignore: true, fn: () => {} });
} else {
  for (const mode of modes) {
    runSandboxSuite(`bwrap ${mode}`, (limits) => createBwrapSandbox({ limits, mode, warm: 2 }));
    runHostileSuite(`bwrap ${mode}`, (limits) => createBwrapSandbox({ limits, mode, warm: 2 }));
  }
}

/** Registers `fn` as one test per mode, named `<name> (<mode>)`. */
function eachMode(name: string, fn: (mode: BwrapMode) => Promise<void>): void {
  for (const mode of modes) {
    Deno.test({ name: `${name} (${mode})`, ignore: skip, fn: () => fn(mode) });
  }
}

eachMode("createBwrapSandbox() enforces the CPU limit with RLIMIT_CPU", async (mode) => {
  const sandbox = await createBwrapSandbox({
    limits: { cpuSeconds: 1, wallMs: 20_000 },
    mode,
    warm: 0,
  });
  try {
    const ran = await runJob(sandbox, "while True:\n    pass");
    assert.equal(ran.result.reason, "timeout");
    assert.match(ran.result.detail, /1 s of CPU/);
    assert.equal(ran.result.exitCode, 128 + 24);
    assert.ok(ran.result.wallMs < 10_000, `took ${ran.result.wallMs} ms`);
    await assertStillRuns(sandbox);
  } finally {
    await sandbox.close();
  }
});

eachMode("createBwrapSandbox() runs jobs with python3", async (mode) => {
  const sandbox = await createBwrapSandbox({ python: "/usr/bin/python3", mode, warm: 0 });
  try {
    assert.equal(sandbox.probe.pythonPath, "/usr/bin/python3");
    assert.equal(sandbox.mode, mode);
    const ran = await runJob(sandbox, "import sys\nprint(sys.implementation.name)");
    assert.equal(ran.stdout, "cpython\n");
  } finally {
    await sandbox.close();
  }
});

eachMode(
  "createBwrapSandbox() copies inputs from another file system, and binds those too large to copy",
  async (mode) => {
    // The jails' /net directories are in /dev/shm; the test's files are not.
    const dir = await Deno.makeTempDir({ prefix: "cloud-sandbox-test-" });
    const sandbox = await createBwrapSandbox({ mode, warm: 1 });
    try {
      assert.match(sandbox.probe.netDirectory, /^\/dev\/shm\/cloud-net-/);
      await Deno.writeTextFile(`${dir}/input`, "from another file system");
      const ran = await runJob(sandbox, "print(open('/net/sub/in').read())", {
        inputs: [{ name: "sub/in", path: `${dir}/input` }],
      });
      assert.equal(ran.stdout, "from another file system\n");
      assert.deepEqual(sandbox.stats, { warm: 1, cold: 0 });
      // Sparse: never read, only too large to copy.
      await Deno.writeFile(`${dir}/big`, new Uint8Array());
      await Deno.truncate(`${dir}/big`, bwrapNetCopyBytesMax + 1);
      const big = await runJob(sandbox, "import os\nprint(os.stat('/net/big').st_size)", {
        inputs: [{ name: "big", path: `${dir}/big` }, { name: "small", path: `${dir}/input` }],
      });
      assert.equal(big.stdout, `${bwrapNetCopyBytesMax + 1}\n`);
      assert.deepEqual(sandbox.stats, { warm: 1, cold: 1 });
      // The jail that could not take the inputs is still good for the next job.
      await assertStillRuns(sandbox);
    } finally {
      await sandbox.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test({
  name: "createBwrapSandbox() rejects a missing interpreter",
  ignore: skip,
  fn: async () => {
    await assert.rejects(
      createBwrapSandbox({ python: "/nonexistent/python3" }),
      /interpreter not found/,
    );
  },
});

eachMode("createBwrapSandbox() stages inputs into a warm jail's /net", async (mode) => {
  const dir = await Deno.makeTempDir({ prefix: "cloud-sandbox-test-" });
  const sandbox = await createBwrapSandbox({ mode, warm: 1, workDir: dir });
  try {
    await Deno.writeTextFile(`${dir}/input`, "linked");
    await Deno.writeTextFile(`${dir}/other`, "other");
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 300)); // the pool refills
      const ran = await runJob(
        sandbox,
        "import os\nprint(open('/net/a/b').read(), os.listdir('/net'))",
        { inputs: [{ name: "a/b", path: `${dir}/input` }] },
      );
      assert.equal(ran.stdout, "linked ['a']\n");
      // The previous job's inputs are gone from a reused jail's /net.
      const other = await runJob(sandbox, "import os\nprint(os.listdir('/net'))", {
        inputs: [{ name: "c", path: `${dir}/other` }],
      });
      assert.equal(other.stdout, "['c']\n");
    }
    assert.deepEqual(sandbox.stats, { warm: 6, cold: 0 });
  } finally {
    await sandbox.close();
  }
  await assert.rejects(Deno.stat(sandbox.probe.netDirectory), Deno.errors.NotFound);
  // close() removed its own directory inside workDir, and nothing else.
  const left = [];
  for await (const entry of Deno.readDir(dir)) left.push(entry.name);
  assert.deepEqual(left.sort(), ["input", "other"]);
  await Deno.remove(dir, { recursive: true });
});

eachMode("createBwrapSandbox() applies the rlimits inside the jail", async (mode) => {
  const limits = { cpuSeconds: 7, memoryBytes: 300 * 1024 * 1024, processes: 9 };
  const sandbox = await createBwrapSandbox({ limits, mode, warm: 0 });
  try {
    const ran = await runJob(sandbox, "print(open('/proc/self/limits').read())");
    const limit = (name: string) =>
      new RegExp(`^${name}\\s+(\\S+)\\s+(\\S+)`, "m").exec(ran.stdout)?.slice(1);
    assert.deepEqual(limit("Max cpu time"), ["7", "8"]);
    // The job's limit on top of what the idle interpreter maps (see jail_python.ts).
    const addressSpace = String(limits.memoryBytes + sandbox.probe.interpreter.addressSpaceBytes);
    assert.deepEqual(limit("Max address space"), [addressSpace, addressSpace]);
    assert.deepEqual(limit("Max processes"), ["9", "9"]);
    assert.deepEqual(limit("Max file size"), ["0", "0"]);
    assert.deepEqual(limit("Max core file size"), ["0", "0"]);
  } finally {
    await sandbox.close();
  }
});

eachMode(
  "createBwrapSandbox() bounds the memory of all a job's processes together",
  async (mode) => {
    const sandbox = await createBwrapSandbox({
      limits: { memoryBytes: 256 * 1024 * 1024 },
      mode,
      warm: 0,
    });
    try {
      // No writable memory cgroup here: nothing to test.
      if (!sandbox.probe.memoryCgroup) return;
      // Each process stays under RLIMIT_AS; together they pass the cgroup's bound.
      const ran = await runJob(
        sandbox,
        [
          "import os, time",
          "for i in range(3):",
          "    if os.fork() == 0:",
          "        block = b'x' * (120 * 1024 * 1024)",
          "        time.sleep(5)",
          "        os._exit(0)",
          "for i in range(3):",
          "    os.wait()",
          "print('all survived')",
        ].join("\n"),
      );
      assert.equal(
        ran.result.reason,
        "memory",
        `${ran.result.detail}\n${ran.stdout}\n${ran.stderr}`,
      );
      await assertStillRuns(sandbox);
    } finally {
      await sandbox.close();
    }
  },
);

eachMode("createBwrapSandbox() runs a job elsewhere when its idle jail died", async (mode) => {
  const dir = await Deno.makeTempDir({ prefix: "cloud-sandbox-test-" });
  const sandbox = await createBwrapSandbox({ mode, warm: 1, workDir: dir });
  try {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const warm = await pidsMentioning(`${sandbox.probe.netDirectory}/`);
    assert.ok(warm.length > 0, "no warm jail found");
    for (const pid of warm) Deno.kill(pid, "SIGKILL");
    await new Promise((resolve) => setTimeout(resolve, 100));
    const ran = await runJob(sandbox, "print('fresh')");
    assert.equal(ran.stdout, "fresh\n");
    assert.equal(ran.result.reason, null);
    // Fresh mode starts a jail for the job; fork mode replaces the dead zygote.
    const expected = mode === "fresh" ? { warm: 0, cold: 1 } : { warm: 1, cold: 0 };
    assert.deepEqual(sandbox.stats, expected);
  } finally {
    await sandbox.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "createBwrapSandbox() says in one line how to fix a refused user namespace",
  ignore: skip,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "cloud-sandbox-test-" });
    try {
      // What bubblewrap prints where AppArmor refuses it (Ubuntu 24.04).
      const bwrap = `${dir}/bwrap`;
      await Deno.writeTextFile(
        bwrap,
        "#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n",
        { mode: 0o755 },
      );
      const error = await createBwrapSandbox({ bwrapPath: bwrap, warm: 0 }).then(
        () => assert.fail("the sandbox started"),
        (error: Error) => error,
      );
      assert.ok(!error.message.includes("\n"), error.message);
      assert.match(error.message, /^Cannot start bwrap sandbox: /);
      assert.match(error.message, /bwrap said "bwrap: setting up uid map: Permission denied"/);
      assert.match(error.message, /user_?namespaces/);
      assert.match(error.message, /--sandbox pyodide/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "createBwrapSandbox() shows a jail started for its job no host path in its mount table",
  ignore: skip,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "cloud-sandbox-test-" });
    // No warm jails: every job gets a jail started for it.
    const sandbox = await createBwrapSandbox({ mode: "fresh", warm: 0, workDir: dir });
    try {
      await Deno.writeTextFile(`${dir}/input`, "an input");
      const ran = await runJob(
        sandbox,
        "print(open('/net/in').read())\nprint(open('/proc/self/mountinfo').read())",
        { inputs: [{ name: "in", path: `${dir}/input` }] },
      );
      assert.match(ran.stdout, /^an input\n.* \/net /s);
      await assertNoHostPaths(ran.stdout, [dir]);
      assert.deepEqual(sandbox.stats, { warm: 0, cold: 1 });
    } finally {
      await sandbox.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
