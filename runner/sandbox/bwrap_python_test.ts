/**
 * The interpreter a bubblewrap job sees: which one, its memory (whatever the
 * CPU), its `sys.path`, extra package directories.
 */

import assert from "node:assert/strict";
import { type BwrapMode, createBwrapSandbox } from "./bwrap.ts";
import { assertSuccess, runJob } from "./_suite_helpers.ts";

const skip = Deno.env.get("CLOUD_SKIP_BWRAP") === "1";
const modes: readonly BwrapMode[] = ["fork", "fresh"];
const mib = 1024 * 1024;

function eachMode(name: string, fn: (mode: BwrapMode) => Promise<void>): void {
  for (const mode of modes) {
    Deno.test({ name: `${name} (${mode})`, ignore: skip, fn: () => fn(mode) });
  }
}

/**
 * This host's /proc/cpuinfo as a CPU with a 480 MiB L3 would show it (as on
 * AMD EPYC 9684X): x86 PyPy sizes its nursery as half the smallest
 * `cache size` there, so 240 MiB, which it reserves at start.
 */
async function bigCacheCpuinfo(dir: string): Promise<string> {
  const real = await Deno.readTextFile("/proc/cpuinfo");
  const path = `${dir}/cpuinfo`;
  const fake = /^cache size/m.test(real)
    ? real.replace(/^cache size\s*:.*$/gm, "cache size\t: 491520 KB")
    : `${real}cache size\t: 491520 KB\n`;
  await Deno.writeTextFile(path, fake);
  return path;
}

