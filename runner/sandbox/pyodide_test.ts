import assert from "node:assert/strict";
import { createPyodideSandbox } from "./pyodide.ts";
import { runHostileSuite } from "./hostile_suite.ts";
import { runSandboxSuite } from "./sandbox_suite.ts";
import { runJob } from "./_suite_helpers.ts";

runSandboxSuite("pyodide", (limits) => createPyodideSandbox({ limits, warm: 3 }));
// CPU time is wall time in Pyodide: give its bombs the suite's whole wall limit.
runHostileSuite("pyodide", (limits) =>
  createPyodideSandbox({
    limits: { ...limits, cpuSeconds: Math.ceil((limits.wallMs ?? 0) / 1000) },
    warm: 3,
  }));

Deno.test("createPyodideSandbox() refuses inputs larger than the memory limit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cloud-sandbox-test-" });
  const sandbox = await createPyodideSandbox({
    limits: { memoryBytes: 256 * 1024 * 1024 },
    warm: 1,
  });
  try {
    const path = `${dir}/sparse`;
    await Deno.writeFile(path, new Uint8Array());
    await Deno.truncate(path, 300 * 1024 * 1024);
    const ran = await runJob(sandbox, "print(len(open('/net/big', 'rb').read()))", {
      inputs: [{ name: "big", path }],
    });
    assert.equal(ran.result.reason, "memory");
    assert.match(ran.result.detail, /inputs are 314572800 bytes/);
  } finally {
    await sandbox.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createPyodideSandbox() reports a JavaScript heap bomb as memory", async () => {
  const sandbox = await createPyodideSandbox({
    limits: { wallMs: 10_000, cpuSeconds: 10 },
    warm: 1,
  });
  try {
    const ran = await runJob(
      sandbox,
      "import js\njs.eval('globalThis.a = []; while (true) globalThis.a.push(new Array(1e6).fill(1.5))')",
    );
    assert.equal(ran.result.reason, "memory", ran.result.detail);
  } finally {
    await sandbox.close();
  }
});

Deno.test("createPyodideSandbox() bounds a worker's whole memory, JavaScript buffers included", async () => {
  const memoryBytes = 256 * 1024 * 1024;
  const sandbox = await createPyodideSandbox({
    limits: { memoryBytes, wallMs: 30_000, cpuSeconds: 30 },
    warm: 1,
  });
  let peakBytes = 0;
  const sampler = setInterval(() => peakBytes = Math.max(peakBytes, workersPeakBytes()), 50);
  try {
    const many = await runJob(
      sandbox,
      "import js\nbufs = []\nfor i in range(50):\n    b = js.Uint8Array.new(100_000_000)\n    b.fill(1)\n    bufs.append(b)",
    );
    assert.equal(many.result.reason, "memory", `${many.result.detail}\n${many.stderr}`);
    const huge = await runJob(sandbox, "import js\nprint(js.Uint8Array.new(4_000_000_000).length)");
    assert.equal(huge.result.reason, "memory", `${huge.result.detail}\n${huge.stderr}`);
    assert.equal(huge.stdout, "");
    peakBytes = Math.max(peakBytes, workersPeakBytes());
    // Loaded Pyodide (~220 MiB), its WebAssembly memory, the headroom for
    // JavaScript (512 MiB): far from the 5 GB the job asked for.
    assert.ok(peakBytes > 0, "no worker was sampled");
    assert.ok(peakBytes < memoryBytes + 1.25 * 1024 ** 3, `a worker reached ${peakBytes} bytes`);
    assert.equal((await runJob(sandbox, "print('still ok')")).stdout, "still ok\n");
  } finally {
    clearInterval(sampler);
    await sandbox.close();
  }
});

/** The largest peak resident size (VmHWM) among this process's Pyodide workers now. */
function workersPeakBytes(): number {
  let peak = 0;
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const status = Deno.readTextFileSync(`/proc/${entry.name}/status`);
      if (Number(/^PPid:\s+(\d+)$/m.exec(status)?.[1]) !== Deno.pid) continue;
      if (!Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).includes("pyodide_worker")) {
        continue;
      }
      peak = Math.max(peak, Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0) * 1024);
    } catch {
      // Gone.
    }
  }
  return peak;
}

/** The Deno cache this process loaded Pyodide from. */
function denoCacheDir(): string {
  const pyodideDir = decodeURIComponent(new URL(".", import.meta.resolve("pyodide")).pathname);
  const at = pyodideDir.indexOf("/npm/registry.npmjs.org/");
  assert.ok(at > 0, `Pyodide is not in a Deno cache: ${pyodideDir}`);
  return pyodideDir.slice(0, at);
}

/** Hard-links (else copies) the tree `from` into `to`. */
async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    const [source, target] = [`${from}/${entry.name}`, `${to}/${entry.name}`];
    if (entry.isDirectory) await copyTree(source, target);
    else if (entry.isFile) {
      await Deno.link(source, target).catch(() => Deno.copyFile(source, target));
    }
  }
}

Deno.test("createPyodideSandbox() loads Pyodide from a cache holding only the locked packages", async () => {
  // What a cold machine's first run leaves: the files of each package the lock
  // file names, and no registry metadata (a cache filled through the lock file
  // has none for most packages; resolving without the lock would need it).
  const lock = JSON.parse(await Deno.readTextFile(new URL("../../deno.lock", import.meta.url)));
  const denoDir = await Deno.makeTempDir({ prefix: "cloud-deno-dir-" });
  try {
    for (const key of Object.keys(lock.npm ?? {})) {
      const versioned = key.split("_")[0]!;
      const at = versioned.lastIndexOf("@");
      const path = `npm/registry.npmjs.org/${versioned.slice(0, at)}/${versioned.slice(at + 1)}`;
      await copyTree(`${denoCacheDir()}/${path}`, `${denoDir}/${path}`);
    }
    const sandboxUrl = new URL("./pyodide.ts", import.meta.url).href;
    const helpersUrl = new URL("./_suite_helpers.ts", import.meta.url).href;
    const code = `import { createPyodideSandbox } from ${JSON.stringify(sandboxUrl)};
import { runJob } from ${JSON.stringify(helpersUrl)};
const sandbox = await createPyodideSandbox({ warm: 1 });
try {
  console.log((await runJob(sandbox, "print(6 * 7)")).stdout.trim());
} finally {
  await sandbox.close();
}`;
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        "--cached-only",
        `--config=${new URL("../../deno.json", import.meta.url).pathname}`,
        "--frozen",
        code,
      ],
      env: { DENO_DIR: denoDir, NO_COLOR: "1" },
      stdin: "null",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(new TextDecoder().decode(output.stdout), "42\n", stderr);
    assert.ok(output.success, stderr);
  } finally {
    await Deno.remove(denoDir, { recursive: true });
  }
});
