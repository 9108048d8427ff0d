/**
 * `deno task demo`: starts a local ring of three servers and a runner,
 * runs the original design's example and a two-stage pipeline through the
 * `cloud` command line, shows the results and the ring, then stops
 * everything it started.
 *
 * @module
 */

import { runCloud, ServerProcess } from "../tests/harness.ts";

const mainPath = new URL("../main.ts", import.meta.url).pathname;
const bold = (text: string) => Deno.stdout.isTerminal() ? `\x1b[1m${text}\x1b[0m` : text;

function show(args: string[]): void {
  console.log(bold(`\n$ cloud ${args.map((a) => (/[\s"'$]/.test(a) ? `'${a}'` : a)).join(" ")}`));
}

async function cloud(args: string[], stdin?: string): Promise<string> {
  show(args);
  const result = await runCloud(
    args,
    stdin === undefined ? {} : { stdin: new TextEncoder().encode(stdin) },
  );
  Deno.stdout.writeSync(new TextEncoder().encode(result.stdout));
  if (result.stderr.trim()) console.error(result.stderr.trimEnd());
  if (result.code !== 0) {
    throw new Error(`cloud ${args[0]} ${args[1] ?? ""} exited with ${result.code}`);
  }
  return result.stdout;
}

const countWords = `import json, collections
words = open("/net/words").read().split()
print(json.dumps(collections.Counter(words)))
`;

const topThree = `import json
counts = json.load(open("/net/counts"))
for word, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:3]:
    print(word, n)
`;

async function main(): Promise<void> {
  const dataRoot = await Deno.makeTempDir({ prefix: "cloud-demo-" });
  const servers: ServerProcess[] = [];
  let runner: Deno.ChildProcess | undefined;
  try {
    console.log(bold("Starting a ring of three servers on 127.0.0.1 …"));
    servers.push(await ServerProcess.start({ dataDir: `${dataRoot}/a` }));
    servers.push(await ServerProcess.start({ dataDir: `${dataRoot}/b`, join: servers[0]! }));
    servers.push(await ServerProcess.start({ dataDir: `${dataRoot}/c`, join: servers[0]! }));
    for (const server of servers) console.log(`  server ${server.id} (pid ${server.pid})`);
    const ring = `127.0.0.1:${servers[0]!.port}`;

    show(["runner", "127.0.0.1", String(servers[0]!.port), "--watch", "--jobs", "2"]);
    runner = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        mainPath,
        "runner",
        "127.0.0.1",
        String(servers[0]!.port),
        "--watch",
        "--jobs",
        "2",
      ],
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();

    console.log(bold("\nThe original design's scenario: two files and a job that prints them"));
    await cloud(["client", "-s", ring, "scenario"]);

    console.log(bold("\nA two-stage pipeline: job B reads the output of job A"));
    const words = await cloud([
      "client",
      "-s",
      ring,
      "add-string",
      "words",
      "the quick brown fox jumps over the lazy dog the fox ends",
    ]);
    const submitted = await cloud(
      [
        "client",
        "-s",
        `127.0.0.1:${servers[1]!.port}`,
        "add-job",
        "count-words",
        "-",
        "counts",
        words.trim(),
        "--detach",
      ],
      countWords,
    );
    const counts = submitted.trim().split(" ")[1]!;
    await cloud([
      "client",
      "-s",
      `127.0.0.1:${servers[2]!.port}`,
      "add-job",
      "top-three",
      "-",
      "top",
      counts,
    ], topThree);
    await cloud(["client", "-s", ring, "get", counts]);

    console.log(bold("\nWhat each server holds"));
    await cloud(["client", "-s", ring, "info", "--all"]);
  } finally {
    console.log(bold("\nStopping everything the demo started …"));
    if (runner) {
      try {
        runner.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      await runner.status;
    }
    await Promise.all(servers.map((server) => server.kill("SIGTERM")));
    await Deno.remove(dataRoot, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (error) {
    console.error(`demo failed: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
