/**
 * The `cloud client` command line as scripts use it: output on stdout,
 * `--json`, one-line errors on stderr and the documented exit statuses,
 * against a real server and a real runner.
 */

import assert from "node:assert/strict";
import { runCloud, ServerProcess, startRunner, TestAuth } from "./harness.ts";

async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch {
    // Already gone.
  }
  await child.status;
}

Deno.test({
  name:
    "cloud client runs the scenario, jobs with uploaded inputs, and reports failures with exit statuses",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await ServerProcess.start();
    const runner = startRunner(server, ["--jobs", "2"]);
    const at = ["client", "-s", server.id];
    try {
      const scenario = await runCloud([...at, "scenario"]);
      assert.equal(scenario.code, 0, scenario.stderr);
      assert.match(scenario.stdout, /contents\nmore contents\n/);

      const added = await runCloud([...at, "--json", "add-string", "greeting", "hello"]);
      assert.equal(added.code, 0, added.stderr);
      const { hash } = JSON.parse(added.stdout) as { hash: string };
      assert.match(hash, /^[0-9a-f]{8}$/);
      assert.deepEqual(await runCloud([...at, "get", hash]), {
        code: 0,
        stdout: "hello",
        stderr: "",
      });

      const dir = await Deno.makeTempDir({ prefix: "cloud-cli-" });
      await Deno.writeTextFile(`${dir}/data.txt`, "a b a\n");
      const code =
        'import collections\nprint(dict(collections.Counter(open("/net/data").read().split())))\n';
      const job = await runCloud([
        ...at,
        "add-job",
        "count",
        "-",
        "counts",
        `data=${dir}/data.txt`,
        hash,
      ], {
        stdin: new TextEncoder().encode(code),
      });
      assert.equal(job.code, 0, job.stderr);
      assert.equal(job.stdout, "{'a': 2, 'b': 1}\n");
      assert.match(job.stderr, /^job [0-9a-f]{8} done, output [0-9a-f]{8}, no stderr\n$/);

      const detached = await runCloud([
        ...at,
        "--json",
        "add-job",
        "boom",
        "-",
        "boom-out",
        "--detach",
      ], {
        stdin: new TextEncoder().encode("raise RuntimeError('no luck')\n"),
      });
      assert.equal(detached.code, 0, detached.stderr);
      const { job: jobHash, output } = JSON.parse(detached.stdout) as {
        job: string;
        output: string;
      };
      const waited = await runCloud([...at, "wait", jobHash]);
      assert.equal(waited.code, 1, "a failed job exits 1");
      assert.equal(waited.stdout, "failed\n");
      assert.match(waited.stderr, /^cloud client: .*no luck.*\n$/);
      const fetched = await runCloud([...at, "get", output]);
      assert.equal(fetched.code, 1);
      assert.match(fetched.stderr, /failed/);
      const stderr = await runCloud([...at, "get", jobHash]);
      assert.match(stderr.stdout, /RuntimeError: no luck/, "GET of a job is its stderr");
      const status = await runCloud([...at, "--json", "status", jobHash]);
      assert.equal(JSON.parse(status.stdout).reason, "exception");

      const servers = await runCloud([...at, "servers"]);
      assert.equal(servers.stdout, `127.0.0.1 ${server.port} 8 positions\n`);
      const info = await runCloud([...at, "--json", "info", "--all"]);
      assert.equal((JSON.parse(info.stdout) as { id: string }[])[0]!.id, server.id);
    } finally {
      await stop(runner);
    }
  },
});

