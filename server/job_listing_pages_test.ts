import assert from "node:assert/strict";
import fc from "fast-check";
import { ProtocolError } from "../protocol/message.ts";
import {
  type CatalogueEntry,
  fitPage,
  formatCursor,
  type JobPage,
  type JobQuery,
  matchesQuery,
  mergePages,
  nameMatches,
  newestFirst,
  pageJsonBytesMax,
  parseCursor,
  parseJobQuery,
  summaryOf,
} from "./job_listing_pages.ts";

function entry(hash: number, fields: Partial<CatalogueEntry> = {}): CatalogueEntry {
  return {
    hash,
    name: `job${hash}`,
    state: "done",
    version: 1,
    createdMs: 1000 + hash,
    attempt: 1,
    lost: 0,
    leaseUntilMs: 0,
    exitCode: 0,
    reason: null,
    detail: "",
    output: hash + 1_000_000,
    outputName: "out",
    inputs: [],
    leasedMs: null,
    finishedMs: null,
    ...fields,
  };
}

Deno.test("parseJobQuery() takes the defaults from nothing and checks every field", () => {
  const query = parseJobQuery("");
  assert.equal(query.states, null);
  assert.equal(query.limit, 50);
  const full = parseJobQuery(
    JSON.stringify({
      states: ["failed", "leased"],
      name: "a*",
      input: "0000000a",
      limit: 7,
      before: "5-0000000b",
    }),
  );
  assert.deepEqual([...full.states!], ["failed", "leased"]);
  assert.deepEqual([full.name, full.input, full.limit, full.before], ["a*", 10, 7, {
    createdMs: 5,
    hash: 11,
  }]);
  for (
    const bad of [
      "[",
      "[]",
      '{"states":["lost"]}',
      '{"limit":0}',
      '{"limit":1000}',
      '{"input":"x"}',
      '{"before":"7"}',
      '{"name":3}',
    ]
  ) {
    assert.throws(
      () => parseJobQuery(bad),
      (error: unknown) => error instanceof ProtocolError && error.reason === "json",
      bad,
    );
  }
});

Deno.test("nameMatches() finds a part without wildcards, the whole name with them", () => {
  assert.ok(nameMatches("count", "count-words"));
  assert.ok(!nameMatches("count*", "recount"));
  assert.ok(nameMatches("count*", "count-words"));
  assert.ok(nameMatches("*-w?rds", "count-words"));
  assert.ok(nameMatches("a.b", "xa.bx"));
  assert.ok(!nameMatches("a.b*", "axb"));
});

Deno.test("matchesQuery() applies states, name, input and the cursor", () => {
  const job = entry(5, { state: "failed", inputs: [42], createdMs: 100 });
  const query = (fields: Partial<JobQuery>): JobQuery => ({
    states: null,
    name: null,
    input: null,
    limit: 10,
    before: null,
    ...fields,
  });
  assert.ok(matchesQuery(job, query({ states: new Set(["failed"]) })));
  assert.ok(!matchesQuery(job, query({ states: new Set(["done"]) })));
  assert.ok(matchesQuery(job, query({ input: 42 })));
  assert.ok(!matchesQuery(job, query({ input: 43 })));
  assert.ok(matchesQuery(job, query({ before: { createdMs: 100, hash: 6 } })));
  assert.ok(!matchesQuery(job, query({ before: { createdMs: 100, hash: 5 } })));
});

Deno.test("summaryOf() says how long a job runs, ran or waits", () => {
  const leased = summaryOf(
    entry(1, { state: "leased", leasedMs: 5_000, leaseUntilMs: 9_000 }),
    6_000,
  );
  assert.deepEqual([leased.runningMs, leased.leaseRemainingMs, leased.ranMs], [1_000, 3_000, null]);
  const done = summaryOf(entry(1, { leasedMs: 5_000, finishedMs: 7_500 }), 9_000);
  assert.deepEqual([done.runningMs, done.ranMs], [null, 2_500]);
  assert.equal(summaryOf(entry(1, { state: "waiting", createdMs: 1_000 }), 4_000).ageMs, 3_000);
  assert.equal(summaryOf(entry(1, { detail: "x".repeat(5000) }), 0).detail.length < 300, true);
});

