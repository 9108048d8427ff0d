import assert from "node:assert/strict";
import { createBwrapSandbox } from "./bwrap.ts";
import { runHostileSuite } from "./hostile_suite.ts";
import { runSandboxSuite } from "./sandbox_suite.ts";
import { assertStillRuns, runJob } from "./_suite_helpers.ts";

// bwrap is the default backend: a machine without bubblewrap or an
// interpreter fails these tests unless CLOUD_SKIP_BWRAP=1 says to skip them.
const skip = Deno.env.get("CLOUD_SKIP_BWRAP") === "1";

if (skip) {
  Deno.test({ name: "bwrap suites (skipped: CLOUD_SKIP_BWRAP=1)", ignore: true, fn: () => {} });
} else {
  for (const mode of ["fork", "fresh"] as const) {
    runSandboxSuite(`bwrap ${mode}`, (limits) => createBwrapSandbox({ limits, mode, warm: 2 }));
    runHostileSuite(`bwrap ${mode}`, (limits) => createBwrapSandbox({ limits, mode, warm: 2 }));
  }
}

Deno.test({
  name: "createBwrapSandbox() enforces the CPU limit with RLIMIT_CPU",
  ignore: skip,
  fn: async () => {
    const sandbox = await createBwrapSandbox({
      limits: { cpuSeconds: 1, wallMs: 20_000 },
      warm: 0,
    });
    try {
      const ran = await runJob(sandbox, "while True:\n    pass");
      assert.equal(ran.result.reason, "timeout");
      assert.match(ran.result.detail, /1 s of CPU/);
      assert.ok(ran.result.wallMs < 10_000, `took ${ran.result.wallMs} ms`);
      await assertStillRuns(sandbox);
    } finally {
      await sandbox.close();
    }
  },
});

Deno.test({
  name: "createBwrapSandbox() runs jobs with python3 and without a warm pool",
  ignore: skip,
  fn: async () => {
    const sandbox = await createBwrapSandbox({ python: "/usr/bin/python3", warm: 0 });
    try {
      assert.equal(sandbox.probe.pythonPath, "/usr/bin/python3");
      const ran = await runJob(sandbox, "import sys\nprint(sys.implementation.name)");
      assert.equal(ran.stdout, "cpython\n");
    } finally {
      await sandbox.close();
    }
  },
});

Deno.test({
  name: "createBwrapSandbox() binds inputs directly when they cannot be hard-linked",
  ignore: skip,
  fn: async () => {
    // /dev/shm is another file system than the default work directory.
    const dir = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "cloud-sandbox-test-" });
    const sandbox = await createBwrapSandbox({ warm: 1 });
    try {
      await Deno.writeTextFile(`${dir}/input`, "from another file system");
      const ran = await runJob(sandbox, "print(open('/net/sub/in').read())", {
        inputs: [{ name: "sub/in", path: `${dir}/input` }],
      });
      assert.equal(ran.stdout, "from another file system\n");
      assert.deepEqual(sandbox.stats, { warm: 0, cold: 1 });
    } finally {
      await sandbox.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

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

Deno.test({
  name: "createBwrapSandbox() links inputs into a warm jail's /net",
  ignore: skip,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "cloud-sandbox-test-" });
    const sandbox = await createBwrapSandbox({ warm: 1, workDir: dir });
    try {
      await Deno.writeTextFile(`${dir}/input`, "linked");
      for (let i = 0; i < 3; i++) {
        await new Promise((resolve) => setTimeout(resolve, 300)); // the pool refills
        const ran = await runJob(
          sandbox,
          "import os\nprint(open('/net/a/b').read(), os.listdir('/net'))",
          {
            inputs: [{ name: "a/b", path: `${dir}/input` }],
          },
        );
        assert.equal(ran.stdout, "linked ['a']\n");
      }
      assert.deepEqual(sandbox.stats, { warm: 3, cold: 0 });
    } finally {
      await sandbox.close();
    }
    // close() removed its own directory inside workDir, and nothing else.
    const left = [];
    for await (const entry of Deno.readDir(dir)) left.push(entry.name);
    assert.deepEqual(left, ["input"]);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "createBwrapSandbox() applies the rlimits inside the jail",
  ignore: skip,
  fn: async () => {
    const limits = { cpuSeconds: 7, memoryBytes: 300 * 1024 * 1024, processes: 9 };
    const sandbox = await createBwrapSandbox({ limits, warm: 0 });
    try {
      const ran = await runJob(sandbox, "print(open('/proc/self/limits').read())");
      const limit = (name: string) =>
        new RegExp(`^${name}\\s+(\\S+)\\s+(\\S+)`, "m").exec(ran.stdout)?.slice(1);
      assert.deepEqual(limit("Max cpu time"), ["7", "8"]);
      assert.deepEqual(limit("Max address space"), [
        String(limits.memoryBytes),
        String(limits.memoryBytes),
      ]);
      assert.deepEqual(limit("Max processes"), ["9", "9"]);
      assert.deepEqual(limit("Max file size"), ["0", "0"]);
      assert.deepEqual(limit("Max core file size"), ["0", "0"]);
    } finally {
      await sandbox.close();
    }
  },
});

Deno.test({
  name: "createBwrapSandbox() bounds the memory of all a job's processes together",
  ignore: skip,
  fn: async (t) => {
    const sandbox = await createBwrapSandbox({
      limits: { memoryBytes: 256 * 1024 * 1024 },
      warm: 0,
    });
    try {
      if (!sandbox.probe.memoryCgroup) {
        t.step({ name: "no writable memory cgroup here", ignore: true, fn: () => {} });
        return;
      }
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
});

/** Pids of processes whose command line mentions `text`. */
async function pidsMentioning(text: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`).catch(() => "");
    if (cmdline.includes(text)) pids.push(Number(entry.name));
  }
  return pids;
}

Deno.test({
  name: "createBwrapSandbox() runs a job in a fresh jail when its warm jail died",
  ignore: skip,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "cloud-sandbox-test-" });
    const sandbox = await createBwrapSandbox({ warm: 1, workDir: dir });
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const warm = await pidsMentioning(`${dir}/`);
      assert.ok(warm.length > 0, "no warm jail found");
      for (const pid of warm) Deno.kill(pid, "SIGKILL");
      await new Promise((resolve) => setTimeout(resolve, 100));
      const ran = await runJob(sandbox, "print('fresh')");
      assert.equal(ran.stdout, "fresh\n");
      assert.equal(ran.result.reason, null);
      assert.deepEqual(sandbox.stats, { warm: 0, cold: 1 });
    } finally {
      await sandbox.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
