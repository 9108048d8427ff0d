import assert from "node:assert/strict";
import { ConnectionError } from "../protocol/connection.ts";
import {
  cannotRead,
  describe,
  exitStatus,
  Failure,
  jobSummary,
  readInput,
  writeTo,
} from "./cli_io.ts";
import { CloudError } from "./errors.ts";

Deno.test("describe() maps each kind of error to its exit status", () => {
  const server = "hostA:11111";
  assert.deepEqual(describe(new CloudError("timeout", "still leased"), server), [
    exitStatus.timeout,
    "still leased",
  ]);
  assert.deepEqual(describe(new CloudError("failed", "job x failed"), server), [
    exitStatus.failed,
    "failed: job x failed",
  ]);
  assert.equal(describe(new CloudError("chunk-corrupt", "bad"), server)[0], exitStatus.failed);
  assert.deepEqual(describe(new CloudError("not-found", "No object 1"), server), [
    exitStatus.usage,
    "not-found: No object 1",
  ]);
  assert.deepEqual(describe(new ConnectionError("connect", "refused"), server), [
    exitStatus.unreachable,
    "cannot reach hostA:11111: refused",
  ]);
  assert.equal(describe(new ConnectionError("timeout", "slow"), server)[0], exitStatus.timeout);
  assert.deepEqual(describe(new Failure(7, "seven"), server), [7, "seven"]);
  assert.equal(describe(new RangeError("bad hash"), server)[0], exitStatus.usage);
});

Deno.test("cannotRead() names the file and why, with a hint for code given inline", () => {
  const missing = cannotRead("job.py", "the job's code", new Deno.errors.NotFound());
  assert.equal(missing.status, exitStatus.usage);
  assert.equal(missing.message, 'cannot read the job\'s code from "job.py": no such file');
  const inline = cannotRead('print("hi")', "the job's code", new Deno.errors.NotFound());
  assert.match(inline.message, /give the path of a Python file/);
  const denied = cannotRead("x", "a local file", new Deno.errors.PermissionDenied());
  assert.match(denied.message, /permission denied$/);
});

Deno.test("readInput() reads a file and fails with one clear line when it cannot", async () => {
  const path = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(path, "data");
    assert.equal(new TextDecoder().decode(await readInput(path, "a local file")), "data");
    await assert.rejects(readInput(`${path}.missing`, "a local file"), (error: Failure) => {
      assert.equal(error.status, exitStatus.usage);
      assert.match(error.message, /no such file/);
      return true;
    });
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("writeTo() writes everything through short writes", async () => {
  const written: number[] = [];
  await writeTo({
    write: (bytes) => {
      written.push(...bytes.subarray(0, 2));
      return Promise.resolve(Math.min(2, bytes.length));
    },
  }, new Uint8Array([1, 2, 3, 4, 5]));
  assert.deepEqual(written, [1, 2, 3, 4, 5]);
});

Deno.test("jobSummary() names the job and its output, then the tail of its stderr", () => {
  assert.equal(
    jobSummary("0000000a", "0000000b", ""),
    "job 0000000a done, output 0000000b, no stderr",
  );
  assert.equal(
    jobSummary("0000000a", "0000000b", "warn 1\nwarn 2\n"),
    "job 0000000a done, output 0000000b, stderr:\n  warn 1\n  warn 2",
  );
  const many = Array.from({ length: 25 }, (_, i) => `line ${i}`).join("\n");
  const tail = jobSummary("0000000a", "0000000b", many, 20).split("\n");
  assert.equal(tail.length, 22);
  assert.equal(tail[1], "  … 5 earlier lines");
  assert.equal(tail[2], "  line 5");
  assert.equal(tail.at(-1), "  line 24");
});
