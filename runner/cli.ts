/**
 * `cloud runner [host] port`: runs jobs from the ring in a sandbox until
 * none are left (or, with `--watch`, until SIGINT/SIGTERM).
 *
 * @module
 */

import { Command, InvalidArgumentError } from "commander";
import {
  durationOption,
  integerOption,
  parseTarget,
  securityFrom,
  securityOptions,
  stderrLog,
} from "../cli/options.ts";
import { stderrBytesMax } from "../limits.ts";
import { lockDirectory } from "../lockfile.ts";
import type { BwrapSandbox } from "./sandbox/bwrap.ts";
import { defaultSandboxLimits, type Sandbox } from "./sandbox/sandbox.ts";
import { createSandbox } from "./sandbox/select.ts";
import { runJobs } from "./runner.ts";

const mib = 1024 * 1024;

/** The `runner` subcommand. */
export function runnerCommand(): Command {
  const limits = defaultSandboxLimits;
  return securityOptions(
    new Command("runner")
      .description(
        "run jobs from the ring in a sandbox until none are left (default localhost 11111)",
      ),
  )
    .argument("[host]", "a server of the ring (or its port, alone)")
    .argument("[port]", "its port")
    .option(
      "--watch",
      "keep waiting for jobs until SIGINT/SIGTERM, then give back the running ones",
    )
    .option(
      "-j, --jobs <n>",
      "jobs run at once",
      integerOption(1, 1024),
      navigator.hardwareConcurrency || 1,
    )
    .option(
      "--sandbox <kind>",
      "auto | bwrap | pyodide (auto: bwrap when bubblewrap and Python work, else pyodide)",
      "auto",
    )
    .option(
      "--python <name|path>",
      "interpreter inside bubblewrap: a name on PATH or a path (default pypy3, else python3)",
    )
    .option(
      "--packages <dir>",
      "bwrap: a directory of extra Python packages (e.g. a virtualenv's site-packages), read-only on jobs' sys.path; repeatable",
      (dir: string, dirs: string[] = []) => [...dirs, dir],
    )
    .option(
      "--sandbox-mode <mode>",
      "bwrap: fork (one interpreter per jail forks a fresh child per job; fast) or fresh (a new jail per job); default fork when it works",
    )
    .option(
      "--wall-ms <ms>",
      "wall-clock limit per job",
      durationOption(100, 86_400_000),
      limits.wallMs,
    )
    .option("--cpu-s <s>", "CPU-time limit per job", integerOption(1, 86_400), limits.cpuSeconds)
    .option(
      "--memory-mb <mb>",
      "memory limit per job (bwrap: on top of the interpreter's own)",
      integerOption(16, 1_048_576),
      limits.memoryBytes / mib,
    )
    .option(
      "--processes <n>",
      "processes per job (bwrap)",
      integerOption(1, 4096),
      limits.processes,
    )
    .option(
      "--output-mb <mb>",
      "stdout limit per job",
      integerOption(1, 1_048_576),
      limits.stdoutBytesMax / mib,
    )
    .option(
      "--work-dir <dir>",
      "directory for cached inputs and outputs, one runner each (default: a new temporary one)",
    )
    .option("-q, --quiet", "log nothing but errors")
    .action(async (first: string | undefined, second: string | undefined, options) => {
      const { host, port } = parseTarget(first, second);
      if (options.sandboxMode !== undefined && !["fork", "fresh"].includes(options.sandboxMode)) {
        throw new InvalidArgumentError(
          `--sandbox-mode must be fork or fresh (got "${options.sandboxMode}")`,
        );
      }
      if (!["auto", "bwrap", "pyodide"].includes(options.sandbox)) {
        throw new InvalidArgumentError(
          `--sandbox must be auto, bwrap or pyodide (got "${options.sandbox}")`,
        );
      }
      const security = securityFrom(options);
      const log = stderrLog(options.quiet);
      const workDir = options.workDir ?? await Deno.makeTempDir({ prefix: "cloud-runner-" });
      await Deno.mkdir(`${workDir}/sandbox`, { recursive: true });
      // Two runners in one work directory would write each other's outputs
      // and remove each other's sandboxes.
      const lock = lockDirectory(workDir);
      if (!lock) {
        throw new Error(
          `Cannot use work directory ${workDir}: another cloud runner is using it (give each runner its own --work-dir)`,
        );
      }
      let sandbox: Awaited<ReturnType<typeof createSandbox>>;
      try {
        sandbox = await createSandbox({
          kind: options.sandbox,
          workDir: `${workDir}/sandbox`,
          onFallback: (reason) => log(`bwrap unavailable (${reason}); using pyodide`),
          python: options.python,
          mode: options.sandboxMode,
          packages: options.packages ?? [],
          limits: {
            wallMs: options.wallMs,
            cpuSeconds: options.cpuS,
            memoryBytes: options.memoryMb * mib,
            processes: options.processes,
            stdoutBytesMax: options.outputMb * mib,
            stderrBytesMax: Math.min(limits.stderrBytesMax, stderrBytesMax),
          },
        });
      } catch (error) {
        // No sandbox: stop at once (main prints the one-line reason).
        lock.close();
        if (!options.workDir) await Deno.remove(workDir, { recursive: true }).catch(() => {});
        throw error;
      }
      // No Deno permission is dropped here: the bwrap backend writes cgroup
      // files under /sys, which Deno allows only with every permission. The
      // job's isolation comes from the sandbox, not from the runner's permissions.
      const stopping = new AbortController();
      const stop = () => {
        if (stopping.signal.aborted) return;
        log("stopping: giving back running jobs");
        stopping.abort();
      };
      Deno.addSignalListener("SIGINT", stop);
      Deno.addSignalListener("SIGTERM", stop);
      log(
        `runner: ${options.jobs} at once, sandbox ${
          describeSandbox(sandbox)
        }, ring ${host}:${port}${security.credential ? ` as ${security.credential.role}` : ""}${
          security.tls ? " over TLS" : ""
        }`,
      );
      try {
        const summary = await runJobs({
          host,
          port,
          sandbox,
          jobs: options.jobs,
          watch: options.watch ?? false,
          workDir,
          signal: stopping.signal,
          log,
          security,
        });
        log(
          `runner: ${summary.done} done, ${summary.failed} failed, ${summary.returned} given back`,
        );
      } finally {
        Deno.removeSignalListener("SIGINT", stop);
        Deno.removeSignalListener("SIGTERM", stop);
        await sandbox.close();
        if (!options.workDir) await Deno.remove(workDir, { recursive: true }).catch(() => {});
        lock.close();
      }
    });
}

/** The sandbox for the start line: its kind, and for bwrap its mode and interpreter. */
function describeSandbox(sandbox: Sandbox): string {
  if (sandbox.name !== "bwrap") return sandbox.name;
  const { mode, probe } = sandbox as BwrapSandbox;
  const { implementation, version } = probe.interpreter;
  return `bwrap (${mode} mode, ${probe.pythonPath}: ${implementation} ${version})`;
}
