/**
 * The bubblewrap command line for one jailed interpreter. Pure: host facts
 * (which top-level paths are symlinks, where the interpreter lives) come in
 * as data, argv comes out.
 *
 * What the jail is, flag by flag:
 *
 * - `--unshare-all --unshare-user --disable-userns`: new user, mount, pid,
 *   network, IPC, UTS and cgroup namespaces; the job cannot create further
 *   user namespaces (so it can never gain capabilities to mount or unshare).
 *   The network namespace has only a loopback device of its own: no network.
 * - `--uid 65534 --gid 65534 --cap-drop ALL`: the job is "nobody" inside,
 *   without capabilities (bwrap run as root would otherwise keep them).
 * - `--seccomp FD`: a filter denying system calls a job has no use for
 *   (`ptrace`, keyrings, BPF, io_uring, mount family; see `seccomp.ts`).
 * - `--die-with-parent`: the jail dies when the runner does. `--new-session`:
 *   no terminal to push keystrokes into.
 * - `--clearenv` and a fixed `PATH`/`LANG`/`HOME`: nothing of the runner's
 *   environment (tokens, secrets) is visible.
 * - Read-only binds of `/usr` (and `/lib`, `/lib64`, `/bin`, `/sbin` as on
 *   the host: symlinks into `/usr` on merged-usr systems) and of
 *   `/etc/ld.so.cache` only: not `/etc`, `/home`, `/root`, `/tmp`, `/run`,
 *   `/var` or the runner's working directory. A fresh `/proc` for the pid
 *   namespace, a minimal `/dev`, an empty read-only `/tmp` (so writes there
 *   fail with EROFS, not ENOENT).
 * - `/net`: the inputs, read-only.
 * - `--remount-ro /dev` and `--remount-ro /`: nothing is writable (`/dev/null`
 *   still accepts writes: device nodes ignore the read-only mount).
 * - Inside, `prlimit` sets RLIMIT_CPU, RLIMIT_AS, RLIMIT_NPROC, RLIMIT_FSIZE
 *   (0: no file may grow) and RLIMIT_CORE (0) before the interpreter starts.
 * - A zygote jail (fork mode, see `zygote.ts`) differs in two flags only:
 *   `--as-pid-1` makes the interpreter pid 1 of the pid namespace (no
 *   bubblewrap init), and `prlimit` sets every limit but RLIMIT_CPU, which
 *   would count the zygote's whole life: each forked child inherits the
 *   others and sets RLIMIT_CPU on itself before job code.
 * - The interpreter runs with `-I` (isolated: no user site, no `PYTHON*`
 *   variables), `-S` (no site import: halves PyPy's start-up), `-B` (no
 *   `.pyc` writes).
 *
 * @module
 */

import type { NetEntry } from "./net_names.ts";
import type { SandboxLimits } from "./sandbox.ts";

/** What a top-level host directory is: absent, a directory, or a symlink. */
export type HostPathKind =
  | { readonly kind: "absent" }
  | { readonly kind: "directory" }
  | { readonly kind: "symlink"; readonly target: string };

/** Facts about the host the command line depends on. */
export interface HostLayout {
  /** `/lib`, `/lib64`, `/bin`, `/sbin` as found on the host. */
  readonly topLevel: Readonly<Record<string, HostPathKind>>;
  /** `/etc/ld.so.cache` exists (the dynamic loader finds libraries faster). */
  readonly hasLdSoCache: boolean;
  /**
   * Extra directories to bind read-only at the same path, e.g. the prefix of
   * an interpreter installed outside `/usr`.
   */
  readonly extraReadOnly: readonly string[];
}

/** Where `/net` comes from. */
export type NetSource =
  /** Bind each entry's host file at `/net/<name>` (a sandbox started for one job). */
  | { readonly kind: "files"; readonly entries: readonly NetEntry[] }
  /** Bind this host directory as `/net` (a sandbox started ahead of its job). */
  | { readonly kind: "directory"; readonly path: string };

