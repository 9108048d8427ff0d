/**
 * Jobs that try to escape, run against every backend. Each must be contained
 * (the job fails with a clear reason, or its attempt fails harmlessly inside
 * the job) and the next job on the same sandbox must still run.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  assertStillRuns,
  assertSuccess,
  type NewSandbox,
  type Ran,
  registerSuite,
  runJob,
  withTempDir,
} from "./_suite_helpers.ts";
import type { Sandbox } from "./sandbox.ts";

/**
 * Tight limits so bombs end fast, with room for a loaded CI machine (a
 * Pyodide memory bomb takes ~0.5 s alone, several seconds at load 15).
 */
const hostileLimits = {
  wallMs: 6_000,
  cpuSeconds: 6,
  memoryBytes: 256 * 1024 * 1024,
  processes: 16,
  stdoutBytesMax: 1024 * 1024,
  stderrBytesMax: 4 * 1024,
};

/** What the suite sets up on the host before the sandbox starts. */
interface Host {
  /** Random value of CLOUD_TEST_SECRET in the test process's environment. */
  secret: string;
  /** A file outside the inputs, and its random content. */
  markerPath: string;
  markerContent: string;
  /** Two loopback listeners no job may reach, and the connections they saw. */
  ports: [number, number];
  connections: number;
  /** A path in the host's /tmp no job may create. */
  hostTmpPath: string;
}

const host: Host = {
  secret: "",
  markerPath: "",
  markerContent: "",
  ports: [0, 0],
  connections: 0,
  hostTmpPath: "",
};

async function setUpHost(): Promise<() => Promise<void>> {
  host.secret = `secret-${crypto.randomUUID()}`;
  Deno.env.set("CLOUD_TEST_SECRET", host.secret);
  const dir = await Deno.makeTempDir({ prefix: "cloud-hostile-" });
  host.markerPath = `${dir}/marker.txt`;
  host.markerContent = `marker-${crypto.randomUUID()}`;
  await Deno.writeTextFile(host.markerPath, host.markerContent);
  host.hostTmpPath = `/tmp/cloud-hostile-write-${crypto.randomUUID()}`;
  host.connections = 0;
  const listeners = [0, 1].map(() => Deno.listen({ hostname: "127.0.0.1", port: 0 }));
  host.ports = [listeners[0]!.addr.port, listeners[1]!.addr.port];
  const accepting = listeners.map(async (listener) => {
    for await (const conn of listener) {
      host.connections++;
      conn.close();
    }
  });
  return async () => {
    for (const listener of listeners) listener.close();
    await Promise.allSettled(accepting);
    Deno.env.delete("CLOUD_TEST_SECRET");
    await Deno.remove(dir, { recursive: true });
    assert.equal(host.connections, 0, "a job reached a loopback listener");
  };
}

/** Asserts no host secret or marker leaked into a job's output. */
function assertNoLeak(ran: Ran): void {
  for (const text of [ran.stdout, ran.stderr]) {
    assert.ok(!text.includes(host.secret), "the environment secret leaked");
    assert.ok(!text.includes(host.markerContent), "the marker file leaked");
  }
}

const py = (value: string | number) => JSON.stringify(value);

type Case = { name: string; run: (sandbox: Sandbox) => Promise<void> };

