/**
 * `deno task demo [--sandbox auto|bwrap|pyodide]`: makes credentials
 * (`cloud auth init`), starts a local ring of three servers with them and a
 * runner with its token, runs the original design's example and a
 * two-stage pipeline through the `cloud` command line (with the client's
 * token in `$CLOUD_TOKEN_FILE`), shows the results and the ring, then stops
 * everything it started. If the runner exits early (no sandbox could
 * start), the demo stops with the runner's last line.
 *
 * @module
 */

import { runCloud, ServerProcess, TestAuth } from "../tests/harness.ts";

const mainPath = new URL("../main.ts", import.meta.url).pathname;
const bold = (text: string) => Deno.stdout.isTerminal() ? `\x1b[1m${text}\x1b[0m` : text;

function show(args: string[]): void {
  console.log(bold(`\n$ cloud ${args.map((a) => (/[\s"'$]/.test(a) ? `'${a}'` : a)).join(" ")}`));
}

/** The demo's runner: its process, and its last line of stderr (forwarded as it comes). */
class Runner {
  readonly child: Deno.ChildProcess;
  /** Aborted once the runner has exited. */
  readonly exited = new AbortController();
  readonly status: Promise<Deno.CommandStatus>;
  readonly #forwarded: Promise<void>;
  #lastLine = "";

  constructor(args: string[]) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", mainPath, ...args],
      stdin: "null",
      stdout: "inherit",
      stderr: "piped",
    }).spawn();
    this.#forwarded = this.#forward();
    this.status = this.child.status.then(async (status) => {
      await this.#forwarded;
      this.exited.abort();
      return status;
    });
  }

  /** Why the runner stopped, once it has. */
  async failure(): Promise<Error> {
    const status = await this.status;
    return new Error(`the runner exited (status ${status.code}): ${this.#lastLine || "no output"}`);
  }

  async stop(): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await this.status;
  }

  async #forward(): Promise<void> {
    const lines = this.child.stderr.pipeThrough(new TextDecoderStream());
    let pending = "";
    for await (const text of lines) {
      Deno.stderr.writeSync(new TextEncoder().encode(text));
      pending += text;
      const complete = pending.split("\n");
      pending = complete.pop() ?? "";
      const last = complete.filter((line) => line.trim() !== "").at(-1);
      if (last !== undefined) this.#lastLine = last.trim();
    }
    if (pending.trim() !== "") this.#lastLine = pending.trim();
  }
}

let runner: Runner | undefined;
/** The demo's credentials; the client commands carry the client's token. */
let auth: TestAuth | undefined;

async function cloud(args: string[], stdin?: string): Promise<string> {
  show(args);
  const stopped = runner?.exited.signal;
  const result = await runCloud(args, {
    role: null,
    ...(auth ? { env: { CLOUD_TOKEN_FILE: auth.tokenFile("client") } } : {}),
    ...(stdin === undefined ? {} : { stdin: new TextEncoder().encode(stdin) }),
    // A client waiting for a job no runner will run is stopped with the runner.
    ...(stopped === undefined ? {} : { signal: stopped }),
  }).catch((error) => {
    if (stopped?.aborted) return null;
    throw error;
  });
  if (stopped?.aborted || result === null) throw await runner!.failure();
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

/** `--sandbox <kind>` from the demo's arguments (default auto). */
function sandboxArgument(args: readonly string[]): string {
  const at = args.indexOf("--sandbox");
  const kind = at < 0 ? "auto" : args[at + 1];
  if (kind === undefined || !["auto", "bwrap", "pyodide"].includes(kind)) {
    throw new Error(`--sandbox must be auto, bwrap or pyodide (got ${JSON.stringify(kind ?? "")})`);
  }
  return kind;
}

async function main(): Promise<void> {
  const sandbox = sandboxArgument(Deno.args);
  const dataRoot = await Deno.makeTempDir({ prefix: "cloud-demo-" });
  const servers: ServerProcess[] = [];
  try {
    console.log(bold("Credentials for the ring: an auth file for the servers, a token per role"));
    const credentials = new TestAuth(`${dataRoot}/credentials`);
    await cloud(["auth", "init", credentials.dir]);
    auth = credentials;

    console.log(bold("\nStarting a ring of three servers on 127.0.0.1, with --auth-file …"));
    const start = (name: string, join?: ServerProcess, args: string[] = []) =>
      ServerProcess.start({
        dataDir: `${dataRoot}/${name}`,
        auth: credentials,
        args,
        ...(join ? { join } : {}),
      });
    servers.push(await start("a", undefined, ["--http", "0"]));
    servers.push(await start("b", servers[0]!));
    servers.push(await start("c", servers[0]!));
    for (const server of servers) console.log(`  server ${server.id} (pid ${server.pid})`);
    const first = servers[0]!.client();
    console.log(
      `  dashboard of the ring, while the demo runs: http://${(await first.info()).http}/`,
    );
    console.log(
      `  (it asks for a token: client:<secret>, the secret being the second word of ${
        credentials.tokenFile("client")
      })`,
    );
    first.close();
    const ring = `127.0.0.1:${servers[0]!.port}`;
    console.log(`  clients below run with CLOUD_TOKEN_FILE=${credentials.tokenFile("client")}`);

    const runnerArgs = [
      "runner",
      "127.0.0.1",
      String(servers[0]!.port),
      "--watch",
      "--jobs",
      "2",
      "--token-file",
      credentials.tokenFile("runner"),
    ];
    if (sandbox !== "auto") runnerArgs.push("--sandbox", sandbox);
    show(runnerArgs);
    runner = new Runner(runnerArgs);

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
    await runner?.stop();
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
