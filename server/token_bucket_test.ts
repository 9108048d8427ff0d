import assert from "node:assert/strict";
import fc from "fast-check";
import { type Bucket, isFull, refilled, spend, waitMs } from "./token_bucket.ts";

const limits = { burst: 3, refillMs: 1000 };

Deno.test("spend() empties a bucket after burst tries; waitMs() says when the next comes back", () => {
  let bucket: Bucket | undefined;
  for (let i = 0; i < 3; i++) {
    assert.equal(waitMs(bucket, 0, limits), 0);
    bucket = spend(bucket, 0, limits);
  }
  assert.equal(waitMs(bucket, 0, limits), 1000);
  assert.equal(waitMs(bucket, 400, limits), 600);
  assert.equal(waitMs(bucket, 1000, limits), 0);
  assert.equal(isFull(bucket!, 2999, limits), false);
  assert.equal(isFull(bucket!, 3000, limits), true);
});

Deno.test("refilled() never exceeds burst, never goes back in time, and grows with time", () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ dt: fc.nat(5000), spend: fc.boolean() }), { maxLength: 50 }),
      (steps) => {
        let bucket: Bucket | undefined;
        let now = 0;
        let spent = 0;
        for (const step of steps) {
          now += step.dt;
          const before = refilled(bucket, now, limits);
          assert.ok(before.tokens >= 0 && before.tokens <= limits.burst);
          if (step.spend && waitMs(bucket, now, limits) === 0) {
            bucket = spend(bucket, now, limits);
            spent++;
            assert.ok(Math.abs(bucket.tokens - (before.tokens - 1)) < 1e-9);
          }
          // A clock that steps back gives no tokens.
          if (bucket) {
            assert.equal(refilled(bucket, bucket.atMs - 10_000, limits).tokens, bucket.tokens);
          }
        }
        // No more tries than the burst plus one per refill period.
        assert.ok(spent <= limits.burst + Math.floor(now / limits.refillMs));
      },
    ),
  );
});
