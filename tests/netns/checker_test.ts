/** The history checker on hand-made histories, including ones it must flag. */

import assert from "node:assert/strict";
import { sha256Hex } from "../../protocol/digest.ts";
import { check, formatViolation, parseOutput } from "./checker.ts";
import { expectedFileHash, History, type NewOp } from "./history.ts";

/** A history builder: times advance by 10 ms per operation unless given. */
function builder() {
  const history = new History();
  let clock = 1_000;
  const base = (over: Partial<NewOp> = {}) => {
    const start = over.start ?? clock;
    const end = over.end ?? start + 5;
    clock = end + 5;
    return {
      client: "c0/0",
      server: "s0",
      outcome: "ok" as const,
      phase: "load" as const,
      start,
      end,
    };
  };
  return {
    history,
    add(text: string, over: Record<string, unknown> = {}) {
      const hash = expectedFileHash("in", text);
      return history.record(
        { ...base(over), kind: "add", name: "in", text, hash, ...over } as NewOp,
      );
    },
    read(hash: string, value: string | undefined, over: Record<string, unknown> = {}) {
      return history.record({
        ...base(over),
        kind: "read",
        hash,
        ...(value === undefined ? { outcome: "fail", error: "not-found" } : { value }),
        ...over,
      } as NewOp);
    },
    submit(name: string, input: string, job: string, output: string, over = {}) {
      return history.record(
        { ...base(over), kind: "submit", name, input, job, output, ...over } as NewOp,
      );
    },
    output(
      job: string,
      output: string,
      value: string | undefined,
      over: Record<string, unknown> = {},
    ) {
      return history.record({
        ...base(over),
        kind: "output",
        job,
        output,
        ...(value === undefined ? { outcome: "unknown", error: "timeout" } : { value }),
        ...over,
      } as NewOp);
    },
  };
}

/** What a run of jobCode prints for `input`. */
function runOutput(token: string, input: string): string {
  const base64 = new TextEncoder().encode(input).toBase64();
  return `run ${token}\nsha ${sha256Hex(input)}\nin ${base64}\n`;
}

/** A clean history: two files, a job on one, a job on that job's output, all read after healing. */
function clean() {
  const b = builder();
  const a = b.add("alpha");
  const c = b.add("gamma", { outcome: "fail", error: "unavailable" });
  b.read(a.kind === "add" ? a.hash : "", "alpha");
  b.read(c.kind === "add" ? c.hash : "", "gamma");
  const hashA = (a as { hash: string }).hash;
  b.submit("j1", hashA, "0000000a", "0000000b");
  const first = runOutput("aaaa", "alpha");
  b.output("0000000a", "0000000b", first);
  b.submit("j2", "0000000b", "0000000c", "0000000d");
  const second = runOutput("cccc", first);
  b.output("0000000c", "0000000d", second);
  b.read(hashA, "alpha", { phase: "final" });
  b.output("0000000a", "0000000b", first, { phase: "final" });
  b.output("0000000c", "0000000d", second, { phase: "final" });
  return { b, hashA, first, second };
}

Deno.test("check() finds nothing wrong in a clean history", () => {
  const { b } = clean();
  const result = check(b.history.ops);
  assert.deepEqual(result.violations, []);
  assert.equal(result.operations, b.history.ops.length);
});

Deno.test("check() flags an acknowledged file not readable after healing", () => {
  const b = builder();
  const add = b.add("kept");
  b.read((add as { hash: string }).hash, undefined, { phase: "final" });
  const result = check(b.history.ops);
  assert.equal(result.violations.length, 1);
  assert.equal(result.violations[0]!.kind, "lost");
  assert.match(result.violations[0]!.message, /not-found/);
});

Deno.test("check() flags an acknowledged file never read after healing", () => {
  const b = builder();
  b.add("unchecked");
  assert.equal(check(b.history.ops).violations[0]?.kind, "lost");
});

Deno.test("check() flags an acknowledged file read back with other content", () => {
  const b = builder();
  const add = b.add("right");
  b.read((add as { hash: string }).hash, "wrong", { phase: "final" });
  const kinds = check(b.history.ops).violations.map((v) => v.kind).sort();
  assert.deepEqual(kinds, ["lost", "phantom"]);
});

Deno.test("check() flags a read of content never written", () => {
  const b = builder();
  const add = b.add("real", { outcome: "unknown" });
  b.read((add as { hash: string }).hash, "invented");
  const result = check(b.history.ops);
  assert.equal(result.violations.length, 1);
  assert.equal(result.violations[0]!.kind, "phantom");
});

Deno.test("check() flags a read that returned content before anyone began writing it", () => {
  const b = builder();
  const hash = expectedFileHash("in", "later");
  b.read(hash, "later", { start: 100, end: 110 });
  b.add("later", { start: 200, end: 210, outcome: "unknown" });
  assert.equal(check(b.history.ops).violations[0]?.kind, "phantom");
});

Deno.test("check() accepts reads of a refused or unanswered write (it may have left copies)", () => {
  const b = builder();
  const add = b.add("partial", { outcome: "fail", error: "unavailable" });
  b.read((add as { hash: string }).hash, "partial");
  assert.deepEqual(check(b.history.ops).violations, []);
});

