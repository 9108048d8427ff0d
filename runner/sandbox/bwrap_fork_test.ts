import assert from "node:assert/strict";
import { createBwrapSandbox } from "./bwrap.ts";
import { BwrapFork } from "./bwrap_fork.ts";
import { assertStillRuns, assertSuccess, pidsMentioning, runJob } from "./_suite_helpers.ts";

const skip = Deno.env.get("CLOUD_SKIP_BWRAP") === "1";

/** Prints `jail <n>`: each jail binds its own host directory at /net, so the inode names it. */
const printJail = "import os\nprint('jail', os.stat('/net').st_ino, flush=True)";

function jailOf(stdout: string): string {
  const id = /^jail (\d+)$/m.exec(stdout)?.[1];
  assert.ok(id !== undefined, `no jail line in ${JSON.stringify(stdout)}`);
  return id;
}

Deno.test({
  name: "createBwrapSandbox() takes fork mode when no mode is given",
  ignore: skip,
  fn: async () => {
    const sandbox = await createBwrapSandbox({ warm: 1 });
    try {
      assert.equal(sandbox.mode, "fork");
      assert.equal(sandbox.probe.forkUnavailable, null);
    } finally {
      await sandbox.close();
    }
  },
});

Deno.test({
  name: "fork mode kills a job's daemon before the next job in the same jail starts",
  ignore: skip,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "cloud-sandbox-test-" });
    const sandbox = await createBwrapSandbox({ mode: "fork", warm: 1, workDir: dir });
    try {
      // The daemon leaves the job's session and process group, then tries to
      // read the next job's inputs and write into every other process's stdout.
      const first = await runJob(
        sandbox,
        [
          printJail,
          "import time",
          "if os.fork() == 0:",
          "    os.setsid()",
          "    if os.fork() != 0:",
          "        os._exit(0)",
          "    time.sleep(0.2)",
          "    deadline = time.time() + 5",
          "    while time.time() < deadline:",
          "        try:",
          "            for name in os.listdir('/net'):",
          "                os.write(1, b'STOLEN ' + open('/net/' + name, 'rb').read())",
          "        except Exception:",
          "            pass",
          "        for pid in os.listdir('/proc'):",
          "            if pid.isdigit() and int(pid) != os.getpid():",
          "                try:",
          "                    with open('/proc/%s/fd/1' % pid, 'w') as out:",
          "                        out.write('OWNED')",
          "                except Exception:",
          "                    pass",
          "        time.sleep(0.01)",
          "    os._exit(0)",
          "os.wait()",
        ].join("\n"),
      );
      assertSuccess(first);
      await Deno.writeTextFile(`${dir}/secret`, "the next job's secret");
      const next = await runJob(
        sandbox,
        [
          printJail,
          "import time",
          "time.sleep(0.6)",
          "mine = {os.getpid(), 1}",
          "print('others', [p for p in os.listdir('/proc') if p.isdigit() and int(p) not in mine])",
          "print(open('/net/secret').read())",
        ].join("\n"),
        { inputs: [{ name: "secret", path: `${dir}/secret` }] },
      );
      assertSuccess(next);
      assert.equal(jailOf(next.stdout), jailOf(first.stdout), "not the same jail");
      assert.equal(
        next.stdout,
        `jail ${jailOf(first.stdout)}\nothers []\nthe next job's secret\n`,
      );
      assert.equal(first.stdout, `jail ${jailOf(first.stdout)}\n`);
    } finally {
      await sandbox.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "fork mode keeps the zygote out of a job's reach and survives the job crashing",
  ignore: skip,
  fn: async () => {
    const sandbox = await createBwrapSandbox({ mode: "fork", warm: 1 });
    try {
      const ran = await runJob(
        sandbox,
        [
          printJail,
          "import signal",
          "for number in (signal.SIGSTOP, signal.SIGTERM, signal.SIGINT, signal.SIGKILL):",
          "    os.kill(1, number)",
          "print('parent', os.getppid())",
          "for what in ['mem', 'environ', 'cwd', 'root', 'exe'] + ['fd/%d' % fd for fd in range(16)]:",
          "    for mode in ('rb', 'r+b'):",
          "        try:",
          "            open('/proc/1/' + what, mode).close()",
          "            print('OPENED', what, mode)",
          "        except OSError:",
          "            pass",
          "    try:",
          "        print('LINK', what, os.readlink('/proc/1/' + what))",
          "    except OSError:",
          "        pass",
          "import sys",
          "sys.stdout.flush()",
          "os.kill(os.getpid(), signal.SIGSEGV)",
        ].join("\n"),
      );
      assert.equal(ran.result.reason, "exception", ran.stderr);
      assert.equal(ran.result.exitCode, 128 + 11);
      assert.equal(ran.result.detail, "Killed by signal 11");
      assert.equal(ran.stdout, `jail ${jailOf(ran.stdout)}\nparent 1\n`);
      const after = await runJob(sandbox, printJail);
      assertSuccess(after);
      assert.equal(jailOf(after.stdout), jailOf(ran.stdout), "the zygote was replaced");
    } finally {
      await sandbox.close();
    }
  },
});

