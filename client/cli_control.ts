/**
 * Job control from the command line: `cloud client cancel <job>...`, and
 * what Ctrl-C of a waiting `add-job` does (the job keeps running; one line
 * says how to cancel it).
 *
 * @module
 */

import { type Command, InvalidArgumentError } from "commander";
import { parseHash } from "../protocol/hash.ts";
import { CloudError } from "./errors.ts";
import { atInterrupt, exitStatus, Failure, print } from "./cli_io.ts";
import type { WithCloud } from "./cli_jobs.ts";

/** What `cancel` says of one job. */
export function cancelLine(hash: string, outcome: string): string {
  return outcome === "cancelled"
    ? `${hash} cancelled`
    : `${hash} had already finished (${outcome}): nothing to cancel`;
}

/** The line Ctrl-C of a waiting `add-job` prints. */
export function detachedLine(hash: string): string {
  return `cloud: job ${hash} keeps running; cancel it with: cloud client cancel ${hash}`;
}

/**
 * Runs `wait` (the wait for job `hash`); Ctrl-C during it prints
 * {@linkcode detachedLine} on stderr, leaving the job as it is, and the
 * client's interrupt handler (`whileInterruptible` in cli_io.ts) restores the
 * terminal and exits 130.
 */
export async function waitingFor<T>(hash: string, wait: () => Promise<T>): Promise<T> {
  const forget = atInterrupt(() => console.error(`\n${detachedLine(hash)}`));
  try {
    return await wait();
  } finally {
    forget();
  }
}

function jobHash(text: string, previous: string[] = []): string[] {
  try {
    parseHash(text);
  } catch {
    throw new InvalidArgumentError(`expected a job hash of 8 hex digits (got "${text}")`);
  }
  return [...previous, text.toLowerCase().padStart(8, "0")];
}

/** Adds `cancel` to `client`. */
export function addControlCommands(client: Command, withCloud: WithCloud): void {
  client.command("cancel")
    .description(
      "cancel jobs: a waiting one never runs, a running one is stopped; each fails as cancelled",
    )
    .argument("<jobs...>", "job hashes")
    .action((jobs: string[], _options: unknown, command: Command) =>
      withCloud(command, async (cloud, global) => {
        const hashes = jobs.reduce((all, text) => jobHash(text, all), [] as string[]);
        const results: { job: string; outcome: string }[] = [];
        let refused = 0;
        for (const hash of hashes) {
          try {
            const outcome = await cloud.cancel(parseHash(hash));
            results.push({ job: hash, outcome });
            if (!global.json) await print(`${cancelLine(hash, outcome)}\n`);
          } catch (error) {
            if (!(error instanceof CloudError)) throw error;
            refused++;
            results.push({ job: hash, outcome: error.reason });
            console.error(`cloud: cannot cancel ${hash}: ${error.message}`);
          }
        }
        if (global.json) await print(JSON.stringify({ jobs: results }) + "\n");
        if (refused > 0) {
          throw new Failure(exitStatus.failed, `${refused} of ${hashes.length} not cancelled`);
        }
      })
    );
}
