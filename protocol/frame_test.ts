import assert from "node:assert/strict";
import fc from "fast-check";
import { checksum, type Decoded, encodeFrame, FrameDecoder, FrameError } from "./frame.ts";

// Property failures print `{ seed, path }`; pass them to fc.assert to replay.

const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Takes every item the decoder has ready. */
function drain(decoder: FrameDecoder): Decoded[] {
  const items: Decoded[] = [];
  for (let item = decoder.next(); item !== null; item = decoder.next()) items.push(item);
  return items;
}

/** Pushes `stream` cut at `cuts` (sorted offsets) and collects every decoded item. */
function decodeInChunks(stream: Uint8Array, cuts: readonly number[]): Decoded[] {
  const decoder = new FrameDecoder();
  const items: Decoded[] = [];
  let from = 0;
  for (const cut of [...cuts, stream.length]) {
    decoder.push(stream.subarray(from, cut));
    items.push(...drain(decoder));
    from = cut;
  }
  assert.equal(decoder.pendingBytes, 0);
  return items;
}

const frameOf = (payload: Uint8Array): Decoded => ({ kind: "frame", payload });

function assertFrameError(action: () => unknown, code: FrameError["code"]): void {
  assert.throws(action, (error) => {
    assert.ok(error instanceof FrameError, `expected FrameError, got ${error}`);
    assert.equal(error.code, code);
    assert.equal(error.name, "FrameError");
    return true;
  });
}

Deno.test("checksum() sums bytes modulo 256", () => {
  assert.equal(checksum(new Uint8Array()), 0);
  assert.equal(checksum(ascii("ACK")), 0xcf); // 0x41 + 0x43 + 0x4b = 207
  assert.equal(checksum(Uint8Array.of(0xff, 0xff)), 0xfe); // 510 mod 256
  assert.equal(checksum(Uint8Array.of(0x80, 0x80)), 0x00);
  assert.equal(checksum(new Uint8Array(300).fill(0x61)), 0xac); // 29100 mod 256 = 172
});

Deno.test("encodeFrame() writes length, checksum, payload and NUL", () => {
  // "ACK": 'A' 65 + 'C' 67 + 'K' 75 = 207 = 0xcf.
  assert.deepEqual(encodeFrame("ACK"), ascii("0003cfACK\0"));
  // "STOP": 83 + 84 + 79 + 80 = 326; 326 - 256 = 70 = 0x46.
  assert.deepEqual(encodeFrame("STOP"), ascii("000446STOP\0"));
  assert.deepEqual(encodeFrame(""), ascii("000000\0"));
  assert.deepEqual(encodeFrame(new Uint8Array()), ascii("000000\0"));
  assert.deepEqual(
    encodeFrame(Uint8Array.of(0xff, 0xff)),
    concat(ascii("0002fe"), ascii("\xff\xff\0")),
  );
  assert.deepEqual(encodeFrame(Uint8Array.of(0)), ascii("000100\0\0"));
});

/** docs/PROTOCOL.md 7.1: payload and the frame's hex. */
const specFrames: [string, string][] = [
  ["STOP", "30303034343653544f5000"],
  ["GETS", "3030303433334745545300"],
  ["ACK", "30303033636641434b00"],
  ["ADD:name1:Y29udGVudHM=", "3030313666344144443a6e616d65313a593239756447567564484d3d00"],
  ["NACK:none:No jobs left", "3030313639374e41434b3a6e6f6e653a4e6f206a6f6273206c65667400"],
  ["ACK:8a0b3d3c", "30303063363141434b3a386130623364336300"],
  ["", "30303030303000"],
  ["ADD:naïve:w6k=", "3030306661654144443a6e61c3af76653a77366b3d00"],
];

Deno.test("encodeFrame() matches the PROTOCOL.md frame vectors", () => {
  for (const [payload, hex] of specFrames) {
    assert.equal(encodeFrame(payload).toHex(), hex, JSON.stringify(payload));
    const decoder = new FrameDecoder();
    decoder.push(Uint8Array.fromHex(hex));
    assert.deepEqual(decoder.next(), frameOf(new TextEncoder().encode(payload)));
  }
});

Deno.test("FrameDecoder matches the PROTOCOL.md upper-case, checksum and broken vectors", () => {
  const decoder = new FrameDecoder();
  decoder.push(Uint8Array.fromHex("3030313646344144443a6e616d65313a593239756447567564484d3d00"));
  decoder.push(Uint8Array.fromHex("3030303433344745545300")); // 000434GETS: sum is 0x33
  decoder.push(ascii("000433GETS\0"));
  assert.deepEqual(drain(decoder), [
    frameOf(ascii("ADD:name1:Y29udGVudHM=")),
    { kind: "bad-checksum", expected: 0x34, actual: 0x33 },
    frameOf(ascii("GETS")),
  ]);
  decoder.push(ascii("00zz00"));
  assert.throws(() => decoder.next(), /header is not hexadecimal \(got "00zz00"\)/);
});

