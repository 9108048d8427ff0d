import assert from "node:assert/strict";
import fc from "fast-check";
import { fmix32, fnv1a32, formatHash, objectHash, parseHash } from "./hash.ts";

// Property failures print `{ seed, path }`; pass them to fc.assert to replay.

/** Any Unicode scalar value, ASCII half the time (fast-check's "binary" unit takes a second to set up). */
const anyChar = fc.oneof(
  fc.integer({ min: 0, max: 0x7f }),
  fc.integer({ min: 0, max: 0x10ffff - 0x800 }).map((n) => (n < 0xd800 ? n : n + 0x800)),
).map((n) => String.fromCodePoint(n));

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

Deno.test("fnv1a32() matches the published FNV-1a vectors", () => {
  assert.equal(fnv1a32(new Uint8Array()), 0x811c9dc5);
  assert.equal(fnv1a32(utf8("a")), 0xe40c292c);
  assert.equal(fnv1a32(utf8("foobar")), 0xbf9cf968);
});

Deno.test("fnv1a32() continues from a seed as if the bytes were concatenated", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), (a, b) => {
      const whole = new Uint8Array([...a, ...b]);
      assert.equal(fnv1a32(b, fnv1a32(a)), fnv1a32(whole));
    }),
  );
});

Deno.test("fmix32() matches MurmurHash3's finaliser", () => {
  assert.equal(fmix32(0), 0);
  assert.equal(fmix32(1), 0x514e28b7);
  assert.equal(fmix32(0xdeadbeef), 0x0de5c6a9);
  assert.equal(fmix32(0xffffffff), 0x81f16f39);
  assert.equal(fmix32(-1), 0x81f16f39, "negative input is taken as unsigned");
});

Deno.test("fnv1a32(), fmix32() and objectHash() return unsigned 32-bit integers", () => {
  fc.assert(
    fc.property(fc.string({ unit: anyChar, maxLength: 40 }), fc.integer(), (name, salt) => {
      for (const value of [fnv1a32(utf8(name)), fmix32(salt), objectHash(name, salt)]) {
        assert.ok(Number.isInteger(value) && value >= 0 && value <= 0xffffffff, `${value}`);
      }
    }),
  );
});

// Vectors cross-checked with an independent Python implementation of the
// definition in hash.ts's module doc:
//
//   def fnv1a32(data, h=0x811c9dc5):
//       for b in data: h = ((h ^ b) * 0x01000193) & 0xffffffff
//       return h
//   def fmix32(h):
//       h ^= h >> 16; h = (h * 0x85ebca6b) & 0xffffffff
//       h ^= h >> 13; h = (h * 0xc2b2ae35) & 0xffffffff
//       return h ^ (h >> 16)
//   def object_hash(name, salt):
//       return fmix32(fnv1a32(name.encode() + b"\0" + salt.to_bytes(4, "big")))
const vectors: [string, number, number][] = [
  ["", 0, 0xc8fced69],
  ["a", 0, 0x407891f0],
  ["name1", 0, 0x45b121a9],
  ["name1", 1, 0x3c857008],
  ["localhost:11111", 0, 0x61891912],
  ["localhost:11111", 7, 0x223a9c7b],
  ["héllo wörld", 0xdeadbeef, 0xbfb930a4],
  ["日本語", 0xffffffff, 0x4f04f720],
  ["x".repeat(1024), 42, 0xccb21c68],
];

Deno.test("objectHash() matches the cross-checked vectors", () => {
  for (const [name, salt, hash] of vectors) {
    assert.equal(objectHash(name, salt), hash, `objectHash(${JSON.stringify(name)}, ${salt})`);
  }
});

/** docs/PROTOCOL.md 7.3: name, salt, fnv(name), fnv of all bytes, hash. */
const specHashes: [string, number, number, number, number][] = [
  ["", 0x00000000, 0x811c9dc5, 0x1210d00f, 0xc8fced69],
  ["a", 0x00000000, 0xe40c292c, 0xf8629084, 0x407891f0],
  ["name1", 0x00000000, 0x28e5d975, 0xbfb7171f, 0x45b121a9],
  ["name1", 0x00000001, 0x28e5d975, 0xbeb7158c, 0x3c857008],
  ["name1", 0xffffffff, 0x28e5d975, 0x7c61cbbb, 0xa5489fe8],
  ["name2", 0x00000000, 0x25e5d4bc, 0xcab52f34, 0x80d72889],
  ["jobname", 0x00000000, 0xf74272d7, 0x79b81ac5, 0xbc0b96a5],
  ["outputname", 0x00000000, 0x9e40913f, 0x6d901bfd, 0x09b799a0],
  ["größe", 0x00000000, 0xcd38f49a, 0xcaaf074e, 0xd115ee26],
  ["日本語", 0x00000007, 0x805f5ce7, 0xf918c9f0, 0x16ff340b],
  ["🙂", 0x80000000, 0x57a37a4b, 0x777d7ca1, 0xb1fa6472],
  ["localhost:11111", 0x00000000, 0x1850c837, 0x92f0c2e5, 0x61891912],
  ["localhost:11111", 0x00000001, 0x1850c837, 0x91f0c152, 0x5bd57e47],
  ["localhost:11111", 0x0000001f, 0x1850c837, 0xa3f0dda8, 0xcd7293bf],
];