Deno.test({
  name: "fork mode runs concurrent jobs in distinct jails and grows the pool to them",
  ignore: skip,
  fn: async () => {
    const sandbox = await createBwrapSandbox({ mode: "fork", warm: 1 });
    try {
      const batch = async () => {
        const runs = await Promise.all(
          [0, 1, 2, 3].map(() => runJob(sandbox, `${printJail}\nimport time\ntime.sleep(0.4)`)),
        );
        for (const ran of runs) assertSuccess(ran);
        return runs.map((ran) => jailOf(ran.stdout));
      };
      const first = await batch();
      assert.equal(new Set(first).size, 4, `jails ${first}`);
      const second = await batch();
      assert.deepEqual([...second].sort(), [...first].sort(), "the pool grew past 4");
      assert.deepEqual(sandbox.stats, { warm: 8, cold: 0 });
    } finally {
      await sandbox.close();
    }
  },
});

Deno.test({
  name: "fork mode moves each job into its own cgroups",
  ignore: skip,
  fn: async () => {
    const sandbox = await createBwrapSandbox({ mode: "fork", warm: 1 });
    try {
      if (sandbox.probe.processLimit !== "cgroup") return;
      const ran = await runJob(sandbox, "print(open('/proc/self/cgroup').read())");
      assertSuccess(ran);
      assert.match(ran.stdout, /^\d+:pids:\/\S*\/job-\d+$/m);
      if (sandbox.probe.memoryCgroup) assert.match(ran.stdout, /^\d+:memory:\/\S*\/job-\d+$/m);
    } finally {
      await sandbox.close();
    }
  },
});

Deno.test({
  name: "fork mode reports a zygote that dies mid-job as a sandbox error and replaces it",
  ignore: skip,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "cloud-sandbox-test-" });
    const sandbox = await createBwrapSandbox({ mode: "fork", warm: 1, workDir: dir });
    try {
      const running = runJob(sandbox, "import time\nprint('started', flush=True)\ntime.sleep(30)");
      await new Promise((resolve) => setTimeout(resolve, 500));
      // The outer bubblewrap names the jail's /net directory; the zygote is its child.
      const jails = await pidsMentioning(`${sandbox.probe.netDirectory}/`);
      assert.equal(jails.length, 1, `jails ${jails}`);
      const zygote = Number(
        (await Deno.readTextFile(`/proc/${jails[0]}/task/${jails[0]}/children`)).trim(),
      );
      Deno.kill(zygote, "SIGKILL");
      const ran = await running;
      assert.equal(ran.result.reason, "sandbox-error", ran.result.detail);
      assert.match(ran.result.detail, /Zygote died during the job/);
      assert.equal(ran.stdout, "started\n");
      await assertStillRuns(sandbox);
    } finally {
      await sandbox.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "fork mode delivers a source larger than a pipe holds, and stops an aborted job at once",
  ignore: skip,
  fn: async () => {
    const sandbox = await createBwrapSandbox({ mode: "fork", warm: 1 });
    try {
      const big = await runJob(sandbox, `x = '${"é".repeat(100_000)}'\nprint(len(x))`);
      assertSuccess(big);
      assert.equal(big.stdout, "100000\n");
      const aborted = await runJob(sandbox, "print('ran')", { signal: AbortSignal.abort() });
      assert.equal(aborted.result.reason, "killed");
      assert.equal(aborted.stdout, "");
      await assertStillRuns(sandbox);
    } finally {
      await sandbox.close();
    }
  },
});

