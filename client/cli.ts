/**
 * `cloud client …`: upload, submit, wait and fetch from shell scripts.
 * Every subcommand prints a result on stdout (JSON with `--json`), and on
 * failure a one-line reason on stderr with a non-zero exit status.
 *
 * @module
 */

import { Command, InvalidArgumentError } from "commander";
import { checkName, ComputeCloud, type FileObject } from "./cloud.ts";
import {
  describe,
  exitStatus,
  Failure,
  jobSummary,
  openInput,
  print,
  readInput,
  whileInterruptible,
} from "./cli_io.ts";
import { writeAtomically } from "./cli_output.ts";
import { type Progress, progress } from "./progress.ts";
import { addInspectionCommands, humanStatus } from "./cli_jobs.ts";
import { addControlCommands, waitingFor } from "./cli_control.ts";
import { parseHash } from "../protocol/hash.ts";
import {
  defaultPort,
  durationOption,
  parseServerList,
  type SecurityFlags,
  securityFrom,
  securityOptions,
} from "../cli/options.ts";
import { isRunningState } from "../protocol/states.ts";
import { clientWaitMsDefault, infoTimeoutMs, requestTimeoutMs } from "../limits.ts";

export { exitStatus } from "./cli_io.ts";

interface GlobalOptions extends SecurityFlags {
  server: string;
  json?: boolean;
  timeout: number;
}

/** Whether progress lines go to stderr: a terminal, and no `--json`. */
function showProgress(global: GlobalOptions): boolean {
  return !global.json && Deno.stderr.isTerminal();
}

/** Uploads an opened input with a progress line; returns the file and its size. */
async function upload(
  cloud: ComputeCloud,
  name: string,
  input: { stream: ReadableStream<Uint8Array>; size?: number },
  options: { fresh: boolean; show: boolean },
): Promise<{ file: FileObject; size: number }> {
  const line = progress(`upload ${name}`, options.show);
  let size = 0;
  try {
    const file = await cloud.addStream(name, input.stream, {
      fresh: options.fresh,
      onProgress: (bytes) => {
        size = bytes;
        line.bytes(bytes, input.size);
      },
    });
    return { file, size };
  } finally {
    line.stop();
  }
}

/** Waits for an object to finish, showing its state; returns the last state seen. */
async function waitShowing(file: FileObject, timeoutMs: number, line: Progress): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let state = "";
  for (;;) {
    const remaining = Math.max(0, deadline - Date.now());
    state = await file.wait(Math.min(remaining, 1_000));
    line.state(state);
    if (!isRunningState(state) || remaining === 0) return state;
  }
}

/**
 * Waits for a file (or job) to finish, then streams its content into
 * `write`, showing the state, then bytes (not when the content goes to
 * the terminal too: the two would mix).
 */
async function fetchTo(
  file: FileObject,
  write: (chunk: Uint8Array) => Promise<void>,
  options: { timeoutMs: number; show: boolean; toStdout: boolean },
): Promise<number> {
  const { timeoutMs, show, toStdout } = options;
  const label = `${file.name ?? file.hash}`;
  const waiting = progress(`wait ${label}`, show);
  try {
    await waitShowing(file, timeoutMs, waiting);
  } finally {
    waiting.stop();
  }
  const line = progress(`fetch ${label}`, show && !(toStdout && Deno.stdout.isTerminal()));
  try {
    const opened = await file.open({
      timeoutMs,
      onProgress: (bytes, size) => line.bytes(bytes, size),
    });
    for await (const chunk of opened.chunks) await write(chunk);
    return opened.size;
  } finally {
    line.stop();
  }
}

