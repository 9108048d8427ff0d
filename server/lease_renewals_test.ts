import assert from "node:assert/strict";
import { isLeasable, leaseJob } from "./jobs.ts";
import { combineRenewals, LeaseRenewals, renewalOf } from "./lease_renewals.ts";
import type { JobMeta } from "./objects.ts";

const token = "0123456789abcdef0123456789abcdef";
const other = "f".repeat(32);

function job(extra: Partial<JobMeta> = {}): JobMeta {
  return {
    kind: "job",
    id: "id",
    output: 2,
    outputName: "out",
    outputSalt: 3,
    inputs: [],
    state: "ready",
    attempt: 0,
    lost: 0,
    leaseUntilMs: 0,
    createdMs: 100,
    exitCode: null,
    reason: null,
    detail: "",
    stderr: "",
    ...extra,
  };
}

const leased = (nowMs: number) => leaseJob(job(), { nowMs, leaseMs: 1_000, lostMax: 3, token });

Deno.test("renewalOf() renews only the current lease of a leased job", () => {
  assert.equal(renewalOf(leased(0), token), "ok");
  assert.equal(renewalOf(leased(0), other), "lost");
  assert.equal(renewalOf({ ...leased(0), state: "released" }, token), "lost");
  assert.equal(renewalOf({ ...leased(0), state: "done" }, token), "lost");
  assert.equal(
    renewalOf({ ...leased(0), state: "failed", reason: "cancelled" }, token),
    "cancelled",
  );
  assert.equal(renewalOf(undefined, token), "unknown");
});

Deno.test("combineRenewals() takes a cancellation anywhere, then the first owner that knows", () => {
  assert.equal(combineRenewals(["ok", "cancelled"]), "cancelled");
  assert.equal(combineRenewals(["unknown", "ok"]), "ok");
  assert.equal(combineRenewals(["lost", "ok"]), "lost");
  assert.equal(combineRenewals(["unknown", "unknown"]), "unknown");
  assert.equal(combineRenewals([]), "unknown");
});

Deno.test("LeaseRenewals keeps a renewed lease from running out, and only that lease", () => {
  const renewals = new LeaseRenewals({ startMs: 0, leaseMs: 1_000 });
  const meta = leased(5_000);
  assert.ok(isLeasable(renewals.effective(7, meta), 6_500), "not renewed: ran out");
  assert.equal(renewals.renew(7, token, meta, 5_800), "ok");
  assert.equal(isLeasable(renewals.effective(7, meta), 6_500), false, "renewed until 6 800");
  assert.ok(isLeasable(renewals.effective(7, meta), 6_801), "renewals stopped: it runs out");
  // The job went to another runner under another token: the old renewal does not count.
  const next = { ...meta, lease: other, leaseUntilMs: 6_000 };
  assert.ok(isLeasable(renewals.effective(7, next), 6_500));
  assert.equal(renewals.renew(7, token, next, 6_500), "lost");
});

Deno.test("LeaseRenewals counts every lease as renewed when the server started", () => {
  const renewals = new LeaseRenewals({ startMs: 10_000, leaseMs: 1_000 });
  const meta = leased(0);
  assert.equal(isLeasable(renewals.effective(7, meta), 10_500), false);
  assert.ok(isLeasable(renewals.effective(7, meta), 11_001));
  assert.deepEqual(renewals.effective(7, job()), job(), "only leased jobs change");
});

Deno.test("LeaseRenewals forgets renewals a lease after they ran out", () => {
  const renewals = new LeaseRenewals({ startMs: 0, leaseMs: 1_000 });
  renewals.renew(1, token, leased(0), 100);
  renewals.renew(2, token, leased(0), 100);
  assert.equal(renewals.size, 2);
  renewals.renew(2, token, leased(0), 2_500);
  assert.equal(renewals.size, 1, "job 1's renewal ran out at 1 100 and is gone");
});
