/**
 * The hostile suite's cases that reach for what a job must not have: the
 * network, writes, the host's files and the runner's environment.
 *
 * @module
 */

import assert from "node:assert/strict";
import { assertStillRuns, assertSuccess, runJob } from "./_suite_helpers.ts";
import { assertNoLeak, host, type HostileCase, py } from "./hostile_host.ts";

/** The cases that reach for the network, writes, host files and the environment. */
export const reachCases: HostileCase[] = [
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
];
