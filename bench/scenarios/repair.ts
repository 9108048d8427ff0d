/**
 * Scenario 7: objects on 5 servers with 2 copies; time from kill -9 of one
 * server until every object has 2 copies again. Cloud only.
 *
 * @module
 */

import { cloudRepair } from "../cloud.ts";
import { measure, type Row } from "../results.ts";
import { classify, measuredRow, type Scenario } from "./context.ts";

const scenario = "repair";

/** Scenario 7 of the issue. */
export const repairScenario: Scenario = {
  id: scenario,
  issueNumbers: [7],
  title: "Repair: back to 2 copies after kill -9 of one server",
  run: async (context): Promise<Row[]> => {
    const { repairObjects: objects, repairServers: servers } = context.sizes;
    const base = {
      scenario,
      caseLabel: `${objects} objects, ${servers} servers, kill -9 one`,
      system: "cloud, 2 copies",
      key: `${scenario}/kill/cloud`,
    };
    context.log(`${base.system}: ${base.caseLabel}`);
    try {
      const runs = await cloudRepair(context, {
        objects,
        servers,
        replicaCount: 2,
        runs: context.runs,
      });
      return [measuredRow(base, [
        measure("repair time", "s", "lower", runs.map((run) => run.repairSeconds)),
      ])];
    } catch (error) {
      return [{ ...base, measures: [], ...classify(error) }];
    }
  },
  comparisons: [],
};
