/**
 * Scenarios of failing machines on five servers in their own network
 * namespaces (issue 17): a frozen server, two killed and restarted, a full
 * disk, a runner cut off while running jobs. Needs root; skipped with the
 * reason printed elsewhere.
 */

import { scenarioTests } from "./suite.ts";
import { diskFull, killTwo, pausedServer, runnerCutOff } from "./scenarios.ts";

scenarioTests([
  { scenario: pausedServer, seed: 5 },
  { scenario: killTwo, seed: 5 },
  { scenario: diskFull, seed: 5 },
  { scenario: runnerCutOff, seed: 5 },
]);
