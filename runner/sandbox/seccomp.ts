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
 * Two kinds of call are refused for what they leave behind or reach:
 *
 * - SysV IPC (shared memory, semaphores, message queues) and POSIX message
 *   queues. Their objects belong to the IPC namespace and outlive the process
 *   that made them; a fork-mode jail's jobs share one namespace (its zygote,
 *   without capabilities, cannot make a new one per job), so a job could
 *   leave data or hundreds of megabytes of memory to the next. Python's own
 *   shared memory and semaphores use files in `/dev/shm` instead, which is
 *   read-only in the jail.
 * - Sockets of any family but `AF_UNIX`, `AF_INET` and `AF_INET6` (`socket`
 *   and `socketpair` fail with EAFNOSUPPORT, as for a family the kernel
 *   lacks): no netlink, packet, vsock (the VM's host), Bluetooth, crypto
 *   (`AF_ALG`) or other protocol code is reachable. The network namespace
 *   gives the inet families nothing but loopback. The kernel reads the family
 *   as an `int`, so the filter compares the low 32 bits of the argument.
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
  shmget: 29,
  shmat: 30,
  shmctl: 31,
  semget: 64,
  semop: 65,
  semctl: 66,
  shmdt: 67,
  msgget: 68,
  msgsnd: 69,
  msgrcv: 70,
  msgctl: 71,
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
  semtimedop: 220,
  mq_open: 240,
  mq_unlink: 241,
  mq_timedsend: 242,
  mq_timedreceive: 243,
  mq_notify: 244,
  mq_getsetattr: 245,
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

/** x86-64 calls whose first argument is a socket family. */
export const socketSyscalls: Readonly<Record<string, number>> = Object.freeze({
  socket: 41,
  socketpair: 53,
});

/** The socket families a job may use: `AF_UNIX`, `AF_INET`, `AF_INET6`. */
export const allowedSocketFamilies: readonly number[] = Object.freeze([1, 2, 10]);

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
const eafnosupport = 97;

/** Offsets into `struct seccomp_data`. */
const archOffset = 4;
const nrOffset = 0;
/** The low 32 bits of `args[0]` (little-endian). */
const firstArgumentOffset = 16;

/** One BPF instruction. */
export interface Instruction {
  readonly code: number;
  readonly jt: number;
  readonly jf: number;
  readonly k: number;
}

/**
 * The filter as instructions (for tests), or `null` off x86-64. Layout:
 * the architecture check; the call number, whose checks jump forward to the
 * family check (`socket`, `socketpair`) or the EPERM return; the allow
 * return; the family check, which jumps to a second allow return or falls
 * through to EAFNOSUPPORT; the EPERM return.
 */
export function seccompInstructions(arch: string): Instruction[] | null {
  if (arch !== "x86_64") return null;
  const denied = Object.values(deniedSyscalls);
  const sockets = Object.values(socketSyscalls);
  const ins = (code: number, k: number, jt = 0, jf = 0): Instruction => ({ code, jt, jf, k });
  const program: Instruction[] = [
    ins(ldAbsWord, archOffset),
    ins(jeqConst, auditArchX8664, 1, 0),
    ins(retConst, retKillProcess),
    ins(ldAbsWord, nrOffset),
  ];
  const familyBlock = [
    ins(ldAbsWord, firstArgumentOffset),
    ...allowedSocketFamilies.map((family, i) =>
      ins(jeqConst, family, allowedSocketFamilies.length - i, 0)
    ),
    ins(retConst, retErrno | eafnosupport),
    ins(retConst, retAllow),
  ];
  // Instructions after each check up to its targets: the checks left, the
  // allow return, then the family block, then the deny return.
  const checks = [x32SyscallBit, ...sockets, ...denied];
  checks.forEach((k, i) => {
    const after = checks.length - 1 - i;
    const toFamily = after + 1;
    const toDeny = toFamily + familyBlock.length;
    if (i === 0) program.push(ins(jgeConst, k, toDeny, 0));
    else if (i <= sockets.length) program.push(ins(jeqConst, k, toFamily, 0));
    else program.push(ins(jeqConst, k, toDeny, 0));
  });
  program.push(ins(retConst, retAllow), ...familyBlock, ins(retConst, retErrno | eperm));
  if (program.some((instruction) => instruction.jt > 255)) {
    throw new Error("seccompInstructions(): a jump is too long (programmer error)");
  }
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
