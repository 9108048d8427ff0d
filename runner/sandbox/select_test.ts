import assert from "node:assert/strict";
import { createSandbox } from "./select.ts";
import { runJob } from "./_suite_helpers.ts";

const skipBwrap = Deno.env.get("CLOUD_SKIP_BWRAP") === "1";

Deno.test({
  name: "createSandbox() picks bwrap for auto when it works",
  ignore: skipBwrap,
  fn: async () => {
    const sandbox = await createSandbox({ warm: 0 });
    try {
      assert.equal(sandbox.name, "bwrap");
    } finally {
      await sandbox.close();
    }
  },
});

Deno.test("createSandbox() falls back to pyodide for auto when bwrap is missing", async () => {
  const reasons: string[] = [];
  const sandbox = await createSandbox({
    bwrapPath: "/nonexistent/bwrap",
    warm: 1,
    onFallback: (reason) => reasons.push(reason),
  });
  try {
    assert.equal(sandbox.name, "pyodide");
    assert.match(reasons[0] ?? "", /bubblewrap not found/);
    const ran = await runJob(sandbox, "print(6 * 7)");
    assert.equal(ran.stdout, "42\n");
  } finally {
    await sandbox.close();
  }
});

Deno.test("createSandbox() throws for bwrap when bwrap is missing", async () => {
  await assert.rejects(
    createSandbox({ kind: "bwrap", bwrapPath: "/nonexistent/bwrap" }),
    /bubblewrap not found/,
  );
});
