/**
 * Scenario 3: 1 GB upload and download through a 3-server ring with 2
 * copies: MB/s each way and the peak RSS of every process. Cloud only.
 *
 * @module
 */

import { cloudBulk } from "../cloud.ts";
import { type Comparison, measure, type Row } from "../results.ts";
import { classify, formatBytes, measuredRow, type Scenario } from "./context.ts";

const scenario = "bulk";
const key = `${scenario}/1gb/cloud-3`;

/** Scenario 3 of the issue. */
export const bulkScenario: Scenario = {
  id: scenario,
  issueNumbers: [3],
  title: "Bulk: upload and download through the ring",
  run: async (context): Promise<Row[]> => {
    const bytes = context.sizes.bulkBytes;
    const base = {
      scenario,
      caseLabel: `${formatBytes(bytes)} up and down`,
      system: "cloud, 3 servers, 2 copies",
      key,
    };
    context.log(`${base.system}: ${base.caseLabel}`);
    try {
      const runs = await cloudBulk(context, {
        bytes,
        servers: 3,
        replicaCount: 2,
        runs: context.runs,
      });
      const labels = [...new Set(runs.flatMap((run) => Object.keys(run.peakRssBytes)))].sort();
      return [measuredRow({ ...base, note: "MB = 10^6 bytes" }, [
        measure("upload", "MB/s", "higher", runs.map((run) => run.uploadMBps)),
        measure("download", "MB/s", "higher", runs.map((run) => run.downloadMBps)),
        ...labels.map((label) =>
          measure(
            `peak RSS ${label}`,
            "MB",
            "lower",
            runs.map((run) => (run.peakRssBytes[label] ?? NaN) / 1e6),
          )
        ),
      ])];
    } catch (error) {
      return [{ ...base, measures: [], ...classify(error) }];
    }
  },
  comparisons: [
    {
      label: "bulk upload through the ring",
      subject: { key, metric: "upload" },
      target: { op: ">=", value: 200 },
      unit: "MB/s",
    },
    {
      label: "bulk download through the ring",
      subject: { key, metric: "download" },
      target: { op: ">=", value: 200 },
      unit: "MB/s",
    },
  ] satisfies Comparison[],
};