/** Runs `work` with a connected client, turning errors into one line and an exit status. */
async function withCloud(
  command: Command,
  work: (cloud: ComputeCloud, options: GlobalOptions) => Promise<void>,
): Promise<void> {
  const options = command.optsWithGlobals() as GlobalOptions;
  let cloud: ComputeCloud;
  try {
    const [first, ...fallback] = parseServerList(options.server);
    cloud = new ComputeCloud(first!.host, first!.port, {
      ...securityFrom(options),
      fallback,
      requestTimeoutMs: Math.min(options.timeout, requestTimeoutMs),
    });
  } catch (error) {
    console.error(`cloud client: ${(error as Error).message}`);
    Deno.exitCode = exitStatus.usage;
    return;
  }
  await Deno.permissions.revoke({ name: "run" });
  await Deno.permissions.revoke({ name: "ffi" });
  try {
    await whileInterruptible(() => work(cloud, options));
  } catch (error) {
    const [status, message] = describe(error, options.server);
    console.error(`cloud client: ${message}`);
    Deno.exitCode = status;
  } finally {
    cloud.close();
  }
}

function hashArgument(text: string): string {
  try {
    parseHash(text);
  } catch {
    throw new InvalidArgumentError(`expected a hash of 8 hex digits (got "${text}")`);
  }
  return text.toLowerCase().padStart(8, "0");
}

