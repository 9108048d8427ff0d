import assert from "node:assert/strict";
import { formatNumber, markdownTable, replaceBetweenMarks, rowCells, textTable } from "./report.ts";
import { compare, measure, type Row, statusRows } from "./results.ts";

Deno.test("formatNumber() keeps three significant digits", () => {
  assert.equal(formatNumber(97262.5), "97.3k");
  assert.equal(formatNumber(1_234_567), "1.23M");
  assert.equal(formatNumber(612.4), "612");
  assert.equal(formatNumber(10.37), "10.4");
  assert.equal(formatNumber(1.234), "1.23");
  assert.equal(formatNumber(0.0612), "0.061");
  assert.equal(formatNumber(0), "0");
  assert.equal(formatNumber(NaN), "–");
});

const measured: Row = {
  scenario: "objects",
  caseLabel: "GET 1 KB, 1 conn",
  system: "redis",
  key: "objects/get-c1/redis",
  status: "ok",
  measures: [measure("throughput", "ops/s", "higher", [100, 200, 300])],
};

Deno.test("rowCells() gives one line per measure and one per unmeasured row", () => {
  const missing = statusRows(
    "objects",
    [{ key: "get-c1", label: "GET 1 KB, 1 conn" }],
    {
      key: "cloud-1",
      label: "cloud",
    },
    "not implemented yet",
    "TODO",
  );
  const cells = rowCells([measured, ...missing]);
  assert.deepEqual(cells[0], [
    "objects",
    "redis",
    "GET 1 KB, 1 conn",
    "throughput",
    "200 ops/s",
    "100–300",
    "3",
    "",
  ]);
  assert.equal(cells[1]![4], "not implemented yet");
});

Deno.test("compare() orients ratios and explains missing sides", () => {
  const cloud: Row = { ...measured, key: "objects/get-c1/cloud", system: "cloud" };
  cloud.measures = [measure("throughput", "ops/s", "higher", [50, 100, 150])];
  const [ratio, missing, absolute] = compare([measured, cloud], [
    {
      label: "GET",
      subject: { key: cloud.key, metric: "throughput" },
      peer: { key: measured.key, metric: "throughput" },
      target: { op: ">=", value: 0.6 },
    },
    {
      label: "ADD",
      subject: { key: "objects/add/cloud", metric: "throughput" },
      peer: { key: measured.key, metric: "throughput" },
    },
    { label: "abs", subject: { key: cloud.key, metric: "throughput" } },
  ]);
  assert.equal(ratio?.value, 0.5);
  assert.equal(ratio?.target, "≥ 0.6×");
  assert.match(missing?.reason ?? "", /not run/);
  assert.equal(absolute?.value, 100);
  assert.equal(absolute?.unit, "ops/s");
});

Deno.test("textTable() and markdownTable() align and escape", () => {
  assert.equal(textTable(["a", "bb"], [["xyz", "1"]]), "a    bb\n---  --\nxyz  1");
  assert.equal(markdownTable(["a"], [["x|y"]]), "| a |\n| --- |\n| x\\|y |");
});

Deno.test("replaceBetweenMarks() swaps only the generated part", () => {
  const readme = "intro\n<!-- bench:results:begin -->\nold\n<!-- bench:results:end -->\nend\n";
  assert.equal(
    replaceBetweenMarks(readme, "new"),
    "intro\n<!-- bench:results:begin -->\nnew\n<!-- bench:results:end -->\nend\n",
  );
  assert.throws(() => replaceBetweenMarks("no marks", "x"), /marks/);
});
