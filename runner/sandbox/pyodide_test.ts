import assert from "node:assert/strict";
import { createPyodideSandbox } from "./pyodide.ts";
import { runHostileSuite } from "./hostile_suite.ts";
import { runSandboxSuite } from "./sandbox_suite.ts";
import { runJob } from "./_suite_helpers.ts";

runSandboxSuite("pyodide", (limits) => createPyodideSandbox({ limits, warm: 3 }));
runHostileSuite("pyodide", (limits) => createPyodideSandbox({ limits, warm: 3 }));

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