Deno.test("cloud client exits 2 on bad input, 3 when no server answers (the runner and a joining server too), 4 on a timeout", async () => {
  await using server = await ServerProcess.start();
  const at = ["client", "-s", server.id];
  const bad = await runCloud([...at, "get", "not-a-hash"]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /hash/);
  const missing = await runCloud([...at, "get", "12345678"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^cloud client: not-found: /);
  const inlineCode = await runCloud([...at, "add-job", "j", "print(1)", "out"]);
  assert.equal(inlineCode.code, 2);
  assert.match(
    inlineCode.stderr,
    /^cloud client: cannot read the job's code from "print\(1\)": no such file \(give the path of a Python file, or - /,
  );
  const noInput = await runCloud([...at, "add-job", "j", "-", "out", "x=/nonexistent/input"], {
    stdin: new TextEncoder().encode("print(1)\n"),
  });
  assert.equal(noInput.code, 2);
  assert.match(
    noInput.stderr,
    /cannot read a local file from "\/nonexistent\/input": no such file/,
  );
  const directory = await runCloud([...at, "add-file", "d", Deno.cwd()]);
  assert.equal(directory.code, 2);
  assert.match(directory.stderr, /it is a directory/);
  const pending = await runCloud([
    ...at,
    "--json",
    "add-job",
    "never",
    "-",
    "never-out",
    "--detach",
  ], {
    stdin: new TextEncoder().encode("print(1)\n"),
  });
  const { output } = JSON.parse(pending.stdout) as { output: string };
  const timedOut = await runCloud([...at, "-t", "300", "get", output]);
  assert.equal(timedOut.code, 4, timedOut.stderr);
  const port = server.port;
  await server.kill("SIGKILL");
  const unreachable = await runCloud(["client", "-s", `127.0.0.1:${port}`, "add-string", "x", "y"]);
  assert.equal(unreachable.code, 3);
  assert.match(unreachable.stderr, /cannot reach/);
  const runner = await runCloud(["runner", "127.0.0.1", String(port), "-q"], {
    signal: AbortSignal.timeout(60_000),
    role: "runner",
  });
  assert.equal(runner.code, 3, runner.stderr);
  assert.match(runner.stderr, /Cannot connect to 127\.0\.0\.1/);
  const data = await Deno.makeTempDir();
  try {
    const joining = await runCloud(["server", "0", "127.0.0.1", String(port), "--data", data], {
      signal: AbortSignal.timeout(60_000),
      role: null,
    });
    assert.equal(joining.code, 3, joining.stderr);
    assert.match(joining.stderr, /Cannot join the ring: none of 127\.0\.0\.1:\d+ answers/);
  } finally {
    await Deno.remove(data, { recursive: true });
  }
});

Deno.test("cloud runner refuses a work directory another runner is using", async () => {
  await using server = await ServerProcess.start();
  const workDir = await Deno.makeTempDir({ prefix: "cloud-test-runner-" });
  const first = startRunner(server, ["--jobs", "2", "--work-dir", workDir]);
  try {
    // The first runner holds the lock once it has created its sandbox.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const probe = await Deno.open(`${workDir}/lock`, { write: true }).catch(() => null);
      const held = probe !== null && !probe.tryLockSync(true);
      probe?.close();
      if (held) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const second = await runCloud(
      ["runner", server.host, String(server.port), "--watch", "--work-dir", workDir],
      { signal: AbortSignal.timeout(30_000), role: "runner" },
    );
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stderr, /another cloud runner is using it/);
  } finally {
    await stop(first);
    await Deno.remove(workDir, { recursive: true });
  }
});

