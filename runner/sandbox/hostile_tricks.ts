/**
 * The hostile suite's cases that try a way around the jail: `/proc` and
 * symlink tricks, raw system calls, background processes outliving their
 * job, the process that started the job, Pyodide's JavaScript bridge.
 *
 * @module
 */

import assert from "node:assert/strict";
import { assertStillRuns, assertSuccess, runJob, withTempDir } from "./_suite_helpers.ts";
import { assertNoLeak, host, type HostileCase, py } from "./hostile_host.ts";

/** The cases that try a way around the jail. */
export const trickCases: HostileCase[] = [
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
