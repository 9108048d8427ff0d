import assert from "node:assert/strict";
import { inlineBytesMax } from "../limits.ts";
import { CloudError, ComputeCloud } from "./cloud.ts";
import { ring } from "./_test_servers.ts";

Deno.test("FileObject.download() writes a chunked file to disk and stream() yields it whole", async () => {
  await using r = await ring(2);
  const cloud = await ComputeCloud.connect("127.0.0.1", r.servers[0]!.port);
  const path = await Deno.makeTempFile();
  try {
    const content = new Uint8Array(inlineBytesMax * 3 + 5).map((_, i) => (i * 7) % 256);
    const file = await cloud.addBytes("big", content);
    assert.equal(await file.download(path), content.length);
    assert.deepEqual(await Deno.readFile(path), content);
    const streamed = new Uint8Array(await new Response(file.stream()).arrayBuffer());
    assert.deepEqual(streamed, content);
  } finally {
    cloud.close();
    await Deno.remove(path);
  }
});

Deno.test("FileObject.wait() returns the state it reached when its time is up", async () => {
  await using r = await ring(1);
  const cloud = await ComputeCloud.connect("127.0.0.1", r.servers[0]!.port);
  try {
    const [job, output] = await cloud.addJob("slow", "print(1)", "slow.out");
    assert.equal(await output.wait(100), "incomplete");
    assert.equal(await job.wait(100), "ready");
    await assert.rejects(output.get({ timeoutMs: 100 }), (error: CloudError) => {
      assert.equal(error.reason, "timeout");
      return true;
    });
  } finally {
    cloud.close();
  }
});

Deno.test("FileObject.get() of a hash nobody stored is not-found", async () => {
  await using r = await ring(1);
  const cloud = await ComputeCloud.connect("127.0.0.1", r.servers[0]!.port);
  try {
    await assert.rejects(cloud.file("0000beef").get(), (error: CloudError) => {
      assert.equal(error.reason, "not-found");
      return true;
    });
  } finally {
    cloud.close();
  }
});