eachMode(
  "createBwrapSandbox() sizes PyPy's heap from the memory limit, not the CPU's cache",
  async (mode) => {
    const dir = await Deno.makeTempDir({ prefix: "cloud-sandbox-test-" });
    try {
      const procCpuinfo = await bigCacheCpuinfo(dir);
      const limits = { memoryBytes: 256 * mib };
      const big = await createBwrapSandbox({ python: "pypy3", mode, warm: 1, limits, procCpuinfo });
      let bigFootprint: number;
      try {
        const ran = await runJob(
          big,
          "import re\nprint(re.search(r'cache size.*', open('/proc/cpuinfo').read()).group(0))\n" +
            "data = [i for i in range(2_000_000)]\nprint(6 * 7)",
        );
        assertSuccess(ran);
        assert.equal(ran.stdout, "cache size\t: 491520 KB\n42\n");
        bigFootprint = big.probe.interpreter.addressSpaceBytes;
      } finally {
        await big.close();
      }
      // What the interpreter maps before a job does not depend on the cache
      // (it would be 240 MiB more with PyPy's own nursery sizing).
      const real = await createBwrapSandbox({ python: "pypy3", mode, warm: 1, limits });
      try {
        const difference = Math.abs(bigFootprint - real.probe.interpreter.addressSpaceBytes);
        assert.ok(difference < 16 * mib, `footprints differ by ${difference} bytes`);
      } finally {
        await real.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

for (const python of ["pypy3", "/usr/bin/python3"]) {
  eachMode(`createBwrapSandbox() runs ${python} jobs under a 64 MB memory limit`, async (mode) => {
    const sandbox = await createBwrapSandbox({
      python,
      mode,
      warm: 1,
      limits: { memoryBytes: 64 * mib },
    });
    try {
      const small = await runJob(sandbox, "print(6 * 7)");
      assertSuccess(small);
      assert.equal(small.stdout, "42\n");
      // 16 MiB of the job's own (8 MiB of list on PyPy and CPython alike).
      const fits = await runJob(sandbox, "x = [0] * (1 << 20)\ny = bytes(8 << 20)\nprint(len(x))");
      assertSuccess(fits);
      // The limit still holds.
      const over = await runJob(sandbox, "x = bytearray(128 << 20)\nprint(len(x))");
      assert.equal(over.result.reason, "memory", `${over.result.detail}\n${over.stderr}`);
    } finally {
      await sandbox.close();
    }
  });
}

Deno.test({
  name: "createBwrapSandbox() gives PyPy jobs only PyPy's own library path",
  ignore: skip,
  fn: async () => {
    const sandbox = await createBwrapSandbox({ python: "pypy3", warm: 1 });
    try {
      assert.equal(sandbox.probe.interpreter.implementation, "pypy");
      const ran = await runJob(sandbox, "import sys\nprint('\\n'.join(sys.path))");
      assertSuccess(ran);
      const paths = ran.stdout.trim().split("\n");
      assert.ok(paths.length > 0);
      for (const path of paths) assert.match(path, /\/pypy[^/]*(\/|$)/, path);
      // Debian's CPython packages are not offered to PyPy, which cannot load their C parts.
      const numpy = await runJob(sandbox, "import numpy");
      assert.match(numpy.stderr, /ModuleNotFoundError: No module named 'numpy'/);
    } finally {
      await sandbox.close();
    }
  },
});

Deno.test({
  name: "createBwrapSandbox() lets python3 jobs import what that interpreter has installed",
  ignore: skip,
  fn: async () => {
    // Debian's python3-numpy (installed by .ci/run) lives in /usr/lib/python3/dist-packages.
    const sandbox = await createBwrapSandbox({ python: "/usr/bin/python3", warm: 1 });
    try {
      const ran = await runJob(
        sandbox,
        "import numpy\nprint(numpy.__file__)\nprint(int(numpy.arange(10).sum()))",
      );
      assertSuccess(ran);
      assert.match(ran.stdout, /^\/usr\/lib\/python3\/dist-packages\/numpy\/__init__\.py\n45\n$/);
    } finally {
      await sandbox.close();
    }
  },
});

eachMode("createBwrapSandbox() adds package directories, read-only", async (mode) => {
  const dir = await Deno.makeTempDir({ prefix: "cloud-packages-test-" });
  try {
    const site = `${dir}/venv/lib/site-packages`;
    await Deno.mkdir(`${site}/cloudpkg`, { recursive: true });
    await Deno.writeTextFile(`${site}/cloudpkg/__init__.py`, "VALUE = 7\n");
    // A .pth file's directory (inside the bound one) is on the path too, as
    // site.addsitedir would have it.
    await Deno.mkdir(`${site}/vendored`);
    await Deno.writeTextFile(`${site}/vendored/cloudextra.py`, "VALUE = 6\n");
    await Deno.writeTextFile(`${site}/extra.pth`, "vendored\n");
    const sandbox = await createBwrapSandbox({ mode, warm: 1, packages: [site] });
    try {
      const ran = await runJob(
        sandbox,
        [
          "import cloudpkg, cloudextra, sys",
          "print(cloudpkg.VALUE * cloudextra.VALUE)",
          "try:",
          `    open(${JSON.stringify(`${site}/cloudpkg/new.py`)}, 'w')`,
          "except OSError as error:",
          "    print(error.strerror)",
        ].join("\n"),
      );
      assertSuccess(ran);
      assert.equal(ran.stdout, "42\nRead-only file system\n");
      assert.ok(sandbox.probe.sysPath.includes(site));
      assert.ok(sandbox.probe.sysPath.includes(`${site}/vendored`));
    } finally {
      await sandbox.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "createBwrapSandbox() rejects a package directory that does not exist",
  ignore: skip,
  fn: async () => {
    await assert.rejects(
      createBwrapSandbox({ packages: ["/nonexistent/site-packages"] }),
      /Cannot use package directory \/nonexistent\/site-packages/,
    );
  },
});

Deno.test({
  name: "createBwrapSandbox() takes the interpreter by name, and a script for what it runs",
  ignore: skip,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "cloud-sandbox-test-" });
    try {
      const byName = await createBwrapSandbox({ python: "pypy3", warm: 0, mode: "fresh" });
      await byName.close();
      assert.match(byName.probe.pythonPath, /^\/.*\/pypy3$/);
      // A wrapper script (as a pyenv shim is) cannot run in the jail: it names what it runs.
      const wrapper = `${dir}/python-wrapper`;
      await Deno.writeTextFile(wrapper, '#!/bin/sh\nexec /usr/bin/python3 "$@"\n', { mode: 0o755 });
      const script = await createBwrapSandbox({ python: wrapper, warm: 0, mode: "fresh" });
      try {
        assert.match(script.probe.pythonPath, /^\/usr\/bin\/python3(\.\d+)?$/);
        const ran = await runJob(script, "import sys\nprint(sys.implementation.name)");
        assert.equal(ran.stdout, "cpython\n");
      } finally {
        await script.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
