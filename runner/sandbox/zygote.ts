/**
 * The fork server ("zygote") of the bubblewrap backend's fork mode: the
 * Python program that runs as pid 1 of a long-lived jail, and the control
 * messages between it and the runner. Pure: text in, text out.
 *
 * The zygote never runs job code and never reads a job's source, input or
 * output bytes. It keeps one child forked ahead of time; the child waits on a
 * pipe of its own (its stdin) for its job, its stdout and stderr new pipes.
 * The runner moves the child into the job's cgroups and opens the other ends
 * of those pipes through `/proc/<child>/fd/0`, `1` and `2` (the child holds
 * nothing else by then, and makes itself dumpable so that a runner of any uid
 * may), then writes the job frame into the source pipe. Standard output and
 * standard error go from the job straight to the runner.
 *
 * Control lines, zygote → runner (its standard output):
 *
 * - `R <pid>`: started; `<pid>` is its own pid in the jail (1).
 * - `P <seq> <pid>`: child `<seq>` (1, 2, …) is forked, set up and waiting;
 *   `<pid>` is its pid in the jail. The zygote keeps the write end of the child's
 *   source pipe open until the child ends, so the child cannot see the end of
 *   its input before the runner has opened the pipe.
 * - `X <seq> <status>`: child `<seq>` ended with `<status>` (its exit status,
 *   or 128 + n after signal n) and every other process of the jail is dead
 *   and reaped. The zygote then forks the next child.
 *
 * Runner → zygote (its standard input): `K <seq>` kills every process of the
 * jail but the zygote (if child `<seq>` is the current one). End of input
 * makes the zygote kill everything and exit.
 *
 * @module
 */

import { pythonPrelude } from "./bootstrap.ts";

/** The limit each child sets on itself before job code (the others it inherits). */
export interface ChildLimits {
  readonly cpuSeconds: number;
}

/** Status a child exits with when it could not set itself up (not a job status). */
export const childSetupFailureStatus = 125;

/**
 * The zygote's `-c` program. Runs with `-I -S -B` as pid 1 of the jail's pid
 * namespace (bubblewrap `--as-pid-1`): signals from inside the namespace
 * reach it only where it installed a handler (SIGCHLD alone), so a job cannot
 * kill or stop it. It makes itself non-dumpable, so a job cannot open its
 * `/proc/1/mem` or `/proc/1/fd/*` (its control pipes). Each child, before
 * running job code: restores the signal dispositions a fresh interpreter
 * has, closes every descriptor but its three pipes (the zygote's included),
 * becomes dumpable again (like any new process), reads its job (then stdin
 * is `/dev/null`), sets RLIMIT_CPU (the other limits, RLIMIT_AS,
 * RLIMIT_NPROC, RLIMIT_FSIZE and RLIMIT_CORE, were set on the zygote by
 * `prlimit` and are inherited), and runs the job as `__main__` exactly as
 * the one-job bootstrap does. It exits as a fresh interpreter would (threads
 * joined, atexit callbacks run, streams flushed) without tearing the
 * interpreter down.
 */
export function zygoteProgram(sysPath: readonly string[], limits: ChildLimits): string {
  const cpu = Math.max(1, Math.ceil(limits.cpuSeconds));
  return [
    ...pythonPrelude(sysPath),
    zygoteFunctions,
    `_cloud_finish(_cloud_run(_cloud_serve(${cpu})))`,
    "",
  ].join("\n");
}

/**
 * `_cloud_serve(limits)` returns only in a child, with the job's source;
 * the zygote itself loops until its standard input ends.
 */
