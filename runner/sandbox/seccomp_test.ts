import assert from "node:assert/strict";
import fc from "fast-check";
import {
  allowedSocketFamilies,
  deniedSyscalls,
  type Instruction,
  retAllow,
  retErrno,
  retKillProcess,
  seccompFilter,
  seccompInstructions,
  socketSyscalls,
} from "./seccomp.ts";

/** Runs the classic BPF subset the filter uses on (arch, nr, low word of args[0]). */
function evaluate(program: Instruction[], arch: number, nr: number, first = 0): number {
  let accumulator = 0;
  for (let pc = 0; pc < program.length;) {
    const { code, jt, jf, k } = program[pc]!;
    if (code === 0x20) {
      accumulator = k === 4 ? arch : k === 0 ? nr : k === 16 ? first : NaN;
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

Deno.test("seccompInstructions() denies SysV IPC and POSIX message queues", () => {
  for (
    const nr of [29, 30, 31, 64, 65, 66, 67, 68, 69, 70, 71, 220, 240, 241, 242, 243, 244, 245]
  ) {
    assert.equal(evaluate(program, x8664, nr), retErrno | 1, String(nr));
  }
});

Deno.test("seccompInstructions() allows every other x86-64 call", () => {
  const decided = new Set([...Object.values(deniedSyscalls), ...Object.values(socketSyscalls)]);
  fc.assert(fc.property(fc.integer({ min: 0, max: 0x3fffffff }), (nr) => {
    fc.pre(!decided.has(nr));
    assert.equal(evaluate(program, x8664, nr), retAllow);
  }));
});

Deno.test("seccompInstructions() allows only unix and inet socket families", () => {
  const eafnosupport = retErrno | 97;
  for (const nr of Object.values(socketSyscalls)) {
    for (const family of [1, 2, 10]) assert.equal(evaluate(program, x8664, nr, family), retAllow);
    // AF_UNSPEC, AF_NETLINK, AF_PACKET, AF_ALG, AF_VSOCK, AF_BLUETOOTH, AF_XDP, AF_MAX.
    for (const family of [0, 16, 17, 38, 40, 31, 44, 46]) {
      assert.equal(evaluate(program, x8664, nr, family), eafnosupport, String(family));
    }
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (family) => {
      const allowed = allowedSocketFamilies.includes(family);
      assert.equal(evaluate(program, x8664, nr, family), allowed ? retAllow : eafnosupport);
    }));
  }
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
