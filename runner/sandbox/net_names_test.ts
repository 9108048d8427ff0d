import assert from "node:assert/strict";
import fc from "fast-check";
import { planNetEntries, unsafeNameReason } from "./net_names.ts";

Deno.test("unsafeNameReason() accepts plain and nested relative names", () => {
  for (const name of ["a", "data.csv", "a/b/c", ".hidden", "..dots", "a b", "ünï"]) {
    assert.equal(unsafeNameReason(name), null, name);
  }
});

Deno.test("unsafeNameReason() rejects names that could leave /net", () => {
  const cases: Record<string, RegExp> = {
    "": /empty/,
    ".": /"\." segment/,
    "..": /"\.\." segment/,
    "../x": /"\.\." segment/,
    "a/../../x": /"\.\." segment/,
    "/etc/passwd": /absolute/,
    "a//b": /empty segment/,
    "a/": /empty segment/,
    "a/./b": /"\." segment/,
    "nul\0": /NUL/,
    ["x".repeat(256)]: /longer than 255/,
  };
  for (const [name, why] of Object.entries(cases)) {
    assert.match(unsafeNameReason(name) ?? "", why, name);
  }
});

Deno.test("planNetEntries() keeps the last input of a name", () => {
  const plan = planNetEntries([
    { name: "a", path: "/1" },
    { name: "b", path: "/2" },
    { name: "a", path: "/3" },
  ]);
  assert.deepEqual(plan.entries.map((e) => [e.name, e.path]), [["a", "/3"], ["b", "/2"]]);
  assert.deepEqual(plan.skipped, []);
});

Deno.test("planNetEntries() skips a name that conflicts with an earlier file or directory", () => {
  const plan = planNetEntries([
    { name: "a", path: "/1" },
    { name: "a/b", path: "/2" },
    { name: "c/d", path: "/3" },
    { name: "c", path: "/4" },
  ]);
  assert.deepEqual(plan.entries.map((e) => e.name), ["a", "c/d"]);
  assert.deepEqual(plan.skipped.map((s) => s.name), ["a/b", "c"]);
  assert.deepEqual(plan.entries[1]?.segments, ["c", "d"]);
});

Deno.test("planNetEntries() never plans a path outside /net", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          name: fc.string({ unit: fc.constantFrom("a", "/", ".", "\0", "b") }),
          path: fc.constant("/p"),
        }),
      ),
      (inputs) => {
        const plan = planNetEntries(inputs);
        for (const entry of plan.entries) {
          assert.ok(!entry.name.startsWith("/"));
          assert.ok(
            entry.segments.every((s) => s !== "" && s !== "." && s !== ".." && !s.includes("\0")),
          );
        }
        assert.equal(new Set(plan.entries.map((e) => e.name)).size, plan.entries.length);
      },
    ),
  );
});
