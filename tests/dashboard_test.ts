/**
 * The dashboard in a real browser (Debian's chromium, driven by
 * puppeteer-core), /metrics as Prometheus would read it, and the CLI's
 * inspection commands, against one ring of three servers and a runner:
 * a small DAG with a failing job, and a slow job whose stderr and state
 * the page must show as they change, without reloading. Screenshots go to
 * the test's temporary directory (printed).
 *
 * @module
 */

import assert from "node:assert/strict";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { Cluster, runCloud, startRunner, TestAuth } from "./harness.ts";
import { parsePrometheus, sampleSum } from "../server/_test_prometheus.ts";

const chromium = "/usr/bin/chromium";

const slowJob = `import sys, time
for i in range(8):
    print("tick", i, file=sys.stderr, flush=True)
    time.sleep(0.5)
print("slow done")
`;

const countJob = `words = open("/net/words").read().split()
print(len(words))
`;

const failingJob = `import sys, time
time.sleep(1)
print("about to fail on", open("/net/count").read().strip(), file=sys.stderr)
raise ValueError("the count is wrong")
`;

async function launch(profile: string): Promise<Browser> {
  try {
    await Deno.stat(chromium);
  } catch {
    throw new Error(
      `Cannot run the browser test: no ${chromium} (apt-get install chromium; .ci/run does)`,
    );
  }
  return await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      `--user-data-dir=${profile}`,
    ],
  });
}

/** The text of the first element matching `selector`, or "" when there is none. */
async function textOf(page: Page, selector: string): Promise<string> {
  return await page.$eval(selector, (el) => el.textContent ?? "").catch(() => "");
}

