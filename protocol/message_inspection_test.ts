import assert from "node:assert/strict";
import { encodeRequest, parseRequest, ProtocolError, type Request } from "./message.ts";

const encoder = new TextEncoder();
const b64 = (text: string) => encoder.encode(text).toBase64();

Deno.test("parseRequest() reads the inspection commands and encodeRequest() writes them back", () => {
  const requests: Request[] = [
    { command: "JOBS", query: "" },
    { command: "JOBS", query: '{"states":["failed"],"name":"é*"}' },
    { command: "JOBI", hash: 0xdeadbeef },
    { command: "PROG", hash: 1, stderr: encoder.encode("tick 1\n") },
    { command: "PROG", hash: 2, stderr: new Uint8Array(0) },
    { command: "RUNR", record: '{"id":"r1"}' },
    { command: "RUNS", query: "" },
    { command: "INFO" },
    { command: "INFO", maxAgeMs: 5000 },
  ];
  for (const request of requests) assert.deepEqual(parseRequest(encodeRequest(request)), request);
  assert.equal(encodeRequest({ command: "JOBS", query: "" }), "JOBS");
  assert.equal(encodeRequest({ command: "JOBS", query: "{}" }), `JOBS:${b64("{}")}`);
  assert.equal(encodeRequest({ command: "INFO", maxAgeMs: 5000 }), "INFO:5000");
  assert.equal(encodeRequest({ command: "JOBI", hash: 10 }), "JOBI:0000000a");
});

Deno.test("parseRequest() rejects malformed inspection commands with a reason", () => {
  const cases: [string, string][] = [
    ["JOBS:a:b", "fields"],
    ["JOBS:!!", "base64"],
    [`JOBS:${new Uint8Array([0xff, 0xfe]).toBase64()}`, "encoding"],
    ["JOBI", "fields"],
    ["JOBI:xyz", "hash"],
    ["PROG:1", "fields"],
    ["PROG:1:!!", "base64"],
    ["RUNR", "fields"],
    ["RUNS:a:b", "fields"],
    ["INFO:-1", "number"],
    ["INFO:9999999999", "number"],
  ];
  for (const [text, reason] of cases) {
    assert.throws(() => parseRequest(text), (error: unknown) => {
      assert.ok(error instanceof ProtocolError, text);
      assert.equal(error.reason, reason, `${text}: ${error.message}`);
      return true;
    });
  }
});