Deno.test("formatCursor() and parseCursor() round-trip", () => {
  const cursor = { createdMs: 1_700_000_000_000, hash: 0xfeedf00d };
  assert.deepEqual(parseCursor(formatCursor(cursor)), cursor);
});

Deno.test("fitPage() keeps a page within one reply and points at the rest", () => {
  const jobs = Array.from(
    { length: 200 },
    (_, i) => summaryOf(entry(i, { name: "n".repeat(1000) }), 0),
  )
    .sort(newestFirst);
  const page = fitPage(jobs, 200, {
    counts: {},
    servers: { asked: 1, answered: 1, unreachable: [] },
  });
  assert.ok(page.jobs.length < 200 && page.jobs.length > 10);
  assert.ok(new TextEncoder().encode(JSON.stringify(page)).length <= pageJsonBytesMax);
  assert.equal(
    page.next,
    formatCursor({
      createdMs: page.jobs.at(-1)!.createdMs,
      hash: parseInt(page.jobs.at(-1)!.hash, 16),
    }),
  );
});

/** One server's page, as job_listing.ts makes it: its newest matching jobs, fitted. */
function serverPage(held: readonly CatalogueEntry[], query: JobQuery): JobPage {
  const matching = held.filter((e) => matchesQuery(e, query)).sort(newestFirst);
  const page = fitPage(matching.slice(0, query.limit).map((e) => summaryOf(e, 0)), query.limit, {
    counts: {},
    servers: { asked: 1, answered: 1, unreachable: [] },
  });
  const last = page.jobs.at(-1);
  if (matching.length > page.jobs.length && page.next === null && last) {
    return {
      ...page,
      next: formatCursor({ createdMs: last.createdMs, hash: parseInt(last.hash, 16) }),
    };
  }
  return page;
}

Deno.test("mergePages() pages through the ring: every job once, newest first, its freshest copy", () => {
  const jobArb = fc.record({
    createdMs: fc.integer({ min: 0, max: 50 }),
    holders: fc.subarray([0, 1, 2], { minLength: 1 }),
    long: fc.boolean(),
  });
  fc.assert(
    fc.property(
      fc.array(jobArb, { maxLength: 120 }),
      fc.integer({ min: 1, max: 60 }),
      (jobs, limit) => {
        const servers: CatalogueEntry[][] = [[], [], []];
        jobs.forEach((job, hash) => {
          job.holders.forEach((server, i) => {
            servers[server]!.push(entry(hash, {
              createdMs: job.createdMs,
              name: job.long ? "x".repeat(1000) : `j${hash}`,
              // Copies differ: the holder listed first is the freshest.
              version: 10 - i,
              attempt: 10 - i,
            }));
          });
        });
        const seen: { hash: string; createdMs: number; attempt: number }[] = [];
        let before: string | null = null;
        for (let round = 0; round < 1000; round++) {
          const query = parseJobQuery(JSON.stringify({ limit, ...(before ? { before } : {}) }));
          const page = mergePages(servers.map((held) => serverPage(held, query)), query, {
            asked: 3,
            answered: 3,
            unreachable: [],
          });
          seen.push(...page.jobs);
          if (page.next === null) break;
          assert.ok(page.jobs.length > 0, "a page with a next cursor lists something");
          before = page.next;
        }
        assert.equal(seen.length, jobs.length);
        assert.equal(new Set(seen.map((j) => j.hash)).size, jobs.length);
        for (let i = 1; i < seen.length; i++) assert.ok(newestFirst(seen[i - 1]!, seen[i]!) < 0);
        for (const job of seen) assert.equal(job.attempt, 10);
      },
    ),
    { numRuns: 150 },
  );
});
