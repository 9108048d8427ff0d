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
 * - `--clearenv` and a fixed `PATH`/`LANG`/`HOME`, plus the interpreter's
 *   own settings (PyPy's GC sizes, see `jail_python.ts`): nothing of the
 *   runner's environment (tokens, secrets) is visible.
 * - Read-only binds of `/usr` (and `/lib`, `/lib64`, `/bin`, `/sbin` as on
 *   the host: symlinks into `/usr` on merged-usr systems) and of
 *   `/etc/ld.so.cache` and `/etc/alternatives` only: not all of `/etc`,
 *   `/home`, `/root`, `/tmp`, `/run`, `/var` or the runner's working
 *   directory (an interpreter installed elsewhere gets its prefix bound, and
 *   extra package directories are bound read-only at their own paths). A fresh `/proc` for the pid
 *   namespace, a minimal `/dev`, an empty read-only `/tmp` (so writes there
 *   fail with EROFS, not ENOENT).
 * - `/net`: the inputs, read-only.
 * - `--remount-ro /dev` and `--remount-ro /`: nothing is writable (`/dev/null`
 *   still accepts writes: device nodes ignore the read-only mount).
 * - Inside, `prlimit` sets RLIMIT_CPU, RLIMIT_AS (the job's memory limit on
 *   top of the interpreter's own footprint), RLIMIT_NPROC, RLIMIT_FSIZE (0:
 *   no file may grow) and RLIMIT_CORE (0) before the interpreter starts.
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
  /**
   * The files of `/etc` the jail gets (those of {@linkcode jailEtcPaths} the
   * host has).
   */
  readonly etcPaths: readonly string[];
  /**
   * Extra directories to bind read-only at the same path: the prefix of an
   * interpreter installed outside `/usr`, extra package directories.
   */
  readonly extraReadOnly: readonly string[];
  /**
   * A host file shown as the jail's `/proc/cpuinfo`, or null for the real
   * one. Tests use it to stand for another CPU (PyPy reads its cache size
   * there).
   */
  readonly procCpuinfo: string | null;
}

/**
 * The only parts of `/etc` a jail sees: the dynamic loader's cache (it finds
 * libraries faster) and Debian's alternatives, symlinks that libraries such
 * as `libblas.so.3` (NumPy's) are reached through. Neither holds secrets.
 */
export const jailEtcPaths = ["/etc/ld.so.cache", "/etc/alternatives"] as const;

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
  /** The CPU time and process limits (memory is `addressSpaceBytes`). */
  readonly limits: SandboxLimits;
  /** RLIMIT_AS of the jail's processes, or null for none (the probe). */
  readonly addressSpaceBytes: number | null;
  /** Variables set in the jail besides `PATH`, `LANG` and `HOME`. */
  readonly environment: Readonly<Record<string, string>>;
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
    ...environmentArgs(command.environment),
    ...filesystemArgs(command.layout),
    ...netArgs(command.net),
    "--remount-ro",
    "/dev",
    "--remount-ro",
    "/",
    "--chdir",
    "/",
    "--",
    ...prlimitArgs(command),
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

function environmentArgs(environment: Readonly<Record<string, string>>): string[] {
  const extra = Object.entries(environment).flatMap(([name, value]) => ["--setenv", name, value]);
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
    ...extra,
  ];
}

function filesystemArgs(layout: HostLayout): string[] {
  const args = ["--ro-bind", "/usr", "/usr"];
  for (const [path, found] of Object.entries(layout.topLevel)) {
    if (found.kind === "symlink") args.push("--symlink", found.target, path);
    if (found.kind === "directory") args.push("--ro-bind", path, path);
  }
  for (const path of layout.etcPaths) args.push("--ro-bind", path, path);
  args.push("--proc", "/proc", "--dev", "/dev", "--dir", "/tmp");
  if (layout.procCpuinfo !== null) args.push("--ro-bind", layout.procCpuinfo, "/proc/cpuinfo");
  for (const path of layout.extraReadOnly) args.push("--ro-bind", path, path);
  return args;
}

function netArgs(net: NetSource): string[] {
  if (net.kind === "directory") return ["--ro-bind", net.path, "/net"];
  const args = ["--dir", "/net"];
  for (const entry of net.entries) args.push("--ro-bind", entry.path, `/net/${entry.name}`);
  return args;
}

/**
 * RLIMIT_CPU's soft limit sends SIGXCPU, the hard limit a second later kills.
 * A zygote gets every limit but RLIMIT_CPU, for its whole life and every
 * child's (each child sets RLIMIT_CPU on itself).
 */
function prlimitArgs(command: BwrapCommand): string[] {
  const cpu = Math.max(1, Math.ceil(command.limits.cpuSeconds));
  return [
    command.prlimitPath,
    ...(command.zygote === true ? [] : [`--cpu=${cpu}:${cpu + 1}`]),
    ...(command.addressSpaceBytes === null ? [] : [`--as=${command.addressSpaceBytes}`]),
    `--nproc=${command.limits.processes}`,
    "--fsize=0",
    "--core=0",
    "--",
  ];
}
