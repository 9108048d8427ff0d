import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeReply, encodeCommand, RespError } from "./resp.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const bytes = (value: string) => new TextEncoder().encode(value);

Deno.test("encodeCommand() writes an array of bulk strings", () => {
  assert.equal(
    text(encodeCommand(["SET", "k", bytes("va")])),
    "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nva\r\n",
  );
});

Deno.test("decodeReply() decodes each reply type", () => {
  const cases: [string, unknown][] = [["+OK\r\n", "OK"], [":42\r\n", 42], ["$-1\r\n", null]];
  for (const [wire, expected] of cases) {
    const buffer = bytes(wire);
    assert.deepEqual(decodeReply(buffer, 0, buffer.length), {
      reply: expected,
      next: buffer.length,
    });
  }
  const error = bytes("-ERR wrong\r\n");
  const decoded = decodeReply(error, 0, error.length);
  assert.ok(decoded?.reply instanceof RespError);
  const bulk = bytes("$3\r\na\r\n\r\n");
  assert.equal(text(decodeReply(bulk, 0, bulk.length)?.reply as Uint8Array), "a\r\n");
});

Deno.test("decodeReply() waits for a complete reply at any split point", () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), (value, cut) => {
    const wire = new Uint8Array([...bytes(`$${value.length}\r\n`), ...value, 13, 10]);
    const end = cut % wire.length;
    assert.equal(decodeReply(wire, 0, end), undefined);
    const whole = decodeReply(wire, 0, wire.length);
    assert.deepEqual(whole?.reply, value);
    assert.equal(whole?.next, wire.length);
  }));
});

Deno.test("decodeReply() rejects arrays and unknown types", () => {
  const array = bytes("*1\r\n+OK\r\n");
  assert.throws(() => decodeReply(array, 0, array.length), /unsupported type/);
});
