import assert from "node:assert/strict";
import {
  encodeKill,
  parseChildren,
  parseNsPids,
  parseZygoteLine,
  zygoteProgram,
} from "./zygote.ts";

Deno.test("parseZygoteLine() reads ready, child and exit messages", () => {
  assert.deepEqual(parseZygoteLine("R 1"), { kind: "ready", pid: 1 });
  assert.deepEqual(parseZygoteLine("P 3 17"), { kind: "child", seq: 3, pid: 17 });
  assert.deepEqual(parseZygoteLine("X 3 137"), { kind: "exit", seq: 3, exitCode: 137 });
});

Deno.test("parseZygoteLine() rejects anything else", () => {
  const bad = [
    "",
    "R",
    "R 1 2",
    "P 1",
    "P 1 2 3",
    "X 1",
    "X 1 256",
    "X 1 -1",
    "X 1 1.5",
    "R 01x",
    "K 1",
    "R  1",
    "P 1 2 3 4 5",
    "R 99999999999",
    "traceback",
  ];
  for (const line of bad) {
    assert.throws(() => parseZygoteLine(line), /Cannot parse zygote message/, line);
  }
});

Deno.test("encodeKill() names the child", () => {
  assert.equal(new TextDecoder().decode(encodeKill(42)), "K 42\n");
});

Deno.test("parseNsPids() reads the NSpid line, outermost first", () => {
  assert.deepEqual(parseNsPids("Name:\tpypy3\nNSpid:\t4242\t7\nUid:\t0\n"), [4242, 7]);
  assert.deepEqual(parseNsPids("NSpid:\t99\n"), [99]);
  assert.deepEqual(parseNsPids("Name:\tx\n"), []);
});

Deno.test("parseChildren() reads a children file", () => {
  assert.deepEqual(parseChildren("12 345 6 \n"), [12, 345, 6]);
  assert.deepEqual(parseChildren(""), []);
});

Deno.test("zygoteProgram() sets sys.path and the child's CPU limit", () => {
  const program = zygoteProgram(["/usr/lib/pypy3.9"], { cpuSeconds: 2.5 });
  assert.match(program, /sys\.path\[:\] = \["\/usr\/lib\/pypy3\.9"\]/);
  assert.match(program, /_cloud_serve\(3\)/);
});

Deno.test({
  name: "zygoteProgram() is valid Python",
  ignore: Deno.env.get("CLOUD_SKIP_BWRAP") === "1",
  fn: async () => {
    const program = zygoteProgram([], { cpuSeconds: 1 });
    // Compiled only: the program must run as pid 1 of a jail, never on the host.
    const child = new Deno.Command("/usr/bin/python3", {
      args: ["-I", "-S", "-c", "import sys; compile(sys.stdin.read(), 'zygote', 'exec')"],
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(program));
    await writer.close();
    const { success, stderr } = await child.output();
    assert.ok(success, new TextDecoder().decode(stderr));
  },
});