const zygoteFunctions = `
def _cloud_libc():
    # prctl(2), and close_range(2) where the C library has it (else None).
    try:
        import _cffi_backend as backend
    except ImportError:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        ulong, uint = ctypes.c_ulong, ctypes.c_uint
        prctl = lambda option, value: libc.prctl(option, ulong(value), ulong(0), ulong(0), ulong(0))
        close_range = getattr(libc, "close_range", None)
        if close_range is None:
            return prctl, None
        return prctl, lambda first: close_range(uint(first), uint(0xFFFFFFFF), 0)
    ulong = backend.new_primitive_type("unsigned long")
    uint = backend.new_primitive_type("unsigned int")
    sint = backend.new_primitive_type("int")
    library = backend.load_library(None)
    prctl_function = library.load_function(
        backend.new_function_type((sint, ulong, ulong, ulong, ulong), sint, False), "prctl")
    prctl = lambda option, value: prctl_function(option, value, 0, 0, 0)
    try:
        close_range = library.load_function(
            backend.new_function_type((uint, uint, sint), sint, False), "close_range")
    except AttributeError:
        return prctl, None
    return prctl, lambda first: close_range(first, 0xFFFFFFFF, 0)

def _cloud_close_from(first, close_range):
    if close_range is not None and close_range(first) == 0:
        return
    for fd in os.listdir("/proc/self/fd"):
        if int(fd) >= first:
            try:
                os.close(int(fd))
            except OSError:
                pass

def _cloud_send(fd, text):
    data = (text + "\\n").encode()
    while data:
        data = data[os.write(fd, data):]

def _cloud_status(status):
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 255

def _cloud_kill_all(signal):
    # As pid 1, kill(-1) reaches every other process of the namespace. The
    # kernel takes the task list lock for it, and a process with SIGKILL
    # pending cannot fork, so no descendant escapes; every orphan becomes our
    # child, so waiting until ECHILD means nothing else is left.
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return

def _cloud_on_signal(number, frame):
    pass

def _cloud_finish(status):
    # What the exit of a fresh interpreter does that a job can observe: wait
    # for its non-daemon threads, run its atexit callbacks, flush stdout and
    # stderr. The rest of finalization (tearing down modules and objects) is
    # skipped, as the process is discarded: it costs 1-3 ms per job. (Imports
    # are local: the job's globals replaced the bootstrap's.)
    import os, sys
    threading = sys.modules.get("threading")
    if threading is not None:
        try:
            threading._shutdown()
        except BaseException:
            pass
    atexit = sys.modules.get("atexit")
    if atexit is not None:
        try:
            atexit._run_exitfuncs()
        except BaseException:
            pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    os._exit(status)

def _cloud_child(out_w, err_w, src_r, ready_w, cpu, resource, libc):
    prctl, close_range = libc
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    os.dup2(src_r, 0)
    os.dup2(ready_w, 3)
    _cloud_close_from(4, close_range)
    # Only its own pipes left (and no other process in the jail): the runner
    # may now open them through /proc/<pid>/fd, whatever its uid. Closing the
    # ready pipe tells the zygote so.
    if prctl(4, 1) != 0:
        raise OSError("PR_SET_DUMPABLE failed")
    os.close(3)
    data = b""
    while b"\\n" not in data:
        chunk = os.read(0, 65536)
        if not chunk:
            os._exit(0)
        data += chunk
    header, _, body = data.partition(b"\\n")
    size = int(header)
    parts = [body]
    have = len(body)
    while have < size:
        chunk = os.read(0, min(size - have, 1 << 20))
        if not chunk:
            os._exit(0)
        parts.append(chunk)
        have += len(chunk)
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    # RLIMIT_AS, RLIMIT_NPROC, RLIMIT_FSIZE and RLIMIT_CORE are the zygote's,
    # inherited; RLIMIT_CPU is per process and must start with the child.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    return b"".join(parts)[:size]

def _cloud_wait(state, seq, pid, select):
    control_in, wake_r = state["control_in"], state["wake_r"]
    status = None
    while status is None:
        ready = select.select([control_in, wake_r], [], [])[0]
        if wake_r in ready:
            try:
                os.read(wake_r, 4096)
            except BlockingIOError:
                pass
        if control_in in ready:
            data = os.read(control_in, 4096)
            if not data:
                return None
            state["pending"] += data
            while b"\\n" in state["pending"]:
                line, _, state["pending"] = state["pending"].partition(b"\\n")
                if line == b"K %d" % seq:
                    try:
                        os.kill(-1, 9)
                    except OSError:
                        pass
        while True:
            try:
                reaped, code = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if reaped == 0:
                break
            if reaped == pid:
                status = _cloud_status(code)
    return status

def _cloud_serve(cpu):
    import gc, select, signal, resource
    libc = _cloud_libc()
    prctl = libc[0]
    if prctl(4, 0) != 0 or prctl(3, 0) != 0:
        os.write(2, b"cloud-sandbox: cannot make the zygote non-dumpable\\n")
        os._exit(${childSetupFailureStatus})
    state = {"control_in": os.dup(0), "pending": b""}
    control_out = os.dup(1)
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    wake_r, wake_w = os.pipe()
    state["wake_r"] = wake_r
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, _cloud_on_signal)
    signal.set_wakeup_fd(wake_w)
    if hasattr(gc, "freeze"):
        # CPython: children never scan what exists now, so they copy less of it.
        gc.collect()
        gc.freeze()
    _cloud_send(control_out, "R %d" % os.getpid())
    seq = 0
    while True:
        seq += 1
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        src_r, src_w = os.pipe()
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                del state
                return _cloud_child(out_w, err_w, src_r, ready_w, cpu, resource, libc)
            except BaseException as error:
                try:
                    os.write(2, ("cloud-sandbox: cannot set up the job: %r\\n" % (error,)).encode())
                finally:
                    os._exit(${childSetupFailureStatus})
        for fd in (out_r, out_w, err_r, err_w, src_r, ready_w):
            os.close(fd)
        # Announced once set up (or dead): the end of the ready pipe says so.
        while os.read(ready_r, 1):
            pass
        os.close(ready_r)
        _cloud_send(control_out, "P %d %d" % (seq, pid))
        status = _cloud_wait(state, seq, pid, select)
        _cloud_kill_all(signal)
        if status is None:
            os._exit(0)
        os.close(src_w)
        _cloud_send(control_out, "X %d %d" % (seq, status))
`;