Deno.test("encodeFrame() encodes text as UTF-8 and counts bytes, not characters", () => {
  // "é" is c3 a9: 0xc3 + 0xa9 = 0x16c, low byte 0x6c.
  assert.deepEqual(encodeFrame("é"), concat(ascii("00026c"), Uint8Array.of(0xc3, 0xa9, 0)));
});

Deno.test("encodeFrame() writes the length in lower-case hex across all four digits", () => {
  const frame = encodeFrame(new Uint8Array(300).fill(0x61)); // 300 = 0x012c
  assert.equal(new TextDecoder().decode(frame.subarray(0, 6)), "012cac");
  assert.equal(frame.length, 6 + 300 + 1);
  assert.equal(frame[frame.length - 1], 0);
  const largest = encodeFrame(new Uint8Array(0xffff).fill(1)); // sum 65535, low byte 0xff
  assert.equal(new TextDecoder().decode(largest.subarray(0, 6)), "ffffff");
  assert.equal(largest.length, 6 + 0xffff + 1);
});

Deno.test("encodeFrame() rejects a payload over 65535 bytes with RangeError", () => {
  assert.throws(() => encodeFrame(new Uint8Array(0x10000)), RangeError);
  assert.throws(() => encodeFrame("a".repeat(0x10000)), RangeError);
  // 32768 two-byte characters: short as a string, 65536 bytes as UTF-8.
  assert.throws(() => encodeFrame("é".repeat(0x8000)), RangeError);
  assert.doesNotThrow(() => encodeFrame("a".repeat(0xffff)));
});

Deno.test("FrameDecoder round-trips any payload of 0 to 65535 bytes", () => {
  const payload = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.integer({ min: 0, max: 0xffff }).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
    fc.constantFrom(new Uint8Array(0xffff).fill(0xff), new Uint8Array(0xffff)),
  );
  fc.assert(
    fc.property(payload, (bytes) => {
      const frame = encodeFrame(bytes);
      assert.equal(frame.length, bytes.length + 7);
      const decoder = new FrameDecoder();
      decoder.push(frame);
      assert.deepEqual(decoder.next(), frameOf(bytes));
      assert.equal(decoder.next(), null);
      assert.equal(decoder.pendingBytes, 0);
    }),
    { numRuns: 60 },
  );
});

const payloads = [
  ascii("ACK"),
  new Uint8Array(),
  ascii("NACK:name:contains a : colon"),
  Uint8Array.of(0, 0, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0), // NULs and digits inside
  new Uint8Array(300).map((_, i) => i & 0xff),
  ascii("STOP"),
];
const stream = concat(...payloads.map((p) => encodeFrame(p)));
const expected = payloads.map(frameOf);

Deno.test("FrameDecoder decodes several frames from one push", () => {
  const decoder = new FrameDecoder();
  decoder.push(stream);
  assert.deepEqual(drain(decoder), expected);
  assert.equal(decoder.pendingBytes, 0);
});

Deno.test("FrameDecoder decodes a stream split at every single point", () => {
  for (let cut = 0; cut <= stream.length; cut++) {
    assert.deepEqual(decodeInChunks(stream, [cut]), expected, `split at ${cut}`);
  }
});

Deno.test("FrameDecoder decodes a stream pushed one byte at a time", () => {
  const cuts = Array.from({ length: stream.length - 1 }, (_, i) => i + 1);
  assert.deepEqual(decodeInChunks(stream, cuts), expected);
});