Deno.test("check() flags a job output made of two runs", () => {
  const { b, first } = clean();
  const blended = first + "run bbbb\n";
  b.output("0000000a", "0000000b", blended);
  const kinds = check(b.history.ops).violations.map((v) => v.kind);
  assert.ok(kinds.includes("not-one-run"), kinds.join());
});

Deno.test("check() flags a job output whose digest does not match what it read", () => {
  const b = builder();
  const add = b.add("alpha");
  const hash = (add as { hash: string }).hash;
  b.read(hash, "alpha", { phase: "final" });
  b.submit("j1", hash, "0000000a", "0000000b");
  const forged = `run aaaa\nsha ${sha256Hex("other")}\nin ${btoa("alpha")}\n`;
  b.output("0000000a", "0000000b", forged, { phase: "final" });
  const violation = check(b.history.ops).violations[0];
  assert.equal(violation?.kind, "not-one-run");
  assert.match(violation!.message, /digest/);
});

Deno.test("check() flags a job output that read content its input never had", () => {
  const b = builder();
  const add = b.add("alpha");
  const hash = (add as { hash: string }).hash;
  b.read(hash, "alpha", { phase: "final" });
  b.submit("j1", hash, "0000000a", "0000000b");
  b.output("0000000a", "0000000b", runOutput("aaaa", "beta"), { phase: "final" });
  const violation = check(b.history.ops).violations[0];
  assert.equal(violation?.kind, "not-one-run");
  assert.match(violation!.message, /never written/);
});

Deno.test("check() flags a job output that changed between two reads", () => {
  const { b, hashA } = clean();
  b.output("0000000a", "0000000b", runOutput("zzzz", "alpha"), { phase: "final" });
  void hashA;
  const violation = check(b.history.ops).violations.find((v) => v.kind === "changed");
  assert.ok(violation);
  assert.match(violation.message, /aaaa.*zzzz|zzzz.*aaaa/);
});

Deno.test("check() flags a dependent that read an output which later changed", () => {
  const b = builder();
  const add = b.add("alpha");
  const hash = (add as { hash: string }).hash;
  b.read(hash, "alpha", { phase: "final" });
  b.submit("j1", hash, "0000000a", "0000000b");
  // The dependent read run "lost" of j1 (its side of a partition), nobody else did;
  // after healing every read of j1's output is run "kept".
  const lost = runOutput("1111", "alpha");
  const kept = runOutput("2222", "alpha");
  b.submit("j2", "0000000b", "0000000c", "0000000d");
  b.output("0000000c", "0000000d", runOutput("3333", lost));
  b.output("0000000a", "0000000b", kept, { phase: "final" });
  b.output("0000000c", "0000000d", runOutput("3333", lost), { phase: "final" });
  const violations = check(b.history.ops).violations;
  assert.deepEqual(violations.map((v) => v.kind), ["changed"]);
  assert.match(violations[0]!.message, /1111.*2222/);
});

Deno.test("check() flags an acknowledged job without a finished output after healing", () => {
  const b = builder();
  const add = b.add("alpha");
  const hash = (add as { hash: string }).hash;
  b.read(hash, "alpha", { phase: "final" });
  b.submit("j1", hash, "0000000a", "0000000b");
  b.output("0000000a", "0000000b", undefined, { phase: "final" });
  const violation = check(b.history.ops).violations[0];
  assert.equal(violation?.kind, "lost");
  assert.match(violation!.message, /timeout/);
});

Deno.test("check() counts acknowledged objects read as not found during faults as anomalies", () => {
  const b = builder();
  const add = b.add("alpha");
  const hash = (add as { hash: string }).hash;
  b.read(hash, undefined);
  b.read(hash, "alpha", { phase: "final" });
  const result = check(b.history.ops);
  assert.deepEqual(result.violations, []);
  assert.deepEqual(result.anomalies, { "acknowledged object read as not-found": 1 });
});

Deno.test("formatViolation() prints the seed, the first violation and the history of its hashes", () => {
  const b = builder();
  const add = b.add("kept");
  const hash = (add as { hash: string }).hash;
  b.add("unrelated", { outcome: "fail" });
  b.read(hash, undefined, { phase: "final" });
  const text = formatViolation(check(b.history.ops), b.history.ops, 4242);
  assert.match(text, /seed 4242/);
  assert.match(text, /lost: acknowledged/);
  assert.match(text, new RegExp(`add ${hash}`));
  assert.doesNotMatch(text, /unrelated/);
});

Deno.test("parseOutput() reads a run's token, digest and input, and rejects other lines", () => {
  const parsed = parseOutput(runOutput("abcd", "x\ny\n"));
  assert.deepEqual(parsed, { runs: ["abcd"], sha: sha256Hex("x\ny\n"), input: "x\ny\n" });
  assert.match(parseOutput("run a\nsha b\n") as string, /no sha or in/);
  assert.match(parseOutput("hello\n") as string, /unexpected line/);
  assert.equal(parseOutput(""), "empty output");
});
