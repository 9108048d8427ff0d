import assert from "node:assert/strict";
import { temporaryPath, writeAtomically } from "./cli_output.ts";

Deno.test("temporaryPath() is a hidden file in the target's directory", () => {
  assert.equal(temporaryPath("/a/b/out.txt", "x1"), "/a/b/.out.txt.cloud-x1.part");
  assert.equal(temporaryPath("out.txt", "x1"), ".out.txt.cloud-x1.part");
});

Deno.test("writeAtomically() replaces the target only when the work succeeds, and leaves no temporary file", async () => {
  const directory = await Deno.makeTempDir();
  try {
    const target = `${directory}/keep.txt`;
    await Deno.writeTextFile(target, "precious");
    await assert.rejects(
      writeAtomically(target, async (write) => {
        await write(new TextEncoder().encode("partial"));
        throw new Error("server went away");
      }),
      /server went away/,
    );
    assert.equal(await Deno.readTextFile(target), "precious");
    assert.deepEqual([...Deno.readDirSync(directory)].map((e) => e.name), ["keep.txt"]);
    await writeAtomically(target, async (write) => {
      await write(new TextEncoder().encode("new "));
      await write(new TextEncoder().encode("content"));
    });
    assert.equal(await Deno.readTextFile(target), "new content");
    assert.deepEqual([...Deno.readDirSync(directory)].map((e) => e.name), ["keep.txt"]);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});
