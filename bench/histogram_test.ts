import assert from "node:assert/strict";
import fc from "fast-check";
import { bucketOf, bucketValue, LatencyHistogram } from "./histogram.ts";

Deno.test("bucketOf() keeps values below 256 µs exact", () => {
  for (const value of [0, 1, 100, 255]) {
    assert.equal(bucketOf(value), value);
    assert.equal(bucketValue(bucketOf(value)), value);
  }
});

Deno.test("bucketOf() is monotone and bucketValue() is within 0.8 %", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 32 - 2 }), (value) => {
      assert.ok(bucketOf(value) <= bucketOf(value + 1));
      const error = Math.abs(bucketValue(bucketOf(value)) - value);
      assert.ok(error <= Math.max(0.5, value * 0.008), `value ${value} error ${error}`);
    }),
  );
});

Deno.test("LatencyHistogram percentiles follow the nearest-rank rule", () => {
  const histogram = new LatencyHistogram();
  for (let i = 1; i <= 100; i++) histogram.record(i / 10); // 0.1 .. 10 ms
  assert.equal(histogram.count, 100);
  assert.ok(Math.abs(histogram.percentileMs(0.5) - 5) < 5 * 0.008);
  assert.ok(Math.abs(histogram.percentileMs(0.99) - 9.9) < 9.9 * 0.008);
  assert.equal(histogram.maxMs, 10);
  assert.ok(histogram.percentileMs(1) <= 10);
});

Deno.test("LatencyHistogram.merge() adds counts", () => {
  const a = new LatencyHistogram();
  const b = new LatencyHistogram();
  a.record(0.1);
  b.record(0.2);
  b.record(0.2);
  a.merge(b);
  assert.equal(a.count, 3);
  assert.equal(a.percentileMs(0.5), 0.2);
  assert.equal(a.percentileMs(0.3), 0.1);
  assert.ok(Number.isNaN(new LatencyHistogram().percentileMs(0.5)));
});
