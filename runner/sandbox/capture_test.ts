import assert from "node:assert/strict";
import fc from "fast-check";
import { HeadTailCapture } from "./capture.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

Deno.test("HeadTailCapture keeps everything that fits", () => {
  const capture = new HeadTailCapture(100);
  capture.push(bytes("hello "));
  capture.push(bytes("world"));
  assert.equal(text(capture.bytes()), "hello world");
  assert.equal(capture.totalBytes, 11);
});

/** Splits kept bytes at the marker: [head, omitted count, tail], or null. */
function split(kept: string): [string, number, string] | null {
  const match = /\n\[cloud: (\d+) bytes of stderr omitted\]\n/.exec(kept);
  if (match === null) return null;
  return [kept.slice(0, match.index), Number(match[1]), kept.slice(match.index + match[0].length)];
}

Deno.test("HeadTailCapture keeps head and tail with a marker when too long", () => {
  const capture = new HeadTailCapture(200);
  capture.push(bytes("HEAD"));
  for (let i = 0; i < 100; i++) capture.push(bytes("x".repeat(100)));
  capture.push(bytes("TAIL"));
  const kept = text(capture.bytes());
  assert.ok(kept.length <= 200);
  const [head, omitted, tail] = split(kept)!;
  assert.ok(head.startsWith("HEAD"));
  assert.ok(tail.endsWith("TAIL"));
  assert.equal(head.length + omitted + tail.length, capture.totalBytes);
});

Deno.test("HeadTailCapture rejects a negative bound", () => {
  assert.throws(() => new HeadTailCapture(-1), RangeError);
});

Deno.test("HeadTailCapture output is bounded and exact for any pushes", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 300 }),
      fc.array(fc.uint8Array({ maxLength: 120 }), { maxLength: 20 }),
      (bytesMax, chunks) => {
        const capture = new HeadTailCapture(bytesMax);
        for (const chunk of chunks) capture.push(chunk);
        const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
        let offset = 0;
        for (const chunk of chunks) {
          all.set(chunk, offset);
          offset += chunk.length;
        }
        const kept = capture.bytes();
        assert.ok(kept.length <= bytesMax);
        if (all.length <= bytesMax) {
          assert.deepEqual(kept, all);
          return;
        }
        const parts = split(new TextDecoder("latin1").decode(kept));
        if (parts === null) return; // bytesMax too small for the marker: a cut marker only.
        const [head, omitted, tail] = parts;
        const whole = new TextDecoder("latin1").decode(all);
        assert.ok(whole.startsWith(head));
        assert.ok(whole.endsWith(tail));
        assert.equal(head.length + omitted + tail.length, all.length);
      },
    ),
  );
});
