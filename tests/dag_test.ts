/**
 * A 200-job dataflow graph on a five-server ring with two real runners,
 * the server one of them is attached to killed with SIGKILL while jobs run
 * (that runner carries on through another server): every job completes, each
 * output is written once (every copy identical, and what dependents read
 * is what is stored), and every object is back to two copies.
 */

import assert from "node:assert/strict";
import { ComputeCloud, type FileObject } from "../client/cloud.ts";
import { Cluster, eventually, type ServerProcess, startRunner } from "./harness.ts";

/** Every live server's copy of `hash` (PULL answers from the local store only). */
async function copies(servers: readonly ServerProcess[], hash: number): Promise<string[]> {
  const found: string[] = [];
  for (const server of servers) {
    const connection = await server.connect("server");
    try {
      const reply = await connection.request({ command: "PULL", hash, metaOnly: false });
      if (reply.ok) found.push(reply.fields[4]!);
    } finally {
      connection.close();
    }
  }
  return found;
}

const leaf = "import random\nprint(random.random())\n";
const join = (left: string, right: string) =>
  `print(open("/net/${left}").read().strip() + "|" + open("/net/${right}").read().strip())\n`;

Deno.test({
  name:
    "dag of 200 jobs completes across a kill -9, each output written once and kept at two copies",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using cluster = await Cluster.start(5, ["--lease-ms", "4000"]);
    const clients = await Promise.all(
      cluster.servers.map((s) => ComputeCloud.connect(s.host, s.port, s.cloudOptions())),
    );
    const runners = [
      startRunner(cluster.servers[0]!, ["--jobs", "2"]),
      startRunner(cluster.servers[2]!, ["--jobs", "2"]),
    ];
    try {
      const layers: { job: FileObject; out: FileObject; inputs: FileObject[] }[][] = [];
      for (let layer = 0; layer < 4; layer++) {
        const jobs = [];
        for (let i = 0; i < 50; i++) {
          const client = clients[(layer * 50 + i) % clients.length]!;
          if (layer === 0) {
            const [job, out] = await client.addJob(`leaf-${i}`, leaf, `leaf-out-${i}`, []);
            jobs.push({ job, out, inputs: [] });
          } else {
            const previous = layers[layer - 1]!;
            const left = previous[i]!.out;
            const right = previous[(i + 1) % 50]!.out;
            const source = join(left.name!, right.name!);
            const [job, out] = await client.addJob(
              `join-${layer}-${i}`,
              source,
              `join-out-${layer}-${i}`,
              [left, right],
            );
            jobs.push({ job, out, inputs: [left, right] });
          }
        }
        layers.push(jobs);
      }
      const all = layers.flat();
      assert.equal(all.length, 200);

      const observer = clients[1]!;
      await eventually(async () => {
        let done = 0;
        for (const { job } of all.slice(0, 60)) {
          if ((await observer.file(job.hashValue).status()).state === "done") done++;
        }
        return done >= 20;
      }, { timeoutMs: 120_000, what: "the first jobs to finish" });
      await cluster.servers[2]!.kill("SIGKILL");

      const survivor = clients[4]!;
      for (const { job } of all) {
        const state = await survivor.file(job.hashValue).wait(180_000);
        assert.equal(
          state,
          "done",
          `job ${job.hash}: ${JSON.stringify(await survivor.file(job.hashValue).status())}`,
        );
      }

      for (const runner of runners) {
        const exited = await Promise.race([
          runner.status.then(() => true),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 100)),
        ]);
        assert.equal(exited, false, "both runners are still running (one through another server)");
      }
      const live = cluster.live;
      const stored = new Map<number, string>();
      for (const { out } of all) {
        const text = await survivor.file(out.hashValue).text();
        stored.set(out.hashValue, text.trim());
      }
      for (const { out, inputs } of all) {
        if (inputs.length === 0) continue;
        const expected = `${stored.get(inputs[0]!.hashValue)}|${stored.get(inputs[1]!.hashValue)}`;
        assert.equal(
          stored.get(out.hashValue),
          expected,
          `output ${out.hash} is built from the stored inputs`,
        );
      }
      for (const { job, out } of all) {
        await eventually(
          async () =>
            (await copies(live, out.hashValue)).length === 2 &&
            (await copies(live, job.hashValue)).length === 2,
          {
            timeoutMs: 60_000,
            what: `two copies of job ${job.hash} and output ${out.hash}`,
          },
        );
        const outputCopies = await copies(live, out.hashValue);
        assert.equal(new Set(outputCopies).size, 1, `every copy of output ${out.hash} is the same`);
      }
    } finally {
      for (const runner of runners) {
        try {
          runner.kill("SIGKILL");
        } catch {
          // Already gone.
        }
        await runner.status;
      }
      for (const client of clients) client.close();
    }
  },
});
