import assert from "node:assert/strict";
import fc from "fast-check";
import { encodeManifest } from "../protocol/manifest.ts";
import { formatHash } from "../protocol/hash.ts";
import { chunkRefsMax, detailBytesMax, inlineBytesMax, stderrBytesMax } from "../limits.ts";
import { CloudError } from "./errors.ts";
import {
  fitsFrame,
  type JobReport,
  parseLease,
  reportRequest,
  reportUpdate,
  sendsStdout,
} from "./job_exchange.ts";

// Property failures print `{ seed, path }`; pass them to fc.assert to replay.

const encoder = new TextEncoder();

const success: JobReport = {
  stdoutBytes: 3,
  stdout: encoder.encode("42\n"),
  stderr: new Uint8Array(),
  exitCode: 0,
  reason: null,
  detail: "",
};

Deno.test("parseLease() reads source, hash and namespace, the hash parsed once", () => {
  const job = parseLease([encoder.encode("print(1)").toBase64(), "0000abcd", "00000001", "in"]);
  assert.deepEqual(job, {
    hash: "0000abcd",
    hashValue: 0xabcd,
    source: "print(1)",
    inputs: [{ hash: "00000001", name: "in" }],
  });
  assert.throws(() => parseLease(["", "not-hex"]), (error: CloudError) => {
    assert.equal(error.reason, "protocol");
    return true;
  });
});

Deno.test("parseLease() takes the lease token from the odd field last", () => {
  const token = "0123456789abcdef0123456789abcdef";
  // An input named like a lease field stays an input: the token is the field after the pairs.
  const job = parseLease(["", "0000abcd", "00000001", `lease=${"f".repeat(32)}`, `lease=${token}`]);
  assert.equal(job.lease, token);
  assert.deepEqual(job.inputs, [{ hash: "00000001", name: `lease=${"f".repeat(32)}` }]);
  assert.equal(parseLease(["", "0000abcd"]).lease, undefined, "a server that hands out none");
  for (const tail of ["lease=xyz", "extra"]) {
    assert.throws(() => parseLease(["", "0000abcd", tail]), (error: CloudError) => {
      assert.equal(error.reason, "protocol");
      return true;
    });
  }
  const update = reportRequest(0xabcd, success, token);
  assert.equal(update.lease, token, "the report carries it");
});

Deno.test("reportRequest() caps stderr and the detail (in bytes) and leaves out what is not set", () => {
  const request = reportRequest(7, {
    ...success,
    stderr: new Uint8Array(stderrBytesMax * 3),
    exitCode: null,
    reason: "exception",
    detail: "é".repeat(detailBytesMax),
  });
  assert.equal(request.hash, 7);
  assert.ok(request.stderr!.length <= stderrBytesMax);
  assert.ok(encoder.encode(request.detail!).length <= detailBytesMax);
  assert.equal("exitCode" in request, false);
  assert.equal(request.stdout.length, 0);
  assert.deepEqual(Object.keys(reportRequest(7, success)).sort(), [
    "command",
    "exitCode",
    "hash",
    "stderr",
    "stdout",
  ]);
});

Deno.test("sendsStdout() is true only for a success that printed something", () => {
  assert.ok(sendsStdout(success));
  assert.ok(!sendsStdout({ ...success, stdoutBytes: 0 }));
  assert.ok(!sendsStdout({ ...success, reason: "timeout" }));
});

Deno.test("reportUpdate() sends a small stdout inline and a large one as a manifest", async () => {
  const stored: unknown[] = [];
  const store = (source: unknown) => {
    stored.push(source);
    return Promise.resolve({ manifest: encoder.encode("manifest") });
  };
  const inline = await reportUpdate(1, success, store);
  assert.equal(new TextDecoder().decode(inline.stdout), "42\n");
  assert.equal(stored.length, 0);
  const large = await reportUpdate(1, {
    ...success,
    stdout: undefined,
    stdoutBytes: inlineBytesMax + 1,
    stdoutPath: "/tmp/out",
  }, store);
  assert.deepEqual(stored, [{ path: "/tmp/out" }]);
  assert.equal(new TextDecoder().decode(large.manifest), "manifest");
  assert.equal(large.stdout.length, 0);
});

Deno.test("reportUpdate() says output-not-stored when stdout cannot be read or stored", async () => {
  const failing = () => Promise.reject(new Error("ring down"));
  await assert.rejects(
    reportUpdate(0xab, {
      ...success,
      stdout: new Uint8Array(inlineBytesMax + 1),
      stdoutBytes: inlineBytesMax + 1,
    }, failing),
    (error: CloudError) =>
      error.reason === "output-not-stored" && error.message.includes(formatHash(0xab)),
  );
  await assert.rejects(
    reportUpdate(1, { ...success, stdout: undefined, stdoutPath: "/nonexistent/out" }, failing),
    (error: CloudError) => error.reason === "output-not-stored",
  );
});

Deno.test("reportRequest() with stdout or a manifest at their limits always fits a frame (property)", () => {
  const refs = Array.from({ length: chunkRefsMax }, (_, i) => ({
    hash: i,
    digest: "0".repeat(16),
    size: inlineBytesMax,
  }));
  const manifest = encodeManifest({
    depth: 1,
    chunkSize: inlineBytesMax,
    size: inlineBytesMax * chunkRefsMax,
    sha256: "0".repeat(64),
    refs,
  });
  fc.assert(fc.property(
    fc.string({ maxLength: 3 * detailBytesMax, unit: "grapheme" }),
    fc.constantFrom("exception", "timeout", "output-limit"),
    (detail, reason) => {
      const base = reportRequest(0xffffffff, {
        ...success,
        stderr: new Uint8Array(stderrBytesMax * 2).fill(0xff),
        exitCode: -(2 ** 31),
        reason,
        detail,
      });
      assert.ok(fitsFrame({ ...base, manifest }), "a report with the largest manifest");
    },
  ));
});
