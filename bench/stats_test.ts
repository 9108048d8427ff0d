import assert from "node:assert/strict";
import { percentile, quantile, relative, summarize } from "./stats.ts";

Deno.test("quantile() interpolates between neighbours", () => {
  assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
  assert.equal(quantile([10], 0.25), 10);
  assert.equal(quantile([0, 10], 0.75), 7.5);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

Deno.test("percentile() uses the nearest rank", () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(hundred, 0.5), 50);
  assert.equal(percentile(hundred, 0.99), 99);
  assert.equal(percentile(hundred, 1), 100);
  assert.equal(percentile([7], 0.99), 7);
  assert.equal(percentile([1, 2, 3], 0), 1);
});

Deno.test("summarize() reports median, extremes and quartiles of unsorted runs", () => {
  const figure = summarize([5, 1, 4, 2, 3]);
  assert.equal(figure.median, 3);
  assert.equal(figure.min, 1);
  assert.equal(figure.max, 5);
  assert.equal(figure.q1, 2);
  assert.equal(figure.q3, 4);
  assert.deepEqual(figure.values, [5, 1, 4, 2, 3]);
});

Deno.test("summarize() rejects an empty list", () => {
  assert.throws(() => summarize([]), RangeError);
});

Deno.test("relative() orients ratios so that above 1 is better", () => {
  const fast = summarize([2, 2, 2]);
  const slow = summarize([1, 1, 1]);
  assert.equal(relative(fast, slow, "higher").value, 2);
  assert.equal(relative(slow, fast, "lower").value, 2);
  const range = relative(summarize([1, 3]), summarize([1, 2]), "higher");
  assert.equal(range.low, 0.5);
  assert.equal(range.high, 3);
});