Deno.test({
  name: "fork mode stops jails beyond the warm ones once they have been idle long enough",
  ignore: skip,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "cloud-sandbox-test-" });
    const sandbox = await createBwrapSandbox({
      mode: "fork",
      warm: 1,
      workDir: dir,
      idleRetireMs: 300,
    });
    try {
      assert.ok(sandbox instanceof BwrapFork);
      const burst = await Promise.all(
        [1, 2, 3].map(() => runJob(sandbox, "import time\ntime.sleep(0.5)\nprint('ok')")),
      );
      for (const ran of burst) assertSuccess(ran);
      assert.equal(sandbox.jailCount, 3, "three jobs at once: three jails");
      const deadline = Date.now() + 10_000;
      const jails = `${sandbox.probe.netDirectory}/`;
      while (Date.now() < deadline && (await pidsMentioning(jails)).length > 1) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(sandbox.jailCount, 1, "back to the one warm jail");
      assert.equal((await pidsMentioning(jails)).length, 1, "the others' processes are gone");
      await assertStillRuns(sandbox);
    } finally {
      await sandbox.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "fork mode keeps a short job's output in memory and streams a longer job's to the file",
  ignore: skip,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "cloud-sandbox-test-" });
    // Read after the end: any job that ends within 10 s (however loaded the machine).
    const after = await createBwrapSandbox({ mode: "fork", warm: 1, pumpDelayMs: 10_000 });
    // Streaming begins at once: a job still running a moment later is streamed.
    const streamed = await createBwrapSandbox({
      mode: "fork",
      warm: 1,
      pumpDelayMs: 0,
      limits: { stdoutBytesMax: 300_000 },
    });
    const run = (sandbox: typeof after, source: string, name = "stdout") =>
      sandbox.run({ source, inputs: [], stdoutPath: `${dir}/${name}` });
    try {
      const short = await run(after, "import sys\nprint('quick')\nsys.stderr.write('note')");
      assert.equal(short.reason, null, short.detail);
      assert.equal(new TextDecoder().decode(short.stdout), "quick\n");
      assert.equal(short.stdoutBytes, 6);
      assert.equal(new TextDecoder().decode(short.stderr), "note");
      await assert.rejects(Deno.stat(`${dir}/stdout`), Deno.errors.NotFound, "no file written");

      // Within what a pipe holds: whole, in memory.
      const mid = await run(after, "import sys\nsys.stdout.write('z' * 40_000)");
      assert.equal(mid.reason, null, mid.detail);
      assert.equal(new TextDecoder().decode(mid.stdout), "z".repeat(40_000));

      const big = await run(streamed, "import sys\nsys.stdout.write('y' * 250_000)", "big");
      assert.equal(big.reason, null, big.detail);
      assert.equal(big.stdout, undefined);
      assert.equal(big.stdoutBytes, 250_000);
      assert.equal(await Deno.readTextFile(`${dir}/big`), "y".repeat(250_000));

      const slow = await run(
        streamed,
        "import time\nprint('a', flush=True)\ntime.sleep(1)\nprint('b')",
        "slow",
      );
      assert.equal(slow.reason, null, slow.detail);
      assert.equal(slow.stdout, undefined, "still running when streaming began: streamed");
      assert.equal(await Deno.readTextFile(`${dir}/slow`), "a\nb\n");

      // Over the limit, even when read after the end.
      const limited = await createBwrapSandbox({
        mode: "fork",
        warm: 1,
        pumpDelayMs: 10_000,
        limits: { stdoutBytesMax: 1000 },
      });
      try {
        const flood = await run(limited, "print('w' * 5000)", "flood");
        assert.equal(flood.reason, "output-limit", flood.detail);
        assert.ok(flood.stdoutBytes <= 1000);
        assert.ok(flood.stdout !== undefined, "read after the end");
      } finally {
        await limited.close();
      }
    } finally {
      await after.close();
      await streamed.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Job 1 of the leftovers test: what it tries to leave in its jail for the next job. */
const leaveBehind = [
  printJail,
  "import ctypes, socket, time",
  "libc = ctypes.CDLL(None, use_errno=True)",
  "libc.shmat.restype = ctypes.c_void_p",
  "libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]",
  "def shm(key, size, data):",
  "    sid = libc.shmget(key, size, 0o1600)",
  "    if sid < 0:",
  "        return print('no shm', ctypes.get_errno())",
  "    address = libc.shmat(sid, None, 0)",
  "    ctypes.memset(address, 7, size)",
  "    ctypes.memmove(address, data, len(data))",
  "    print('left shm', size)",
  "shm(0x636c6f01, 4096, b'secret-from-job1\\0')",
  "shm(0x636c6f02, 200 * 1024 * 1024, b'')",
  "mid = libc.msgget(0x636c6f03, 0o1600)",
  "message = (1).to_bytes(8, 'little') + b'secret-from-job1'",
  "if mid >= 0 and libc.msgsnd(mid, message, 16, 0) == 0:",
  "    print('left msg')",
  "queue = libc.mq_open(b'/cloud-leftover', 0o102, 0o600, None)",
  "if queue >= 0 and libc.mq_send(queue, b'secret-from-job1', 16, 0) == 0:",
  "    print('left mq')",
  "if libc.sethostname(b'job1', 4) == 0:",
  "    print('renamed host')",
  "if os.fork() == 0:",
  "    os.setsid()",
  "    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)",
  "    server.bind('\\0cloud-leftover')",
  "    server.listen()",
  "    while True:",
  "        connection, _ = server.accept()",
  "        connection.sendall(b'secret-from-job1')",
  "        connection.close()",
  "time.sleep(0.2)",
].join("\n");

/** Job 2: what it finds of job 1, then whether its whole memory limit is its own. */
const lookForLeftovers = [
  printJail,
  "import ctypes, socket",
  "libc = ctypes.CDLL(None, use_errno=True)",
  "libc.shmat.restype = ctypes.c_void_p",
  "libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]",
  "sid = libc.shmget(0x636c6f01, 0, 0)",
  "if sid >= 0:",
  "    print('FOUND shm', ctypes.string_at(libc.shmat(sid, None, 0)))",
  "buffer = ctypes.create_string_buffer(64)",
  "mid = libc.msgget(0x636c6f03, 0)",
  "if mid >= 0 and libc.msgrcv(mid, buffer, 56, 0, 0o4000) > 0:",
  "    print('FOUND msg', buffer.raw[8:24])",
  "if libc.mq_open(b'/cloud-leftover', 0o4000, 0, None) >= 0:",
  "    print('FOUND mq')",
  "try:",
  "    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)",
  "    client.connect('\\0cloud-leftover')",
  "    print('FOUND socket', client.recv(64))",
  "except OSError:",
  "    pass",
  "print('host', socket.gethostname())",
  "block = bytearray(150 * 1024 * 1024)",
  "print('allocated', len(block) >> 20)",
].join("\n");

Deno.test({
  name: "fork mode leaves a job no IPC objects, sockets or memory of the previous job in its jail",
  ignore: skip,
  fn: async () => {
    const sandbox = await createBwrapSandbox({
      mode: "fork",
      warm: 1,
      python: "python3",
      limits: { memoryBytes: 256 * 1024 * 1024 },
    });
    try {
      const first = await runJob(sandbox, leaveBehind);
      assertSuccess(first);
      const next = await runJob(sandbox, lookForLeftovers);
      assert.equal(jailOf(next.stdout), jailOf(first.stdout), "not the same jail");
      assertSuccess(next);
      assert.equal(next.stdout, `jail ${jailOf(first.stdout)}\nhost job\nallocated 150\n`);
      assert.doesNotMatch(first.stdout, /left|renamed/);
    } finally {
      await sandbox.close();
    }
  },
});