Deno.test("objectHash() matches the PROTOCOL.md vectors, intermediate values included", () => {
  assert.equal(fmix32(0x811c9dc5), 0xab3e7c0b);
  for (const [name, salt, nameState, state, hash] of specHashes) {
    const label = `${JSON.stringify(name)} ${formatHash(salt)}`;
    const tail = Uint8Array.of(
      0,
      salt >>> 24,
      (salt >>> 16) & 0xff,
      (salt >>> 8) & 0xff,
      salt & 0xff,
    );
    assert.equal(fnv1a32(utf8(name)), nameState, label);
    assert.equal(fnv1a32(tail, nameState), state, label);
    assert.equal(fmix32(state), hash, label);
    assert.equal(objectHash(name, salt), hash, label);
  }
});

Deno.test("objectHash() follows its documented definition", () => {
  fc.assert(
    fc.property(fc.string({ unit: anyChar, maxLength: 40 }), fc.nat(0xffffffff), (name, salt) => {
      const tail = Uint8Array.of(
        0,
        salt >>> 24,
        (salt >>> 16) & 0xff,
        (salt >>> 8) & 0xff,
        salt & 0xff,
      );
      assert.equal(
        objectHash(name, salt),
        fmix32(fnv1a32(new Uint8Array([...utf8(name), ...tail]))),
      );
    }),
  );
});

Deno.test("objectHash() takes the salt modulo 2^32", () => {
  assert.equal(objectHash("name1", -1), objectHash("name1", 0xffffffff));
  assert.equal(objectHash("name1", 0x1_0000_0001), objectHash("name1", 1));
});

Deno.test("objectHash() gives distinct positions to neighbouring names and salts", () => {
  const seen = new Set<number>();
  for (const name of ["name1", "name2", "name", "name1 ", "Name1"]) {
    for (let salt = 0; salt < 64; salt++) seen.add(objectHash(name, salt));
  }
  assert.equal(seen.size, 5 * 64);
});

Deno.test("objectHash() spreads positions evenly over 16 ring ranges", () => {
  const total = 100_000;
  const high = new Array<number>(16).fill(0);
  const low = new Array<number>(16).fill(0);
  for (let i = 0; i < total; i++) {
    // Mix the two ways hashes arise: many names, and one name with many salts.
    const hash = i % 2 === 0 ? objectHash(`object-${i}`, 0) : objectHash("localhost:11111", i);
    high[hash >>> 28]!++;
    low[hash & 0xf]!++;
  }
  const mean = total / 16;
  for (const buckets of [high, low]) {
    for (const [bucket, count] of buckets.entries()) {
      assert.ok(Math.abs(count - mean) <= 0.05 * mean, `bucket ${bucket}: ${count} of ~${mean}`);
    }
  }
});

Deno.test("formatHash() writes 8 lower-case hex digits", () => {
  assert.equal(formatHash(0), "00000000");
  assert.equal(formatHash(0xab), "000000ab");
  assert.equal(formatHash(0xdeadbeef), "deadbeef");
  assert.equal(formatHash(0xffffffff), "ffffffff");
  assert.equal(formatHash(-1), "ffffffff");
});

Deno.test("parseHash() accepts 1 to 8 hex digits in either case", () => {
  assert.equal(parseHash("0"), 0);
  assert.equal(parseHash("00000000"), 0);
  assert.equal(parseHash("ff"), 0xff);
  assert.equal(parseHash("DeadBeef"), 0xdeadbeef);
  assert.equal(parseHash("FFFFFFFF"), 0xffffffff);
});

Deno.test("parseHash() rejects anything else with RangeError", () => {
  for (const text of ["", "123456789", "xyz", "0x12", " 12", "12 ", "-1", "+1", "1.5", "g", "١"]) {
    assert.throws(() => parseHash(text), RangeError, JSON.stringify(text));
  }
});

Deno.test("parseHash() inverts formatHash()", () => {
  fc.assert(
    fc.property(fc.nat(0xffffffff), (value) => {
      assert.equal(parseHash(formatHash(value)), value);
    }),
  );
});

Deno.test("formatHash() normalises whatever parseHash() accepts", () => {
  const hexText = fc.string({
    unit: fc.constantFrom(..."0123456789abcdefABCDEF"),
    minLength: 1,
    maxLength: 8,
  });
  fc.assert(
    fc.property(hexText, (text) => {
      assert.equal(formatHash(parseHash(text)), text.toLowerCase().padStart(8, "0"));
    }),
  );
});
