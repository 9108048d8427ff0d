/**
 * The hostile suite's cases that reach for kernel interfaces a job has no use
 * for and that would outlive it or reach past the jail: SysV and POSIX IPC,
 * socket families beyond unix and inet, and what `/proc/self/mountinfo`
 * tells about the host.
 *
 * @module
 */

import assert from "node:assert/strict";
import { assertStillRuns, assertSuccess, runJob, withTempDir } from "./_suite_helpers.ts";
import { host, type HostileCase, py } from "./hostile_host.ts";
import { deniedSyscalls } from "./seccomp.ts";

/** Socket families a job may open: AF_UNIX, AF_INET, AF_INET6. */
const allowedFamilies = new Set([1, 2, 10]);

/**
 * Families to try, by number: the allowed three, then AF_UNSPEC, AF_NETLINK,
 * AF_PACKET, AF_KEY, AF_RDS, AF_CAN, AF_TIPC, AF_BLUETOOTH, AF_ALG, AF_VSOCK,
 * AF_QIPCRTR, AF_SMC, AF_XDP, AF_MCTP.
 */
const families = [1, 2, 10, 0, 16, 17, 15, 21, 29, 30, 31, 38, 40, 42, 43, 44, 45];

/** The cases that reach for kernel interfaces. */
export const kernelCases: HostileCase[] = [
  {
    name: "Sandbox.run() refuses SysV IPC and POSIX message queues",
    run: async (sandbox) => {
      const ran = await runJob(
        sandbox,
        [
          "try:",
          "    import ctypes",
          "    libc = ctypes.CDLL(None, use_errno=True)",
          "    libc.shmget",
          "except Exception as error:",
          "    print('no ctypes', type(error).__name__)",
          "    raise SystemExit(0)",
          "attempts = {",
          "    'shm': lambda: libc.shmget(0x636c6f75, 4096, 0o1600),",
          "    'private shm': lambda: libc.shmget(0, 4096, 0o1600),",
          "    'msg': lambda: libc.msgget(0x636c6f76, 0o1600),",
          "    'sem': lambda: libc.semget(0x636c6f77, 1, 0o1600),",
          "    'mq': lambda: libc.mq_open(b'/cloud-hostile', 0o102, 0o600, None),",
          "}",
          "for name, attempt in attempts.items():",
          "    made = attempt()",
          "    print('MADE' if made >= 0 else 'refused', name, ctypes.get_errno())",
        ].join("\n"),
      );
      assertSuccess(ran);
      assert.ok(!ran.stdout.includes("MADE"), ran.stdout);
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() opens no socket family but unix and inet",
    run: async (sandbox) => {
      // Through Python's socket module, and through the C library where
      // ctypes exists (nothing in between can then refuse on the kernel's behalf).
      const ran = await runJob(
        sandbox,
        [
          "import socket, sys",
          "if sys.platform == 'emscripten':",
          "    # Pyodide's sockets are JavaScript emulations, and the worker may not load their modules.",
          "    print('no kernel sockets')",
          "    raise SystemExit(0)",
          `families = [${families.join(", ")}]`,
          "kinds = (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW, socket.SOCK_SEQPACKET)",
          "for family in families:",
          "    for kind in kinds:",
          "        try:",
          "            socket.socket(family, kind).close()",
          "            print('OPEN', family, int(kind))",
          "        except Exception:",
          "            pass",
          "    try:",
          "        for end in socket.socketpair(family, socket.SOCK_STREAM):",
          "            end.close()",
          "        print('PAIR', family)",
          "    except Exception:",
          "        pass",
          "try:",
          "    import ctypes",
          "    libc = ctypes.CDLL(None, use_errno=True)",
          "    libc.socketpair",
          "except Exception:",
          "    libc = None",
          "for family in families if libc is not None else []:",
          "    for kind in (1, 2, 3, 5):",
          "        fd = libc.socket(family, kind, 0)",
          "        if fd >= 0:",
          "            print('RAW OPEN', family, kind)",
          "            libc.close(fd)",
          "    pair = (ctypes.c_int * 2)()",
          "    if libc.socketpair(family, 1, 0, pair) == 0:",
          "        print('RAW PAIR', family)",
          "print('tried', len(families))",
        ].join("\n"),
      );
      assertSuccess(ran);
      if (ran.stdout === "no kernel sockets\n") return await assertStillRuns(sandbox);
      assert.match(ran.stdout, new RegExp(`tried ${families.length}\n$`));
      for (const line of ran.stdout.split("\n")) {
        const opened = /^(?:RAW )?(?:OPEN|PAIR) (\d+)/.exec(line);
        if (opened !== null) assert.ok(allowedFamilies.has(Number(opened[1])), line);
      }
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() refuses keyrings, BPF, perf events, io_uring, userfaultfd and the rest",
    run: async (sandbox) => {
      // Every call the filter lists, with zero arguments (harmless had it
      // been allowed: each would fail on its arguments or do nothing).
      const calls = Object.entries(deniedSyscalls).map(([name, nr]) => `(${py(name)}, ${nr})`);
      const ran = await runJob(
        sandbox,
        [
          "import platform",
          "try:",
          "    import ctypes",
          "    libc = ctypes.CDLL(None, use_errno=True)",
          "    libc.syscall",
          "except Exception as error:",
          "    print('no ctypes', type(error).__name__)",
          "    raise SystemExit(0)",
          "if platform.machine() != 'x86_64':",
          "    print('not x86-64')",
          "    raise SystemExit(0)",
          `for name, nr in [${calls.join(", ")}]:`,
          "    result = libc.syscall(nr, 0, 0, 0, 0, 0, 0)",
          "    print('refused' if result == -1 and ctypes.get_errno() == 1 else 'ALLOWED', name)",
        ].join("\n"),
      );
      assertSuccess(ran);
      if (/^(no ctypes|not x86-64)/.test(ran.stdout)) return await assertStillRuns(sandbox);
      assert.equal(
        ran.stdout.split("\n").filter((line) => line.startsWith("refused")).length,
        calls.length,
        ran.stdout,
      );
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() shows no host path in /proc/self/mountinfo",
    run: (sandbox) =>
      withTempDir(async (dir) => {
        await Deno.writeTextFile(`${dir}/input`, "an input");
        const ran = await runJob(
          sandbox,
          [
            "import os",
            "print(open('/net/sub/input').read())",
            "for path in ('/proc/self/mountinfo', '/proc/self/mounts', '/proc/self/mountstats',",
            "             '/proc/1/mountinfo'):",
            "    try:",
            "        print('FILE', path)",
            "        print(open(path).read())",
            "    except Exception as error:",
            "        print('unreadable', path, type(error).__name__)",
          ].join("\n"),
          { inputs: [{ name: "sub/input", path: `${dir}/input` }] },
        );
        assertSuccess(ran);
        assert.match(ran.stdout, /^an input\n/);
        await assertNoHostPaths(ran.stdout, [dir, host.markerPath]);
        await assertStillRuns(sandbox);
      }),
  },
];

/**
 * Asserts `text` (the mount tables a job read) names none of `paths`, neither
 * the working directory nor the system's temporary directory below its top,
 * and that each mount whose source (mountinfo's fourth field, its path inside
 * its file system) differs from where it is mounted names no path that exists
 * on this host: such a mount shows where the jail's files live.
 */
export async function assertNoHostPaths(text: string, paths: readonly string[]): Promise<void> {
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  for (const path of [...paths, Deno.cwd(), `${tmp.replace(/\/$/, "")}/`]) {
    assert.ok(!text.includes(path), `the job saw ${path}:\n${text}`);
  }
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    if (fields.length < 10 || !/^\d+$/.test(fields[0]!) || !fields.includes("-")) continue;
    const [root, mountPoint] = [unescape(fields[3]!), unescape(fields[4]!)];
    if (root === mountPoint || root === "/") continue;
    const exists = await Deno.lstat(root).then(() => true, () => false);
    assert.ok(!exists, `mount ${mountPoint} shows the host path ${root}:\n${line}`);
  }
}

/** Undoes mountinfo's octal escapes (`\040` for a space). */
function unescape(field: string): string {
  return field.replace(
    /\\([0-7]{3})/g,
    (_, octal: string) => String.fromCharCode(parseInt(octal, 8)),
  );
}