/** Everything the command line needs. */
export interface BwrapCommand {
  readonly bwrapPath: string;
  readonly prlimitPath: string;
  readonly pythonPath: string;
  readonly program: string;
  readonly limits: SandboxLimits;
  readonly layout: HostLayout;
  readonly net: NetSource;
  /** File descriptor bwrap reads a seccomp filter from (see `seccomp.ts`), or null. */
  readonly seccompFd: number | null;
  /** A zygote jail (fork mode): the interpreter is pid 1 and sets per-job limits itself. */
  readonly zygote?: boolean;
}

/** Uid and gid of the job inside its user namespace ("nobody"). */
export const jobUid = 65534;

/**
 * Returns argv (program first) that starts bubblewrap, then `prlimit`, then
 * the interpreter running `program`.
 */
export function bwrapArgv(command: BwrapCommand): string[] {
  return [
    command.bwrapPath,
    ...namespaceArgs(),
    ...(command.zygote === true ? ["--as-pid-1"] : []),
    ...(command.seccompFd === null ? [] : ["--seccomp", String(command.seccompFd)]),
    ...environmentArgs(),
    ...filesystemArgs(command.layout),
    ...netArgs(command.net),
    "--remount-ro",
    "/dev",
    "--remount-ro",
    "/",
    "--chdir",
    "/",
    "--",
    ...(command.zygote === true
      ? zygotePrlimitArgs(command.prlimitPath, command.limits)
      : prlimitArgs(command.prlimitPath, command.limits)),
    command.pythonPath,
    "-I",
    "-S",
    "-B",
    "-c",
    command.program,
  ];
}

function namespaceArgs(): string[] {
  return [
    "--unshare-all",
    "--unshare-user",
    "--disable-userns",
    "--uid",
    String(jobUid),
    "--gid",
    String(jobUid),
    "--cap-drop",
    "ALL",
    "--hostname",
    "job",
    "--die-with-parent",
    "--new-session",
  ];
}

function environmentArgs(): string[] {
  return [
    "--clearenv",
    "--setenv",
    "PATH",
    "/usr/bin:/bin",
    "--setenv",
    "LANG",
    "C.UTF-8",
    "--setenv",
    "HOME",
    "/",
  ];
}

function filesystemArgs(layout: HostLayout): string[] {
  const args = ["--ro-bind", "/usr", "/usr"];
  for (const [path, found] of Object.entries(layout.topLevel)) {
    if (found.kind === "symlink") args.push("--symlink", found.target, path);
    if (found.kind === "directory") args.push("--ro-bind", path, path);
  }
  if (layout.hasLdSoCache) args.push("--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache");
  for (const path of layout.extraReadOnly) args.push("--ro-bind", path, path);
  args.push("--proc", "/proc", "--dev", "/dev", "--dir", "/tmp");
  return args;
}

function netArgs(net: NetSource): string[] {
  if (net.kind === "directory") return ["--ro-bind", net.path, "/net"];
  const args = ["--dir", "/net"];
  for (const entry of net.entries) args.push("--ro-bind", entry.path, `/net/${entry.name}`);
  return args;
}

/** RLIMIT_CPU soft limit sends SIGXCPU; the hard limit a second later kills. */
function prlimitArgs(prlimitPath: string, limits: SandboxLimits): string[] {
  const cpu = Math.max(1, Math.ceil(limits.cpuSeconds));
  return [
    prlimitPath,
    `--cpu=${cpu}:${cpu + 1}`,
    `--as=${limits.memoryBytes}`,
    `--nproc=${limits.processes}`,
    "--fsize=0",
    "--core=0",
    "--",
  ];
}

/** The zygote's limits: all but RLIMIT_CPU, for its whole life and every child's. */
function zygotePrlimitArgs(prlimitPath: string, limits: SandboxLimits): string[] {
  return [
    prlimitPath,
    `--as=${limits.memoryBytes}`,
    `--nproc=${limits.processes}`,
    "--fsize=0",
    "--core=0",
    "--",
  ];
}