/** The `client` subcommand and its subcommands. */
export function clientCommand(): Command {
  const client = securityOptions(
    new Command("client")
      .description("talk to a ring: upload files, submit jobs, wait for and fetch results"),
  )
    .option(
      "-s, --server <host:port,...>",
      "servers of the ring, tried in order ($CLOUD_SERVER, same form)",
      Deno.env.get("CLOUD_SERVER") ?? `localhost:${defaultPort}`,
    )
    .option("--json", "print results as JSON")
    .option(
      "-t, --timeout <duration>",
      "give up waiting after this long, connecting included (500ms, 10s, 5m, 2h; a plain number is ms)",
      durationOption(1, 2_147_483_647),
      clientWaitMsDefault,
    );

  client.command("add-string")
    .description("store a string as a file; prints its hash")
    .argument("<name>", "file name (no ':')")
    .argument("<text>", "content")
    .option("--fresh", "store a distinct object even if an identical one exists")
    .action((name: string, text: string, options: { fresh?: boolean }, command: Command) =>
      withCloud(command, async (cloud, global) => {
        const file = await cloud.addString(name, text, { fresh: options.fresh ?? false });
        await print(
          global.json ? JSON.stringify({ hash: file.hash, name }) + "\n" : `${file.hash}\n`,
        );
      })
    );

  client.command("add-file")
    .description("store a local file ('-' for stdin); prints its hash")
    .argument("<name>", "file name in the cloud (no ':')")
    .argument("<path>", "local file, or - for stdin")
    .option("--fresh", "store a distinct object even if an identical one exists")
    .action((name: string, path: string, options: { fresh?: boolean }, command: Command) =>
      withCloud(command, async (cloud, global) => {
        const input = await openInput(path);
        await Deno.permissions.revoke({ name: "read" });
        const { file, size } = await upload(cloud, name, input, {
          fresh: options.fresh ?? false,
          show: showProgress(global),
        });
        await print(
          global.json ? JSON.stringify({ hash: file.hash, name, size }) + "\n" : `${file.hash}\n`,
        );
      })
    );

  client.command("add-job")
    .description(
      "submit a job, wait for it and print its output; inputs are hashes or name=path (uploaded first)",
    )
    .argument("<name>", "job name (no ':')")
    .argument("<code>", "Python source file, or - for stdin")
    .argument("<output>", "name of the output file (no ':')")
    .argument("[inputs...]", "input files: a hash, or name=path to upload a local file")
    .option("--detach", "submit and print the hashes without waiting")
    .option("--fresh", "run again even if an identical job exists")
    .action((
      name: string,
      code: string,
      output: string,
      inputs: string[],
      options,
      command: Command,
    ) =>
      withCloud(command, async (cloud, global) => {
        // Every name first: nothing is uploaded for a job that cannot be submitted.
        checkName(name, "job name");
        checkName(output, "output name");
        for (const input of inputs) {
          if (input.includes("=")) checkName(input.slice(0, input.indexOf("=")), "input name");
        }
        const source = new TextDecoder().decode(await readInput(code, "the job's code"));
        const namespace: (string | FileObject)[] = [];
        for (const input of inputs) {
          const equals = input.indexOf("=");
          if (equals < 0) namespace.push(hashArgument(input));
          else {
            const opened = await openInput(input.slice(equals + 1));
            const uploaded = await upload(cloud, input.slice(0, equals), opened, {
              fresh: false,
              show: showProgress(global),
            });
            namespace.push(uploaded.file);
          }
        }
        await Deno.permissions.revoke({ name: "read" });
        const [job, out] = await cloud.addJob(name, source, output, namespace, {
          fresh: options.fresh ?? false,
        });
        if (options.detach) {
          await print(
            global.json
              ? JSON.stringify({ job: job.hash, output: out.hash }) + "\n"
              : `${job.hash} ${out.hash}\n`,
          );
          return;
        }
        await reportJob(job, out, global);
      })
    );

  client.command("get")
    .description("wait for a file to complete and print it (a job: its stderr)")
    .argument("<hash>", "object hash", hashArgument)
    .option("-o, --output <path>", "write to this file instead of stdout")
    .action((hash: string, options: { output?: string }, command: Command) =>
      withCloud(command, async (cloud, global) => {
        const fetchOptions = { timeoutMs: global.timeout, show: showProgress(global) };
        if (options.output === undefined) {
          await Deno.permissions.revoke({ name: "write" });
          await fetchTo(cloud.file(hash), print, { ...fetchOptions, toStdout: true });
          return;
        }
        await writeAtomically(
          options.output,
          (write) => fetchTo(cloud.file(hash), write, { ...fetchOptions, toStdout: false }).then(),
        );
      })
    );

  client.command("wait")
    .description("wait until an object is finished; prints its state, fails if it failed")
    .argument("<hash>", "object hash", hashArgument)
    .action((hash: string, _options: unknown, command: Command) =>
      withCloud(command, async (cloud, global) => {
        const line = progress(`wait ${hash}`, showProgress(global));
        let state: string;
        try {
          state = await waitShowing(cloud.file(hash), global.timeout, line);
        } finally {
          line.stop();
        }
        await print(global.json ? JSON.stringify({ hash, state }) + "\n" : `${state}\n`);
        if (state === "failed") {
          const status = await cloud.file(hash).status();
          throw new Failure(
            exitStatus.failed,
            `${hash} failed: ${status.error ?? status.detail ?? status.reason}`,
          );
        }
        if (state !== "complete" && state !== "done") {
          throw new Failure(
            exitStatus.timeout,
            `${hash} is still ${state} after ${global.timeout} ms`,
          );
        }
      })
    );

  client.command("status")
    .description("show what the ring knows of an object")
    .argument("<hash>", "object hash", hashArgument)
    .action((hash: string, _options: unknown, command: Command) =>
      withCloud(command, async (cloud, global) => {
        const status = await cloud.file(hash).status();
        if (global.json) return await print(JSON.stringify(status) + "\n");
        await print(await humanStatus(cloud, status));
      })
    );

  client.command("servers")
    .description("list the ring's servers: host, port and number of ring positions")
    .option("--positions", "one line per ring position (host port salt), as GETS lists them")
    .action((options: { positions?: boolean }, command: Command) =>
      withCloud(command, async (cloud, global) => {
        const servers = await cloud.refreshServers();
        if (global.json) return await print(JSON.stringify(servers) + "\n");
        if (options.positions) {
          const lines = servers.map((s) =>
            `${s.host} ${s.port} ${s.salt.toString(16).padStart(8, "0")}`
          );
          return await print(lines.join("\n") + "\n");
        }
        const counts = new Map<string, number>();
        for (const s of servers) {
          counts.set(`${s.host} ${s.port}`, (counts.get(`${s.host} ${s.port}`) ?? 0) + 1);
        }
        await print([...counts].map(([server, n]) => `${server} ${n} positions`).join("\n") + "\n");
      })
    );

  client.command("info")
    .description(
      "inspect servers: ring positions, objects held as owner and replica, view of the ring",
    )
    .option("--all", "ask every server of the ring, not only --server")
    .action((options: { all?: boolean }, command: Command) =>
      withCloud(command, async (cloud, global) => {
        const infos = options.all ? await infoOfAll(cloud, global.timeout) : [await cloud.info()];
        if (global.json) return await print(JSON.stringify(options.all ? infos : infos[0]) + "\n");
        await print(infos.map(formatInfo).join("\n") + "\n");
      })
    );

  client.command("scenario")
    .description("the original design's test scenario: two files and a job that prints them")
    .action((_options: unknown, command: Command) =>
      withCloud(command, async (cloud, global) => {
        const f = await cloud.addString("name1", "contents");
        const g = await cloud.addString("name2", "more contents\n");
        const code =
          'for path in ["/net/name1", "/net/name2"]:\n    print(open(path, "r").read())\n';
        const [job, out] = await cloud.addJob("jobname", code, "outputname", [f, g]);
        if (!global.json) {
          await print(`name1 ${f.hash}\nname2 ${g.hash}\njob ${job.hash} output ${out.hash}\n`);
        }
        await reportJob(job, out, global);
      })
    );

  addInspectionCommands(client, withCloud);
  addControlCommands(client, withCloud);
  return client;
}

