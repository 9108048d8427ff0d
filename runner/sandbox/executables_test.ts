import assert from "node:assert/strict";
import { findExecutable, interpreterBinary } from "./executables.ts";

Deno.test("findExecutable() looks a name up in the search path, and takes a path as it is", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cloud-executables-test-" });
  try {
    await Deno.mkdir(`${dir}/a`);
    await Deno.mkdir(`${dir}/b`);
    await Deno.writeTextFile(`${dir}/a/tool`, "not executable");
    await Deno.writeTextFile(`${dir}/b/tool`, "#!/bin/sh\n", { mode: 0o755 });
    const searchPath = `relative:${dir}/a:${dir}/b`;
    assert.equal(await findExecutable("tool", searchPath), `${dir}/b/tool`);
    assert.equal(await findExecutable("missing", searchPath), null);
    assert.equal(await findExecutable(`${dir}/b/tool`, ""), `${dir}/b/tool`);
    assert.equal(await findExecutable(`${dir}/a/tool`, ""), null);
    assert.equal(await findExecutable(`${dir}/a`, ""), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("interpreterBinary() keeps a compiled interpreter and asks a script what it runs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cloud-executables-test-" });
  try {
    assert.equal(await interpreterBinary("/usr/bin/python3"), "/usr/bin/python3");
    const shim = `${dir}/python3`;
    await Deno.writeTextFile(shim, '#!/bin/sh\nexec /usr/bin/python3 "$@"\n', { mode: 0o755 });
    assert.match(await interpreterBinary(shim), /^\/usr\/bin\/python3(\.\d+)?$/);
    const broken = `${dir}/broken`;
    await Deno.writeTextFile(broken, "#!/bin/sh\necho nope >&2\nexit 2\n", { mode: 0o755 });
    await assert.rejects(interpreterBinary(broken), /did not name a compiled interpreter \(nope\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
