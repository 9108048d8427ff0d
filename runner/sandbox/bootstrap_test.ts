import assert from "node:assert/strict";
import { bwrapBootstrap, encodeJobFrame } from "./bootstrap.ts";
import { encodeWorkerHeader } from "./pyodide_protocol.ts";

Deno.test("encodeJobFrame() prefixes the UTF-8 byte length", () => {
  assert.equal(new TextDecoder().decode(encodeJobFrame("print('é')")), "11\nprint('é')");
});

Deno.test("encodeWorkerHeader() prefixes the JSON byte length", () => {
  const text = new TextDecoder().decode(
    encodeWorkerHeader({ source: "ü", inputs: [{ name: "a", bytes: 2 }] }),
  );
  const [length, json] = text.split("\n");
  assert.equal(Number(length), new TextEncoder().encode(json).length);
  assert.deepEqual(JSON.parse(json!), { source: "ü", inputs: [{ name: "a", bytes: 2 }] });
});

Deno.test("bwrapBootstrap() sets sys.path to the probed entries", () => {
  assert.match(
    bwrapBootstrap(["/usr/lib/pypy3.9", "/x"]),
    /sys\.path\[:\] = \["\/usr\/lib\/pypy3\.9","\/x"\]/,
  );
});
