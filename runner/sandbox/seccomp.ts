/**
 * A seccomp filter (classic BPF) that bubblewrap installs before the
 * interpreter starts. Pure: returns the program's bytes.
 *
 * The jail already runs without capabilities and cannot create user
 * namespaces, so most of these calls would fail anyway; the filter removes
 * kernel attack surface a job has no use for, and closes what capabilities do
 * not: `ptrace` of the jail's own init process (which would let a job stop it
 * and hang the jail until the wall clock), keyrings, BPF, perf events,
 * io_uring and userfaultfd. Denied calls fail with EPERM, so Python sees a
 * normal `OSError`.
 *
 * x86-64 only: on another architecture {@linkcode seccompFilter} returns
 * `null` and the jail runs without the filter. Calls through another ABI,
 * whose numbers would bypass the list, are refused: i386 (`int 0x80`) kills
 * the process, x32 gets EPERM.
 *
 * @module
 */

/** AUDIT_ARCH_X86_64. */
const auditArchX8664 = 0xc000003e;

/** Syscall numbers with this bit set are the x32 ABI. */
const x32SyscallBit = 0x40000000;

/** x86-64 system calls a job may not make, by name. */
export const deniedSyscalls: Readonly<Record<string, number>> = Object.freeze({
  ptrace: 101,
  syslog: 103,
  personality: 135,
  pivot_root: 155,
  acct: 163,
  chroot: 161,
  mount: 165,
  umount2: 166,
  swapon: 167,
  swapoff: 168,
  reboot: 169,
  iopl: 172,
  ioperm: 173,
  init_module: 175,
  delete_module: 176,
  quotactl: 179,
  lookup_dcookie: 212,
  kexec_load: 246,
  add_key: 248,
  request_key: 249,
  keyctl: 250,
  unshare: 272,
  perf_event_open: 298,
  name_to_handle_at: 303,
  open_by_handle_at: 304,
  setns: 308,
  process_vm_readv: 310,
  process_vm_writev: 311,
  finit_module: 313,
  kexec_file_load: 320,
  bpf: 321,
  userfaultfd: 323,
  io_uring_setup: 425,
  io_uring_enter: 426,
  io_uring_register: 427,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  mount_setattr: 442,
});

// Classic BPF opcodes.
const ldAbsWord = 0x20; // BPF_LD | BPF_W | BPF_ABS
const jeqConst = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const jgeConst = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const retConst = 0x06; // BPF_RET | BPF_K

// seccomp return values.
export const retKillProcess = 0x80000000;
export const retAllow = 0x7fff0000;
export const retErrno = 0x00050000;
const eperm = 1;

/** One BPF instruction. */
export interface Instruction {
  readonly code: number;
  readonly jt: number;
  readonly jf: number;
  readonly k: number;
}

/** The filter as instructions (for tests), or `null` off x86-64. */
export function seccompInstructions(arch: string): Instruction[] | null {
  if (arch !== "x86_64") return null;
  const numbers = Object.values(deniedSyscalls);
  const ins = (code: number, k: number, jt = 0, jf = 0): Instruction => ({ code, jt, jf, k });
  const program: Instruction[] = [
    ins(ldAbsWord, 4), // seccomp_data.arch
    ins(jeqConst, auditArchX8664, 1, 0),
    ins(retConst, retKillProcess),
    ins(ldAbsWord, 0), // seccomp_data.nr
  ];
  // Each check jumps to the deny return, which follows the allow return.
  const checks = 1 + numbers.length;
  program.push(ins(jgeConst, x32SyscallBit, checks, 0));
  numbers.forEach((number, i) => program.push(ins(jeqConst, number, checks - 1 - i, 0)));
  program.push(ins(retConst, retAllow), ins(retConst, retErrno | eperm));
  return program;
}

/** The filter's bytes (struct sock_filter[], little-endian), or `null` off x86-64. */
export function seccompFilter(arch: string): Uint8Array | null {
  const program = seccompInstructions(arch);
  if (program === null) return null;
  const bytes = new Uint8Array(program.length * 8);
  const view = new DataView(bytes.buffer);
  program.forEach((instruction, i) => {
    view.setUint16(i * 8, instruction.code, true);
    view.setUint8(i * 8 + 2, instruction.jt);
    view.setUint8(i * 8 + 3, instruction.jf);
    view.setUint32(i * 8 + 4, instruction.k, true);
  });
  return bytes;
}
