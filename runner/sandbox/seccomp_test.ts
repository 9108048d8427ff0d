import assert from "node:assert/strict";
import fc from "fast-check";
import {
  deniedSyscalls,
  type Instruction,
  retAllow,
  retErrno,
  retKillProcess,
  seccompFilter,
  seccompInstructions,
} from "./seccomp.ts";

/** Runs the classic BPF subset the filter uses on (arch, nr). */
function evaluate(program: Instruction[], arch: number, nr: number): number {
  let accumulator = 0;
  for (let pc = 0; pc < program.length;) {
    const { code, jt, jf, k } = program[pc]!;
    if (code === 0x20) {
      accumulator = k === 4 ? arch : k === 0 ? nr : NaN;
      pc++;
    } else if (code === 0x15) pc += 1 + (accumulator === k ? jt : jf);
    else if (code === 0x35) pc += 1 + (accumulator >= k ? jt : jf);
    else if (code === 0x06) return k;
    else throw new Error(`Unknown opcode ${code}`);
  }
  throw new Error("Fell off the end of the program");
}

const x8664 = 0xc000003e;
const program = seccompInstructions("x86_64")!;

Deno.test("seccompInstructions() denies each listed call with EPERM", () => {
  for (const [name, nr] of Object.entries(deniedSyscalls)) {
    assert.equal(evaluate(program, x8664, nr), retErrno | 1, name);
  }
});

Deno.test("seccompInstructions() allows every other x86-64 call", () => {
  const denied = new Set(Object.values(deniedSyscalls));
  fc.assert(fc.property(fc.integer({ min: 0, max: 0x3fffffff }), (nr) => {
    assert.equal(evaluate(program, x8664, nr), denied.has(nr) ? retErrno | 1 : retAllow);
  }));
});

Deno.test("seccompInstructions() refuses other ABIs", () => {
  assert.equal(evaluate(program, 0x40000003, /* i386 */ 1), retKillProcess);
  assert.equal(evaluate(program, x8664, 0x40000000 + 101), retErrno | 1);
});

Deno.test("seccompFilter() encodes 8 little-endian bytes per instruction, null off x86-64", () => {
  const bytes = seccompFilter("x86_64")!;
  assert.equal(bytes.length, program.length * 8);
  assert.deepEqual([...bytes.subarray(0, 8)], [0x20, 0, 0, 0, 4, 0, 0, 0]);
  assert.equal(seccompFilter("aarch64"), null);
});