Deno.test("cloud client add-job refuses names holding ':' with one line, before anything is sent", async () => {
  await using server = await ServerProcess.start();
  const at = ["client", "-s", server.id];
  const dir = await Deno.makeTempDir({ prefix: "cloud-cli-names-" });
  try {
    await Deno.writeTextFile(`${dir}/rnd.py`, "import random\nprint(random.random())\n");
    await Deno.writeTextFile(`${dir}/data.txt`, "x\n");
    // Once ran print("injected"): the name's tail was spliced in as the job's source.
    const cases = [
      ["add-job", "x:cHJpbnQoImluamVjdGVkIik=", `${dir}/rnd.py`, "out", "--detach"],
      ["add-job", "job", `${dir}/rnd.py`, "o:ut", "--detach"],
      ["add-job", "job", `${dir}/rnd.py`, "out", `in:put=${dir}/data.txt`, "--detach"],
      ["add-string", "a:b", "text"],
    ];
    for (const args of cases) {
      const result = await runCloud([...at, ...args]);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, /^cloud client: name: Invalid .*name: contains ":" or NUL.*\n$/);
    }
    const info = await runCloud([...at, "--json", "info"]);
    const objects = (JSON.parse(info.stdout) as { objects: { objects: number } }).objects;
    assert.equal(objects.objects, 0, "nothing was stored, not even the input file");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cloud client get -o never harms an existing file: unknown hash, Ctrl-C, server unreachable; a real fetch replaces it", async () => {
  const directory = await Deno.makeTempDir();
  try {
    const target = `${directory}/keep.txt`;
    const precious = new Uint8Array([0, 1, 2, 250, 10, 13, 99]);
    await Deno.writeFile(target, precious);
    const names = () => [...Deno.readDirSync(directory)].map((e) => e.name);
    await using server = await ServerProcess.start();
    const at = ["client", "-s", server.id];
    const unknown = await runCloud([...at, "get", "deadbeef", "-o", target]);
    assert.equal(unknown.code, 2, unknown.stderr);
    assert.deepEqual(await Deno.readFile(target), precious);
    assert.deepEqual(names(), ["keep.txt"]);
    const added = await runCloud([...at, "add-string", "f", "fresh content"]);
    assert.equal(added.code, 0, added.stderr);
    const hash = added.stdout.trim();
    await Deno.writeTextFile(`${directory}/new.txt`, "old content, longer than the new one");
    const fetched = await runCloud([...at, "get", hash, "-o", `${directory}/new.txt`]);
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.equal(await Deno.readTextFile(`${directory}/new.txt`), "fresh content");
    assert.deepEqual(names().sort(), ["keep.txt", "new.txt"]);
    // Ctrl-C while waiting for an output no runner will make: exit 130, target and directory as they were.
    const pending = await runCloud([...at, "--json", "add-job", "p", "-", "p-out", "--detach"], {
      stdin: new TextEncoder().encode("print(1)\n"),
    });
    const { output } = JSON.parse(pending.stdout) as { output: string };
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../main.ts", import.meta.url).pathname,
        ...at,
        "get",
        output,
        "-o",
        target,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
      env: { CLOUD_TOKEN_FILE: (await TestAuth.shared()).tokenFile("client") },
    }).spawn();
    try {
      while (names().length < 3) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.match(names().sort()[0]!, /^\.keep\.txt\.cloud-[0-9a-f]{8}\.part$/);
      // The SIGINT listener is in place before the temporary file is created.
      child.kill("SIGINT");
      assert.equal((await child.status).code, 130);
    } finally {
      await stop(child);
    }
    assert.deepEqual(await Deno.readFile(target), precious);
    assert.deepEqual(names().sort(), ["keep.txt", "new.txt"]);
    const port = server.port;
    await server.kill("SIGKILL");
    const unreachable = await runCloud([
      "client",
      "-s",
      `127.0.0.1:${port}`,
      "get",
      hash,
      "-o",
      target,
    ]);
    assert.equal(unreachable.code, 3, unreachable.stderr);
    assert.deepEqual(await Deno.readFile(target), precious);
    assert.deepEqual(names().sort(), ["keep.txt", "new.txt"]);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("cloud client: -s and $CLOUD_SERVER take a list and fall back to the next server; -t bounds a silent server; usage errors exit 2", async () => {
  await using server = await ServerProcess.start();
  const dead = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = dead.addr.port;
  dead.close();
  const listed = await runCloud([
    "client",
    "-s",
    `127.0.0.1:${deadPort},${server.id}`,
    "add-string",
    "x",
    "y",
  ]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /^[0-9a-f]{8}\n$/);
  const fromEnvironment = await runCloud(["client", "get", listed.stdout.trim()], {
    env: { CLOUD_SERVER: `127.0.0.1:${deadPort},${server.id}` },
  });
  assert.equal(fromEnvironment.code, 0, fromEnvironment.stderr);
  assert.equal(fromEnvironment.stdout, "y");
  const badPort = await runCloud(["client", "-s", "127.0.0.1:abc", "add-string", "x", "y"]);
  assert.equal(badPort.code, 2);
  assert.match(badPort.stderr, /invalid port in server "127\.0\.0\.1:abc"/);
  const badDuration = await runCloud(["client", "-s", server.id, "-t", "1x", "wait", "12345678"]);
  assert.equal(badDuration.code, 2);
  assert.match(badDuration.stderr, /expected a duration such as 500ms/);
  // A port that accepts connections and never answers: -t 1s gives up, long before the 30 s default.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of silent) held.push(conn);
  })();
  try {
    const timedOut = await runCloud(
      ["client", "-s", `127.0.0.1:${silent.addr.port}`, "-t", "1s", "add-string", "x", "y"],
      { signal: AbortSignal.timeout(25_000), role: null },
    );
    assert.equal(timedOut.code, 4, timedOut.stderr);
  } finally {
    silent.close();
    for (const conn of held) conn.close();
    await accepting.catch(() => {});
  }
});