Deno.test({
  name: "dashboard shows the ring, job counts, a failure's reason and stderr, and live changes",
  // The browser's and the servers' processes are stopped in finally blocks.
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "cloud-dashboard-test-" });
    await using cluster = await Cluster.start(3, ["--http", "0"]);
    const first = cluster.servers[0]!;
    const client = first.client();
    const runner = startRunner(first, ["--jobs", "2"]);
    const browser = await launch(`${dir}/profile`);
    try {
      const http = (await client.info()).http as string;
      assert.match(http, /^127\.0\.0\.1:\d+$/);
      // The ring runs with an auth file: the HTTP side asks for a bearer token.
      const token = `client:${(await TestAuth.shared()).credential("client").secret}`;
      const bearer = { headers: { authorization: `Bearer ${token}` } };
      const refused = await fetch(`http://${http}/metrics`);
      await refused.body?.cancel();
      assert.equal(refused.status, 401);
      const words = await client.addString("words", "one two three");
      const [count, countOut] = await client.addJob("count", countJob, "count", [words]);
      const [bad, checked] = await client.addJob("check", failingJob, "checked", [countOut]);
      const [, noopOut] = await client.addJob("noop", 'print(open("/net/checked").read())', "n", [
        checked,
      ]);
      const [after] = await client.addJob("after", "print(1)", "after.out", [noopOut]);
      const page = await browser.newPage();
      await page.setViewport({ width: 1400, height: 1000 });
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(String(error)));

      await t.step("the overview shows the servers and the jobs as they finish", async () => {
        await page.goto(`http://${http}/`, { waitUntil: "load" });
        // Without a token the page asks for one, and keeps it for the tab.
        await page.waitForSelector("#token-input", { visible: true, timeout: 20_000 });
        await page.type("#token-input", token);
        await page.click('#token-form button[type="submit"]');
        await page.waitForFunction(
          `document.querySelectorAll('#ring tr[data-state="alive"]').length === 3`,
          { timeout: 20_000 },
        );
        for (const server of cluster.servers) {
          assert.match(await textOf(page, "#ring"), new RegExp(server.id.replaceAll(".", "\\.")));
        }
        // check fails, and so do the two jobs after it (the cascade); count is done.
        await page.waitForFunction(
          `document.querySelector('[data-count="failed"] b')?.textContent === "3" &&
            document.querySelector('[data-count="done"] b')?.textContent === "1"`,
          { timeout: 60_000 },
        );
        const row = await textOf(page, `tr[data-hash="${bad.hash}"]`);
        assert.match(row, /exception: ValueError: the count is wrong/);
        assert.equal(await count.wait(), "done");
        await after.wait();
        await page.screenshot({ path: `${dir}/overview.png`, fullPage: true });
      });

      await t.step("a failed job's page shows its reason and its stderr", async () => {
        await page.click(`tr[data-hash="${bad.hash}"] a`);
        await page.waitForSelector("#job-stderr", { timeout: 10_000 });
        assert.match(
          await textOf(page, "#job-reason"),
          /exception: ValueError: the count is wrong/,
        );
        assert.match(await textOf(page, "#job-stderr"), /about to fail on 3/);
        assert.match(await textOf(page, "#job-stderr"), /ValueError: the count is wrong/);
        assert.match(await textOf(page, "#dag"), /count/);
        await page.screenshot({ path: `${dir}/failed-job.png`, fullPage: true });
      });

      await t.step(
        "a running job's stderr and state change on the page without a reload",
        async () => {
          const [slow] = await client.addJob("slow", slowJob, "slow.out", [], { fresh: true });
          await page.goto(`http://${http}/#/job/${slow.hash}`, { waitUntil: "load" });
          await page.evaluate(() => (globalThis as unknown as { marker: number }).marker = 42);
          await page.waitForFunction(
            `document.querySelector("#job-state")?.textContent === "leased" &&
              /tick [1-5]/.test(document.querySelector("#job-stderr")?.textContent ?? "")`,
            { timeout: 30_000 },
          );
          await page.screenshot({ path: `${dir}/running-job.png`, fullPage: true });
          await page.waitForFunction(
            `document.querySelector("#job-state")?.textContent === "done"`,
            { timeout: 30_000 },
          );
          assert.equal(
            await page.evaluate(() => (globalThis as unknown as { marker: number }).marker),
            42,
          );
          assert.match(await textOf(page, "#job-stderr"), /tick 7/);
        },
      );

      await t.step("the runners panel lists the runner", async () => {
        await page.goto(`http://${http}/#/`, { waitUntil: "load" });
        await page.waitForSelector("#runners tr[data-runner]", { timeout: 10_000 });
        assert.match(await textOf(page, "#runners"), /bwrap|pyodide/);
      });
      assert.deepEqual(errors, []);
      console.log(`dashboard screenshots: ${dir}/overview.png, failed-job.png, running-job.png`);

      await t.step("/metrics parses as Prometheus text and its counters move", async () => {
        const scrape = async () =>
          parsePrometheus(await (await fetch(`http://${http}/metrics`, bearer)).text());
        const before = await scrape();
        await client.addString("more", "more");
        const after = await scrape();
        assert.ok(
          sampleSum(after, "cloud_requests_total") > sampleSum(before, "cloud_requests_total"),
        );
        assert.ok(sampleSum(after, "cloud_requests_total", { command: "ADD" }) > 0);
        // Every server's counts together: each job finished once, on its primary.
        let finished = 0;
        for (const server of cluster.servers) {
          const address = (await server.client().info()).http as string;
          finished += sampleSum(
            parsePrometheus(await (await fetch(`http://${address}/metrics`, bearer)).text()),
            "cloud_jobs_finished_total",
          );
        }
        assert.equal(finished, 5);
      });

      await t.step("the CLI lists jobs and runners, and prints a job's stderr", async () => {
        const at = ["client", "-s", first.id];
        const listed = await runCloud([...at, "--json", "jobs", "--state", "failed"]);
        assert.equal(listed.code, 0, listed.stderr);
        const page = JSON.parse(listed.stdout);
        assert.deepEqual(Object.keys(page).sort(), ["counts", "jobs", "next", "servers"]);
        assert.deepEqual(page.jobs.map((j: { name: string }) => j.name).sort(), [
          "after",
          "check",
          "noop",
        ]);
        const empty = JSON.parse(
          (await runCloud([...at, "--json", "jobs", "--name", "nothing*"])).stdout,
        );
        assert.deepEqual(Object.keys(empty).sort(), ["counts", "jobs", "next", "servers"]);
        const text = await runCloud([...at, "jobs", "--name", "check"]);
        assert.match(text.stdout, /failed +check .*exception: ValueError: the count is wrong/);
        const logs = await runCloud([...at, "logs", bad.hash]);
        assert.match(logs.stdout, /about to fail on 3/);
        const runners = JSON.parse((await runCloud([...at, "--json", "runners"])).stdout);
        assert.equal(runners.runners.length, 1);
        // add-job --json: one shape, done or failed.
        const stdin = (code: string) => ({ stdin: new TextEncoder().encode(code) });
        const done = await runCloud(
          [...at, "--json", "add-job", "fine", "-", "f"],
          stdin("print(2)"),
        );
        const failed = await runCloud(
          [...at, "--json", "add-job", "exits", "-", "e"],
          stdin("raise SystemExit(3)"),
        );
        assert.deepEqual([done.code, failed.code], [0, 1]);
        assert.deepEqual(
          Object.keys(JSON.parse(failed.stdout)).sort(),
          Object.keys(JSON.parse(done.stdout)).sort(),
        );
        assert.equal(JSON.parse(failed.stdout).exitCode, 3);
        const status = await runCloud([...at, "status", bad.hash]);
        assert.match(status.stdout, /^created [0-9.]+ (s|min)/m);
      });
    } finally {
      await browser.close().catch(() => browser.process()?.kill("SIGKILL"));
      try {
        runner.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await runner.status;
      await Deno.remove(`${dir}/profile`, { recursive: true }).catch(() => {});
    }
  },
});