async function reportJob(job: FileObject, out: FileObject, global: GlobalOptions): Promise<void> {
  const line = progress(`job ${job.name ?? job.hash}`, showProgress(global));
  let state: string;
  try {
    // Ctrl-C leaves the job running and says how to cancel it.
    state = await waitingFor(job.hash, () => waitShowing(job, global.timeout, line));
  } finally {
    line.stop();
  }
  if (state !== "done" && state !== "failed") {
    throw new Failure(
      exitStatus.timeout,
      `job ${job.hash} is still ${state} after ${global.timeout} ms`,
    );
  }
  const status = await job.status();
  const stderr = new TextDecoder().decode(await job.get());
  // One shape for --json, done or failed.
  const result = (stdout: string) => ({
    job: job.hash,
    output: out.hash,
    state,
    exitCode: status.exitCode ?? null,
    reason: status.reason ?? null,
    detail: status.detail ?? "",
    stdout,
    stderr,
  });
  if (state === "failed") {
    if (global.json) await print(JSON.stringify(result("")) + "\n");
    else if (stderr) console.error(stderr.trimEnd());
    throw new Failure(
      exitStatus.failed,
      `job ${job.hash} failed (${status.reason}): ${status.detail || "see stderr"}`,
    );
  }
  if (!global.json) {
    await fetchTo(out, (chunk) => print(chunk), {
      timeoutMs: global.timeout,
      show: showProgress(global),
      toStdout: true,
    });
    console.error(jobSummary(job.hash, out.hash, stderr));
    return;
  }
  const data = await out.get();
  await print(JSON.stringify(result(new TextDecoder().decode(data))) + "\n");
}

async function infoOfAll(
  cloud: ComputeCloud,
  timeoutMs: number,
): Promise<Record<string, unknown>[]> {
  const servers = await cloud.refreshServers();
  const unique = [...new Map(servers.map((s) => [`${s.host}:${s.port}`, s])).values()];
  return await Promise.all(unique.map(async (server) => {
    const one = new ComputeCloud(server.host, server.port, {
      ...cloud.security,
      requestTimeoutMs: Math.min(timeoutMs, infoTimeoutMs),
    });
    try {
      return await one.info();
    } catch (error) {
      return { id: `${server.host}:${server.port}`, error: (error as Error).message };
    } finally {
      one.close();
    }
  }));
}

function formatInfo(info: Record<string, unknown>): string {
  if (info.error) return `${info.id}: unreachable (${info.error})`;
  const objects = info.objects as Record<string, number>;
  const members = info.members as { id: string; alive: boolean }[];
  return [
    `${info.id} (incarnation ${info.incarnation}, ${
      (info.positions as string[]).length
    } positions, replicas ${info.replicas})`,
    `  objects: ${objects.objects} (${objects.owner} as owner, ${objects.replica} as replica, ${objects.stray} to hand over), open jobs ${info.openJobs}`,
    `  ring: ${members.map((m) => `${m.id}${m.alive ? "" : " (dead)"}`).join(", ")}`,
  ].join("\n");
}
