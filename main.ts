/**
 * `cloud`: a distributed Python compute service. One program, three roles:
 *
 * ```
 * cloud server 11111 hostA 11111     # join the ring that hostA:11111 belongs to
 * cloud runner hostA 11111           # run jobs until none are left
 * cloud client add-job ...           # upload, submit, wait, fetch
 * cloud auth init DIR                # credentials for a ring (servers' auth file, tokens)
 * ```
 *
 * @module
 */

import { Command, CommanderError } from "commander";
import { authCommand } from "./cli/auth_init.ts";
import { serverCommand } from "./server/cli.ts";
import { clientCommand } from "./client/cli.ts";
import { runnerCommand } from "./runner/cli.ts";
import { ConnectionError } from "./protocol/connection.ts";

/**
 * Makes a usage error commander reports (unknown option, bad argument)
 * exit 2 as README says, in `command` and all its subcommands; help and
 * --version still exit 0. Errors thrown by actions are not these.
 */
function throwOnExit(command: Command): Command {
  command.exitOverride((error: CommanderError) => Deno.exit(error.exitCode === 0 ? 0 : 2));
  for (const sub of command.commands) throwOnExit(sub);
  return command;
}

/** Builds the command line of `cloud`. */
export function program(): Command {
  return throwOnExit(
    new Command("cloud")
      .description(
        "a distributed Python compute service: servers store files and jobs, runners run them",
      )
      .version("0.1.0")
      .addCommand(serverCommand())
      .addCommand(runnerCommand())
      .addCommand(clientCommand())
      .addCommand(authCommand()),
  );
}

if (import.meta.main) {
  try {
    await program().parseAsync(Deno.args, { from: "user" });
  } catch (error) {
    console.error(`cloud: ${(error as Error).message}`);
    // As the client's statuses: 3 when no server could be reached.
    Deno.exit(error instanceof ConnectionError ? 3 : 1);
  }
}