const cases: Case[] = [
  {
    name: "Sandbox.run() gives no network: loopback and internet connects fail",
    run: async (sandbox) => {
      const ran = await runJob(
        sandbox,
        [
          "import socket",
          `for port in (${host.ports[0]}, ${host.ports[1]}):`,
          "    for name in ('127.0.0.1', 'localhost'):",
          "        try:",
          "            socket.create_connection((name, port), timeout=1).close()",
          "            print('CONNECTED', name, port)",
          "        except Exception as error:",
          "            print('blocked', name, port, type(error).__name__)",
          "try:",
          "    socket.create_connection(('example.com', 80), timeout=2).close()",
          "    print('CONNECTED example.com')",
          "except Exception as error:",
          "    print('blocked example.com', type(error).__name__)",
        ].join("\n"),
      );
      assert.ok(!ran.stdout.includes("CONNECTED"), ran.stdout);
      assert.equal(host.connections, 0);
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() refuses writes anywhere",
    run: async (sandbox) => {
      const ran = await runJob(
        sandbox,
        [
          "import os",
          `paths = [${
            py(host.hostTmpPath)
          }, '/net/x', 'x', '/x', '/dev/shm/x', '/root/x', '/home/x', '/etc/x', '/usr/x']`,
          "for path in paths:",
          "    try:",
          "        with open(path, 'w') as f:",
          "            f.write('owned')",
          "        print('WROTE', path)",
          "    except Exception as error:",
          "        pass",
          "for step in (lambda: os.mkdir('/tmp/d'), lambda: os.symlink('/etc', '/tmp/l'),",
          "             lambda: os.rename('/usr', '/usr2'), lambda: os.remove('/usr/bin/env')):",
          "    try:",
          "        step()",
          "        print('CHANGED')",
          "    except Exception:",
          "        pass",
          "print('done')",
        ].join("\n"),
      );
      assertSuccess(ran);
      assert.equal(ran.stdout, "done\n");
      await assert.rejects(Deno.stat(host.hostTmpPath));
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() cannot read host files outside its inputs",
    run: async (sandbox) => {
      const cwd = Deno.cwd();
      const ran = await runJob(
        sandbox,
        [
          "import os",
          `cwd = ${py(cwd)}`,
          `paths = [${py(host.markerPath)}, '/net/..' + ${
            py(host.markerPath)
          }, cwd + '/deno.json',`,
          "         '/etc/shadow', '/etc/passwd', '/root/.bashrc', '/proc/1/root/etc/shadow']",
          "for path in paths:",
          "    try:",
          "        print('READ', path, open(path).read()[:200])",
          "    except Exception as error:",
          "        print('denied', path, type(error).__name__)",
          "for path in (cwd, '/root', os.path.dirname(" + py(host.markerPath) + ")):",
          "    try:",
          "        print('LISTED', path, os.listdir(path))",
          "    except Exception as error:",
          "        print('denied', path, type(error).__name__)",
        ].join("\n"),
      );
      assertSuccess(ran);
      assert.ok(!ran.stdout.includes("READ"), ran.stdout);
      assert.ok(!ran.stdout.includes("LISTED"), ran.stdout);
      assertNoLeak(ran);
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() hides the runner's environment",
    run: async (sandbox) => {
      const ran = await runJob(
        sandbox,
        [
          "import os",
          "print(dict(os.environ))",
          "pids = [p for p in os.listdir('/proc') if p.isdigit()] if os.path.isdir('/proc') else []",
          "for path in ['/proc/self/environ'] + ['/proc/%s/environ' % p for p in pids]:",
          "    try:",
          "        print(path, open(path, 'rb').read())",
          "    except Exception as error:",
          "        print('denied', path, type(error).__name__)",
          "print('CLOUD_TEST_SECRET' in os.environ)",
        ].join("\n"),
      );
      assertSuccess(ran);
      assert.ok(ran.stdout.endsWith("False\n"), ran.stdout);
      assertNoLeak(ran);
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() bounds the processes a job can start",
    run: async (sandbox) => {
      const ran = await runJob(
        sandbox,
        [
          "import os, time",
          "count = 0",
          "for i in range(200):",
          "    try:",
          "        pid = os.fork()",
          "    except (OSError, AttributeError):",
          "        break",
          "    if pid == 0:",
          "        time.sleep(60)",
          "        os._exit(0)",
          "    count += 1",
          "print('forked', count)",
        ].join("\n"),
      );
      assertSuccess(ran);
      const forked = Number(/forked (\d+)/.exec(ran.stdout)?.[1]);
      assert.ok(forked < sandbox.limits.processes, `forked ${forked} processes`);
      // The sleeping children died with the job: it did not wait for them.
      assert.ok(ran.result.wallMs < sandbox.limits.wallMs, `took ${ran.result.wallMs} ms`);
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() contains a fork bomb",
    run: async (sandbox) => {
      const ran = await runJob(
        sandbox,
        [
          "import os, subprocess, sys",
          "while True:",
          "    try:",
          "        os.fork()",
          "    except OSError:",
          "        pass",
          "    try:",
          "        subprocess.Popen([sys.executable, '-c', 'while True: pass'])",
          "    except OSError:",
          "        pass",
        ].join("\n"),
      );
      assert.ok(
        ran.result.reason === "timeout" || ran.result.reason === "exception",
        `${ran.result.reason}: ${ran.result.detail}`,
      );
      const host = await new Deno.Command("/bin/true").output();
      assert.ok(host.success, "the host cannot start a process");
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() stops a memory bomb with reason memory",
    run: async (sandbox) => {
      const ran = await runJob(
        sandbox,
        "blocks = []\nwhile True:\n    blocks.append(bytearray(32 * 1024 * 1024))",
      );
      assert.equal(ran.result.reason, "memory", `${ran.result.detail}\n${ran.stderr}`);
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() stops a busy loop with reason timeout",
    run: async (sandbox) => {
      const ran = await runJob(sandbox, "while True:\n    pass");
      assert.equal(ran.result.reason, "timeout", ran.result.detail);
      assert.ok(ran.result.wallMs < sandbox.limits.wallMs + 2_000, `took ${ran.result.wallMs} ms`);
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() stops a sleeping job at the wall-clock limit",
    run: async (sandbox) => {
      const ran = await runJob(sandbox, "import time\ntime.sleep(600)");
      assert.equal(ran.result.reason, "timeout");
      assert.match(ran.result.detail, /wall clock/);
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() stops an output flood at the stdout limit",
    run: async (sandbox) => {
      const ran = await runJob(
        sandbox,
        "import sys\nchunk = 'x' * 65536\nwhile True:\n    sys.stdout.write(chunk)",
      );
      assert.equal(ran.result.reason, "output-limit", ran.result.detail);
      assert.equal(ran.result.stdoutBytes, sandbox.limits.stdoutBytesMax);
      assert.equal(ran.stdoutBytes.length, sandbox.limits.stdoutBytesMax);
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() caps a stderr flood",
    run: async (sandbox) => {
      const ran = await runJob(
        sandbox,
        "import sys\nwhile True:\n    sys.stderr.write('e' * 65536)",
      );
      assert.equal(ran.result.reason, "timeout");
      assert.ok(ran.result.stderr.length <= sandbox.limits.stderrBytesMax);
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() defeats /proc and symlink tricks",
    run: async (sandbox) => {
      const marker = py(host.markerPath);
      const ran = await runJob(
        sandbox,
        [
          "import os",
          "pids = [p for p in os.listdir('/proc') if p.isdigit()] if os.path.isdir('/proc') else []",
          "ppid = str(os.getppid())",
          "targets = []",
          "for pid in set(pids + ['1', 'self', ppid]):",
          `    targets += ['/proc/%s/root%s' % (pid, ${marker}), '/proc/%s/cwd/deno.json' % pid,`,
          "                '/proc/%s/root/etc/shadow' % pid, '/proc/%s/environ' % pid]",
          "for path in targets:",
          "    try:",
          "        print('READ', path, open(path, 'rb').read()[:100])",
          "    except Exception as error:",
          "        print('denied', path, type(error).__name__)",
          "try:",
          `    os.symlink(${marker}, '/net/link')`,
          "    print('LINKED', open('/net/link').read())",
          "except Exception as error:",
          "    print('no symlink', type(error).__name__)",
          "for path in ('/proc/1/root', '/proc/self/root/..', '/'):",
          "    try:",
          "        print(path, sorted(os.listdir(path)))",
          "    except Exception as error:",
          "        print('denied', path, type(error).__name__)",
        ].join("\n"),
      );
      assertSuccess(ran);
      assert.ok(!ran.stdout.includes("LINKED"), ran.stdout);
      for (const line of ran.stdout.split("\n").filter((l) => l.startsWith("READ"))) {
        // Only the job's own /proc/<pid>/environ may be readable.
        assert.match(line, /^READ \/proc\/[^/]+\/environ /, line);
      }
      assertNoLeak(ran);
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() contains raw system calls through ctypes",
    run: async (sandbox) => {
      const ran = await runJob(
        sandbox,
        [
          "import struct",
          "try:",
          "    import ctypes",
          "    libc = ctypes.CDLL(None, use_errno=True)",
          "except Exception as error:",
          "    print('no ctypes', type(error).__name__)",
          "    raise SystemExit(0)",
          "def call(name, *args):",
          "    try:",
          "        result = getattr(libc, name)(*args)",
          "        print(name, result, ctypes.get_errno())",
          "        return result",
          "    except Exception as error:",
          "        print(name, 'failed', type(error).__name__)",
          "        return -1",
          "fd = call('socket', 2, 1, 0)",
          `address = struct.pack('=H', 2) + struct.pack('!H', ${
            host.ports[0]
          }) + bytes([127, 0, 0, 1]) + bytes(8)`,
          "if fd >= 0 and call('connect', fd, address, 16) == 0:",
          "    print('CONNECTED')",
          "if fd >= 0:",
          "    call('close', fd)",
          "if call('unshare', 0x10000000) == 0: print('UNSHARED USER')",
          "if call('unshare', 0x00020000) == 0: print('UNSHARED MOUNT')",
          "if call('mount', b'none', b'/tmp', b'tmpfs', 0, None) == 0: print('MOUNTED')",
          "if call('chroot', b'/tmp') == 0: print('CHROOTED')",
          "if call('setuid', 0) == 0 and call('geteuid') == 0: print('ROOT')",
          "if call('ptrace', 16, 1, None, None) == 0: print('TRACED')",
          "import os",
          // With the socket closed, fd 3 is the listing's own.
          "extra = [fd for fd in os.listdir('/proc/self/fd') if int(fd) > 3] if os.path.isdir('/proc/self/fd') else []",
          "print('inherited descriptors', extra)",
          "print('done')",
        ].join("\n"),
      );
      assert.match(ran.stdout, /inherited descriptors \[\]|no ctypes/);
      for (const bad of ["CONNECTED", "UNSHARED", "MOUNTED", "CHROOTED", "ROOT\n", "TRACED"]) {
        assert.ok(!ran.stdout.includes(bad), ran.stdout);
      }
      assert.equal(host.connections, 0);
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() kills a job's background processes before the next job starts",
    run: async (sandbox) => {
      // A daemon that outlives its job would read the next job's /net and
      // write into its stdout; it must be dead before any later job starts.
      const first = await runJob(
        sandbox,
        [
          "import os, time",
          "try:",
          "    pid = os.fork()",
          "except (OSError, AttributeError):",
          "    pid = None",
          "if pid == 0:",
          "    os.setsid()",
          "    if os.fork() != 0:",
          "        os._exit(0)",
          "    time.sleep(0.3)",
          "    deadline = time.time() + 6",
          "    while time.time() < deadline:",
          "        try:",
          "            for name in os.listdir('/net'):",
          "                os.write(1, b'STOLEN ' + open('/net/' + name, 'rb').read() + b'\\n')",
          "        except Exception:",
          "            pass",
          "        for other in os.listdir('/proc'):",
          "            if other.isdigit() and int(other) != os.getpid():",
          "                try:",
          "                    with open('/proc/%s/fd/1' % other, 'w') as out:",
          "                        out.write('OWNED\\n')",
          "                except Exception:",
          "                    pass",
          "        time.sleep(0.02)",
          "    os._exit(0)",
          "if pid:",
          "    os.waitpid(pid, 0)",
          "print('first done')",
        ].join("\n"),
      );
      assertSuccess(first);
      assert.equal(first.stdout, "first done\n");
      await withTempDir(async (dir) => {
        const secret = `next-job-secret-${crypto.randomUUID()}`;
        await Deno.writeTextFile(`${dir}/secret`, secret);
        for (let i = 0; i < 2; i++) {
          const next = await runJob(
            sandbox,
            [
              "import os, time",
              "time.sleep(0.8)",
              "mine = (os.getpid(), os.getppid(), 1)",
              "others = []",
              "if os.path.isdir('/proc'):",
              "    for pid in os.listdir('/proc'):",
              "        if pid.isdigit() and int(pid) not in mine:",
              "            others.append(pid)",
              "print('others', others)",
              "print(open('/net/secret').read())",
            ].join("\n"),
            { inputs: [{ name: "secret", path: `${dir}/secret` }] },
          );
          assertSuccess(next);
          assert.equal(next.stdout, `others []\n${secret}\n`);
        }
      });
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() cannot stop, kill or read the process that started it",
    run: async (sandbox) => {
      const ran = await runJob(
        sandbox,
        [
          "import os, signal",
          "if not hasattr(os, 'getppid') or not hasattr(os, 'kill'):",
          "    print('survived')",
          "    raise SystemExit(0)",
          "parent = os.getppid()",
          "names = ('SIGSTOP', 'SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGCHLD', 'SIGSEGV', 'SIGKILL')",
          "for name in names:",
          "    for target in {parent, 1}:",
          "        try:",
          "            os.kill(target, getattr(signal, name))",
          "        except Exception:",
          "            pass",
          "try:",
          "    os.kill(-1, signal.SIGKILL)",
          "except Exception:",
          "    pass",
          "paths = ['/proc/%d/%s' % (pid, what) for pid in {parent, 1}",
          "         for what in ['mem', 'environ', 'root/etc/hostname', 'cwd/x'] + ['fd/%d' % fd for fd in range(12)]]",
          "for path in paths:",
          "    for mode in ('rb', 'r+b'):",
          "        try:",
          "            open(path, mode).close()",
          "            print('OPENED', path, mode)",
          "        except Exception:",
          "            pass",
          "print('survived')",
        ].join("\n"),
      );
      // What may be opened differs: bubblewrap's own init (fresh mode) is as
      // unprivileged as the job; a zygote (fork mode, tested in bwrap_test.ts)
      // must allow nothing.
      assertSuccess(ran);
      assert.ok(ran.stdout.endsWith("survived\n"), ran.stdout);
      await assertStillRuns(sandbox);
      await assertStillRuns(sandbox);
    },
  },
  {
    name: "Sandbox.run() gives a JavaScript bridge no permissions",
    run: async (sandbox) => {
      const ran = await runJob(
        sandbox,
        [
          "try:",
          "    import js",
          "except ImportError:",
          "    print('no js bridge')",
          "    raise SystemExit(0)",
          "attempts = {",
          `    'read': lambda: js.Deno.readTextFileSync(${py(host.markerPath)}),`,
          "    'env': lambda: js.Deno.env.get('CLOUD_TEST_SECRET'),",
          "    'run': lambda: js.eval('new Deno.Command(\"/bin/true\").outputSync().success'),",
          "    'write': lambda: js.Deno.writeTextFileSync('/tmp/cloud-js-write', 'x'),",
          "    'kill': lambda: js.Deno.kill(1, 'SIGKILL'),",
          "}",
          "for name, attempt in attempts.items():",
          "    try:",
          "        print('ALLOWED', name, attempt())",
          "    except Exception as error:",
          "        print('denied', name, type(error).__name__)",
          "for permission in ('net', 'env', 'run', 'write', 'ffi', 'sys'):",
          "    state = js.eval('Deno.permissions.querySync({name: \"%s\"}).state' % permission)",
          "    print('permission', permission, state)",
        ].join("\n"),
      );
      assertSuccess(ran);
      assert.ok(!ran.stdout.includes("ALLOWED"), ran.stdout);
      assert.ok(!/permission \w+ granted/.test(ran.stdout), ran.stdout);
      assertNoLeak(ran);
      await assertStillRuns(sandbox);
    },
  },
];

/**
 * Registers the escape attempts for one backend as one `Deno.test`
 * (`<name> sandbox hostile suite`) whose cases run concurrently on one
 * sandbox with tight limits.
 */
export function runHostileSuite(name: string, newSandbox: NewSandbox): void {
  registerSuite(`${name} sandbox hostile suite`, () => newSandbox(hostileLimits), cases, {
    concurrency: 5,
    setup: setUpHost,
  });
}
