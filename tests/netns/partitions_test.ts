/**
 * Scenarios of partitions on five servers in their own network namespaces
 * (issue 17): one server cut off, a split with clients on both sides, one-way
 * partitions, a flapping link. Needs root; skipped with the reason printed
 * elsewhere.
 */

import { randomScenarioTest, scenarioTests } from "./suite.ts";
import {
  flappingLink,
  majorityMinoritySplit,
  minorityPartition,
  oneWayPartition,
} from "./scenarios.ts";

scenarioTests([
  { scenario: minorityPartition, seed: 1701 },
  { scenario: majorityMinoritySplit, seed: 3 },
  { scenario: oneWayPartition, seed: 5 },
  { scenario: flappingLink, seed: 5 },
]);
randomScenarioTest();