/** A control line from the zygote. */
export type ZygoteMessage =
  | { readonly kind: "ready"; readonly pid: number }
  | {
    readonly kind: "child";
    readonly seq: number;
    /** The child's pid inside the jail. */
    readonly pid: number;
  }
  | { readonly kind: "exit"; readonly seq: number; readonly exitCode: number };

/** Longest control line the zygote sends (they are a few numbers). */
export const zygoteLineBytesMax = 256;

/**
 * Parses one control line (without its newline). Throws `Error` for anything
 * that is not exactly one of the messages above.
 */
export function parseZygoteLine(line: string): ZygoteMessage {
  const fields = line.split(" ");
  const numbers = fields.slice(1).map((field) => /^\d{1,10}$/.test(field) ? Number(field) : NaN);
  const valid = numbers.every((n) => Number.isSafeInteger(n));
  const [a, b] = numbers as [number, number];
  if (valid && fields[0] === "R" && numbers.length === 1) return { kind: "ready", pid: a };
  if (valid && fields[0] === "P" && numbers.length === 2) return { kind: "child", seq: a, pid: b };
  if (valid && fields[0] === "X" && numbers.length === 2 && b <= 255) {
    return { kind: "exit", seq: a, exitCode: b };
  }
  throw new Error(`Cannot parse zygote message: ${JSON.stringify(line.slice(0, 80))}`);
}

/** The line that asks the zygote to kill child `seq` and all its processes. */
export function encodeKill(seq: number): Uint8Array {
  return new TextEncoder().encode(`K ${seq}\n`);
}

/**
 * The pids of a process in each pid namespace it belongs to, outermost first,
 * from the `NSpid:` line of its `/proc/<pid>/status`; empty if absent.
 */
export function parseNsPids(status: string): number[] {
  const match = /^NSpid:\s*(.*)$/m.exec(status);
  if (match === null) return [];
  return match[1]!.trim().split(/\s+/).map(Number).filter((n) => Number.isSafeInteger(n) && n > 0);
}

/** The pids listed in a `/proc/<pid>/task/<tid>/children` file. */
export function parseChildren(text: string): number[] {
  return text.trim().split(/\s+/).filter((field) => /^\d+$/.test(field)).map(Number);
}