Deno.test("FrameDecoder decodes frames split into arbitrary chunks", () => {
  const frames = fc.array(fc.uint8Array({ maxLength: 600 }), { minLength: 1, maxLength: 8 });
  fc.assert(
    fc.property(
      frames,
      fc.array(fc.nat(), { maxLength: 20 }),
      (list, rawCuts) => {
        const bytes = concat(...list.map((p) => encodeFrame(p)));
        const cuts = [...new Set(rawCuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        assert.deepEqual(decodeInChunks(bytes, cuts), list.map(frameOf));
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("FrameDecoder returns payloads that later pushes do not overwrite", () => {
  const decoder = new FrameDecoder();
  const first = encodeFrame("first");
  decoder.push(concat(first, encodeFrame("sec").subarray(0, 4)));
  const item = decoder.next();
  assert.deepEqual(item, frameOf(ascii("first")));
  // Reuses the buffer (compaction) and then grows it well past its size.
  decoder.push(encodeFrame("sec").subarray(4));
  decoder.push(encodeFrame(new Uint8Array(10_000).fill(0x7a)));
  assert.deepEqual(drain(decoder).length, 2);
  assert.deepEqual(item, frameOf(ascii("first")));
});

Deno.test("FrameDecoder waits for a whole header and a whole frame", () => {
  const decoder = new FrameDecoder();
  decoder.push(ascii("0003c"));
  assert.equal(decoder.next(), null);
  assert.equal(decoder.pendingBytes, 5);
  decoder.push(ascii("fACK"));
  assert.equal(decoder.next(), null, "terminator not yet received");
  decoder.push(new Uint8Array(1));
  assert.deepEqual(decoder.next(), frameOf(ascii("ACK")));
  decoder.push(new Uint8Array());
  assert.equal(decoder.next(), null);
  assert.equal(decoder.pendingBytes, 0);
});

Deno.test("FrameDecoder reports a checksum mismatch and continues with the next frame", () => {
  const bad = encodeFrame("ACK");
  bad[4] = 0x30; // checksum "cf" becomes "0f"
  const decoder = new FrameDecoder();
  decoder.push(concat(encodeFrame("GETS"), bad, encodeFrame("STOP")));
  assert.deepEqual(drain(decoder), [
    frameOf(ascii("GETS")),
    { kind: "bad-checksum", expected: 0x0f, actual: 0xcf },
    frameOf(ascii("STOP")),
  ]);
  assert.equal(decoder.pendingBytes, 0);
});

Deno.test("FrameDecoder reports a corrupted payload byte as a checksum mismatch", () => {
  const frame = encodeFrame("ACK");
  frame[7] = 0x44; // "ACK" becomes "ADK": actual 0xd0, expected 0xcf
  const decoder = new FrameDecoder();
  decoder.push(concat(frame, encodeFrame("ok")));
  assert.deepEqual(decoder.next(), { kind: "bad-checksum", expected: 0xcf, actual: 0xd0 });
  assert.deepEqual(decoder.next(), frameOf(ascii("ok")));
});

Deno.test("FrameDecoder accepts upper-case hex in the header", () => {
  const decoder = new FrameDecoder();
  const ten = ascii("abcdefghij"); // 10 bytes, sum 1015 = 0x3f7
  decoder.push(concat(ascii("0003CFACK\0"), ascii("000AF7"), ten, new Uint8Array(1)));
  assert.deepEqual(drain(decoder), [frameOf(ascii("ACK")), frameOf(ten)]);
});

Deno.test("FrameDecoder throws FrameError header on a non-hex header", () => {
  for (const header of ["00g3cf", "0x03cf", " 003cf", "0003cg", "ACK\0\0\0", "-00001"]) {
    const decoder = new FrameDecoder();
    decoder.push(ascii(header + "ACK\0"));
    assertFrameError(() => decoder.next(), "header");
  }
});

Deno.test("FrameDecoder throws FrameError header after a good frame, and keeps throwing", () => {
  const decoder = new FrameDecoder();
  decoder.push(concat(encodeFrame("ACK"), ascii("GET:00000001\0")));
  assert.deepEqual(decoder.next(), frameOf(ascii("ACK")));
  assertFrameError(() => decoder.next(), "header");
  assertFrameError(() => decoder.next(), "header");
});

Deno.test("FrameDecoder throws FrameError terminator when the NUL is missing", () => {
  const decoder = new FrameDecoder();
  decoder.push(ascii("0003cfACKX000000\0"));
  assertFrameError(() => decoder.next(), "terminator");
  const short = new FrameDecoder();
  short.push(ascii("0002cfACK\0")); // length says 2, so 'K' sits where NUL belongs
  assertFrameError(() => short.next(), "terminator");
});

Deno.test("FrameError carries a readable message naming the problem", () => {
  const decoder = new FrameDecoder();
  decoder.push(ascii("zz03cfACK\0"));
  assert.throws(() => decoder.next(), /Cannot decode frame: header is not hexadecimal.*zz03cf/);
});

Deno.test("FrameDecoder throws nothing but FrameError on any bytes in any chunks", () => {
  const hexByte = fc.constantFrom(...ascii("0123456789abcdefABCDEF"));
  const chunk = fc.oneof(
    fc.uint8Array({ maxLength: 40 }),
    fc.array(fc.oneof(hexByte, fc.constant(0)), { maxLength: 12 }).map((a) => Uint8Array.from(a)),
    fc.uint8Array({ maxLength: 300 }).map((p) => encodeFrame(p)),
    fc.uint8Array({ maxLength: 300 }).chain((p) =>
      fc.nat(p.length + 6).map((i) => {
        const frame = encodeFrame(p);
        frame[i] = frame[i]! ^ 0x5a; // corrupt one byte of a real frame
        return frame;
      })
    ),
  );
  fc.assert(
    fc.property(fc.array(chunk, { maxLength: 12 }), (chunks) => {
      const decoder = new FrameDecoder();
      try {
        for (const bytes of chunks) {
          const before = decoder.pendingBytes;
          decoder.push(bytes);
          assert.equal(decoder.pendingBytes, before + bytes.length);
          for (;;) {
            const pending = decoder.pendingBytes;
            const item = decoder.next();
            if (item === null) break;
            const consumed = pending - decoder.pendingBytes;
            if (item.kind === "frame") assert.equal(consumed, item.payload.length + 7);
            else {
              assert.ok(consumed >= 7);
              assert.notEqual(item.expected, item.actual);
            }
          }
        }
      } catch (error) {
        if (!(error instanceof FrameError)) throw error;
      }
    }),
    { numRuns: 1000 },
  );
});
