/** The word-at-a-time checksum of frame.ts against the byte-by-byte definition. */

import assert from "node:assert/strict";
import fc from "fast-check";
import { checksum } from "./frame.ts";

// Property failures print `{ seed, path }`; pass them to fc.assert to replay.

function byteSum(payload: Uint8Array): number {
  let sum = 0;
  for (const byte of payload) sum += byte;
  return sum & 0xff;
}

Deno.test("checksum() equals the byte sum modulo 256 at any length and alignment", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 2000 }),
      fc.integer({ min: 0, max: 7 }),
      (bytes, shift) => {
        const view = new Uint8Array(bytes.length + shift).subarray(shift);
        view.set(bytes);
        assert.equal(checksum(view), byteSum(bytes));
      },
    ),
  );
});

Deno.test("checksum() does not overflow on a maximal frame of 0xff bytes", () => {
  for (const shift of [0, 1, 2, 3]) {
    const view = new Uint8Array(0xffff + shift).fill(0xff).subarray(shift);
    assert.equal(checksum(view), byteSum(view));
  }
});
