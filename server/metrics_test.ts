import assert from "node:assert/strict";
import fc from "fast-check";
import { Counter, gauge, Histogram, renderExposition } from "./metrics.ts";
import { parsePrometheus, sampleValue } from "./_test_prometheus.ts";

Deno.test("Counter.inc() counts per label values and renders as a counter", () => {
  const counter = new Counter("cloud_requests_total", "Requests served.", ["command", "outcome"]);
  counter.inc({ command: "GET", outcome: "ack" });
  counter.inc({ command: "GET", outcome: "ack" });
  counter.inc({ command: "GET", outcome: "not-found" });
  counter.inc({ command: "ADD", outcome: "ack" }, 3);
  counter.inc({ command: "ADD", outcome: "ack" }, -1);
  assert.equal(counter.value({ command: "GET", outcome: "ack" }), 2);
  assert.equal(counter.value({ command: "ADD", outcome: "ack" }), 3);
  const parsed = parsePrometheus(renderExposition([counter.family()]));
  assert.equal(parsed.types.get("cloud_requests_total"), "counter");
  assert.equal(
    sampleValue(parsed, "cloud_requests_total", { command: "GET", outcome: "not-found" }),
    1,
  );
});

Deno.test("Histogram.observe() renders cumulative buckets, +Inf, _sum and _count", () => {
  const histogram = new Histogram("cloud_request_duration_seconds", "Time.", {
    buckets: [0.01, 0.1, 1],
    labelNames: ["command"],
  });
  for (const value of [0.005, 0.01, 0.05, 0.5, 5]) histogram.observe(value, { command: "GET" });
  const text = renderExposition([histogram.family()]);
  const parsed = parsePrometheus(text);
  const bucket = (le: string) =>
    sampleValue(parsed, "cloud_request_duration_seconds_bucket", { command: "GET", le });
  // A value equal to a bound counts in that bucket (le: less or equal).
  assert.equal(bucket("0.01"), 2);
  assert.equal(bucket("0.1"), 3);
  assert.equal(bucket("1"), 4);
  assert.equal(bucket("+Inf"), 5);
  assert.equal(sampleValue(parsed, "cloud_request_duration_seconds_count", { command: "GET" }), 5);
  assert.ok(
    Math.abs(
      sampleValue(parsed, "cloud_request_duration_seconds_sum", { command: "GET" })! - 5.565,
    ) < 1e-9,
  );
});

Deno.test("renderExposition() escapes label values and help text", () => {
  const text = renderExposition([
    gauge("cloud_test", "Help with \\ and\nnewline.", [{ labels: { id: 'a"b\\c\nd' }, value: 1 }]),
  ]);
  assert.match(text, /# HELP cloud_test Help with \\\\ and\\nnewline\./);
  const parsed = parsePrometheus(text);
  assert.equal(parsed.samples[0]!.labels.id, 'a"b\\c\nd');
});

Deno.test("Counter() and Histogram() refuse names Prometheus refuses", () => {
  assert.throws(() => new Counter("bad-name_total", "x"), RangeError);
  assert.throws(() => new Counter("ok_total", "x", ["le"]), RangeError);
  assert.throws(() => new Histogram("h_seconds", "x", { buckets: [1, 1] }), RangeError);
});

Deno.test("renderExposition() output parses for any label values and observations", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.string(), fc.double({ min: 0, max: 1e6, noNaN: true })), {
        maxLength: 30,
      }),
      (observations) => {
        const histogram = new Histogram("cloud_h_seconds", "h", {
          buckets: [0.1, 1, 10],
          labelNames: ["id"],
        });
        const counter = new Counter("cloud_c_total", "c", ["id"]);
        for (const [id, value] of observations) {
          histogram.observe(value, { id });
          counter.inc({ id }, value);
        }
        const parsed = parsePrometheus(renderExposition([histogram.family(), counter.family()]));
        const total = parsed.samples
          .filter((s) => s.name === "cloud_h_seconds_count")
          .reduce((sum, s) => sum + s.value, 0);
        assert.equal(total, observations.length);
      },
    ),
  );
});
