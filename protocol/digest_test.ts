import assert from "node:assert/strict";
import fc from "fast-check";
import { fileIdentity, jobIdentity, outputIdentity, saltOf, sha256Hex } from "./digest.ts";
import { objectHash } from "./hash.ts";

// Property failures print `{ seed, path }`; pass them to fc.assert to replay.

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

Deno.test("sha256Hex() matches the FIPS 180-2 vectors", () => {
  assert.equal(
    sha256Hex("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.equal(
    sha256Hex(""),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
  assert.equal(sha256Hex(), sha256Hex(""));
});

Deno.test("sha256Hex() hashes its parts as one concatenation, text as UTF-8", () => {
  assert.equal(sha256Hex("a", "bc"), sha256Hex("abc"));
  assert.equal(sha256Hex(utf8("a"), "b", Uint8Array.of(0x63)), sha256Hex("abc"));
  assert.equal(sha256Hex("é"), sha256Hex(Uint8Array.of(0xc3, 0xa9)));
  fc.assert(
    fc.property(fc.uint8Array(), fc.uint8Array(), (a, b) => {
      assert.equal(sha256Hex(a, b), sha256Hex(new Uint8Array([...a, ...b])));
      assert.match(sha256Hex(a), /^[0-9a-f]{64}$/);
    }),
  );
});

Deno.test("saltOf() takes the first 32 bits of a digest", () => {
  assert.equal(saltOf(sha256Hex("abc")), 0xba7816bf);
  assert.equal(saltOf("ffffffff" + "0".repeat(56)), 0xffffffff);
  assert.equal(saltOf("00000001" + "f".repeat(56)), 1);
  fc.assert(
    fc.property(fc.uint8Array(), (bytes) => {
      const digest = sha256Hex(bytes);
      const salt = saltOf(digest);
      assert.ok(Number.isInteger(salt) && salt >= 0 && salt <= 0xffffffff);
      assert.equal(salt.toString(16).padStart(8, "0"), digest.slice(0, 8));
    }),
  );
});

Deno.test("fileIdentity() is the content digest", () => {
  assert.equal(fileIdentity(utf8("abc")), sha256Hex("abc"));
  assert.notEqual(fileIdentity(utf8("abc")), fileIdentity(utf8("abd")));
});

interface JobFields {
  name: string;
  source: Uint8Array;
  outputName: string;
  inputs: number[];
  salt?: number;
}

const base: JobFields = {
  name: "job",
  source: utf8("print(1)"),
  outputName: "out",
  inputs: [1, 2],
};

Deno.test("jobIdentity() is stable for equal jobs", () => {
  const id = jobIdentity(base);
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.equal(jobIdentity({ ...base, source: utf8("print(1)"), inputs: [1, 2] }), id);
  assert.equal(jobIdentity(structuredClone(base)), id);
});

Deno.test("jobIdentity() changes when any one field changes", () => {
  const id = jobIdentity(base);
  const variants: JobFields[] = [
    { ...base, name: "job2" },
    { ...base, source: utf8("print(2)") },
    { ...base, source: new Uint8Array() },
    { ...base, outputName: "out2" },
    { ...base, inputs: [2, 1] }, // order matters: the last input of a name wins
    { ...base, inputs: [1] },
    { ...base, inputs: [1, 2, 2] },
    { ...base, inputs: [] },
    { ...base, salt: 0 },
    { ...base, salt: 1 },
  ];
  const ids = new Set([id, ...variants.map(jobIdentity)]);
  assert.equal(ids.size, variants.length + 1);
});

Deno.test("jobIdentity() changes with a fresh salt, and each salt gives its own", () => {
  const salts = [0, 1, 2, 0xffffffff];
  const ids = salts.map((salt) => jobIdentity({ ...base, salt }));
  assert.equal(new Set([jobIdentity(base), ...ids]).size, salts.length + 1);
  assert.equal(jobIdentity({ ...base, salt: 7 }), jobIdentity({ ...base, salt: 7 }));
});

Deno.test("jobIdentity() keeps fields apart when names contain newlines", () => {
  // The header separates fields with "\n" and names may contain "\n", so
  // without escaping these pairs of different jobs had one identity.
  const pairs: [JobFields, JobFields][] = [
    [
      { name: "j", outputName: "o\n", inputs: [], source: utf8("print(1)") },
      { name: "j", outputName: "o", inputs: [], source: utf8("\nprint(1)") },
    ],
    [
      { name: "j\no", outputName: "p", inputs: [], source: utf8("x") },
      { name: "j", outputName: "o\np", inputs: [], source: utf8("x") },
    ],
    [
      { name: "j\\", outputName: "\\no", inputs: [], source: utf8("x") },
      { name: "j\\\n", outputName: "o", inputs: [], source: utf8("x") },
    ],
  ];
  for (const [a, b] of pairs) assert.notEqual(jobIdentity(a), jobIdentity(b));
});

Deno.test("jobIdentity() gives different jobs different identities", () => {
  // Few distinct texts, rich in separators, so that many pairs of a batch
  // differ only in where one field ends and the next begins.
  const text = fc.constantFrom("", "a", "\n", "a\n", "\na", "\\", "\\n");
  const job = fc.record(
    {
      name: text,
      source: text.map(utf8),
      outputName: text,
      inputs: fc.oneof(fc.constant([]), fc.array(fc.nat(1), { maxLength: 2 })),
      salt: fc.nat(1),
    },
    { requiredKeys: ["name", "source", "outputName", "inputs"] },
  );
  fc.assert(
    fc.property(fc.array(job, { minLength: 50, maxLength: 50 }), (jobs) => {
      const seen = new Map<string, string>();
      for (const j of jobs) {
        const key = JSON.stringify([j.name, [...j.source], j.outputName, j.inputs, j.salt ?? null]);
        const id = jobIdentity(j);
        assert.equal(seen.get(id) ?? key, key, `identity ${id} shared`);
        seen.set(id, key);
      }
    }),
    { numRuns: 200 },
  );
});

Deno.test("jobIdentity() is unchanged for names without newline or backslash", () => {
  // Pinned so that stored jobs keep deduplicating across versions.
  assert.equal(
    jobIdentity(base),
    sha256Hex("job\njob\nout\n00000001,00000002\n\n", utf8("print(1)")),
  );
  assert.equal(
    jobIdentity({ ...base, salt: 10 }),
    sha256Hex("job\njob\nout\n00000001,00000002\nfresh=10\n", utf8("print(1)")),
  );
});

Deno.test("fileIdentity() and saltOf() match the PROTOCOL.md content vectors", () => {
  const vectors: [string, string, number, number][] = [
    [
      "contents",
      "d1b2a59fbea7e20077af9f91b27e95e865061b270be03ff539ab3b73587882e8",
      0xfa20045a,
      0x853899ee,
    ],
    [
      "",
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      0x55788e30,
      0x88382b7b,
    ],
    [
      "second file\n",
      "f957b19529906961933c5c30f8713c500a9bb5d9d0695c40d48c97a26a3594ec",
      0x11c95299,
      0xf0f40735,
    ],
  ];
  for (const [content, digest, name1, name2] of vectors) {
    const id = fileIdentity(utf8(content));
    assert.equal(id, digest);
    assert.equal(saltOf(id), Number.parseInt(digest.slice(0, 8), 16));
    assert.equal(objectHash("name1", saltOf(id)), name1);
    assert.equal(objectHash("name2", saltOf(id)), name2);
  }
});

Deno.test("jobIdentity() and outputIdentity() match the PROTOCOL.md job vectors", () => {
  const source = utf8('for path in ["/net/name1", "/net/name2"]:\n    print(open(path).read())\n');
  const job = {
    name: "jobname",
    source,
    outputName: "outputname",
    inputs: [0xfa20045a, 0xf0f40735],
  };
  const cases: [JobFields, string, number, string, number][] = [
    [
      job,
      "ac2579049d3ca05302c4c30202f0a7f4a956dd7bc1039618c922e46c12ca79b5",
      0x8e3895b4,
      "ef1ac719349e3777828b5c672db026eeb3fbf269a20570e5c77063b00f406e55",
      0xee986f3c,
    ],
    [
      { ...job, salt: 0x2a },
      "dda5d681736397c271bf73c71cb4625b59ee178ad1fb69642e46a8541661f0c2",
      0x593023c4,
      "3892170f39d1b511d0ed14a7203278120005bfb987cf3699b45e2c4ec14e5232",
      0x4600bc9a,
    ],
    [
      // Section 3.4's escaping: a name with LF, an output name with a backslash.
      {
        name: "line\nbreak",
        source: utf8("print(1)\n"),
        outputName: "back\\slash",
        inputs: [0x2a],
      },
      "eb9d29f0f643b28293f849b48279d5d9974b1186ccda5d7a0049d96948c232bd",
      0x7d5b11ae,
      "b3c42734d3400950c9b44b7bcec51ff90b18659548d1c55cf25ef1f2665e978b",
      0xde9ac3f8,
    ],
  ];
  for (const [fields, id, hash, outputId, outputHash] of cases) {
    assert.equal(jobIdentity(fields), id);
    assert.equal(objectHash(fields.name, fields.salt ?? saltOf(id)), hash);
    assert.equal(outputIdentity(id), outputId);
    assert.equal(objectHash(fields.outputName, saltOf(outputId)), outputHash);
  }
});

Deno.test("outputIdentity() derives a distinct, stable identity from the job's", () => {
  const id = jobIdentity(base);
  assert.equal(outputIdentity(id), outputIdentity(id));
  assert.equal(outputIdentity(id), sha256Hex("output\n", id));
  assert.notEqual(outputIdentity(id), id);
  assert.notEqual(outputIdentity(id), outputIdentity(jobIdentity({ ...base, name: "other" })));
});
