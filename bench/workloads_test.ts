import assert from "node:assert/strict";
import { findOnPath } from "./machine.ts";
import {
  digestOf,
  ensureCorpus,
  nbodyPlan,
  runPlanLocally,
  stepSource,
  wordcountPlan,
} from "./workloads.ts";

const [pypy] = await findOnPath("pypy3");
const [python] = await findOnPath("python3", ["/usr/bin"]);
const interpreters = [pypy, python].filter((path): path is string => path !== undefined);

Deno.test("stepSource() puts PARAMS before the unchanged step file", async () => {
  const source = await stepSource("nbody", { index: 3, steps: 10, run: 0 });
  assert.match(source, /^PARAMS = \{"index":3,"steps":10,"run":0\}\n"""CPU kernel/);
});

Deno.test({
  name: "runPlanLocally() gives one digest for both plans under every interpreter",
  ignore: interpreters.length === 0,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "bench-workloads-test-" });
    try {
      const corpus = await ensureCorpus(dir, {
        totalBytes: 64_000,
        shardCount: 4,
        seed: 7,
        python: interpreters[0]!,
      });
      assert.equal(corpus.shards.length, 4);
      for (const build of ["wordcount", "nbody"] as const) {
        const digests = new Set<string>();
        for (const [index, interpreter] of interpreters.entries()) {
          const netDir = `${dir}/net-${build}-${index}`;
          const plan = build === "wordcount"
            ? await wordcountPlan(corpus, { netDir, run: index })
            : await nbodyPlan({ jobs: 3, steps: 200 }, { netDir, run: index });
          const text = await runPlanLocally(plan, { python: interpreter, netDir });
          assert.ok(text.length > 0);
          digests.add(await digestOf(text));
        }
        const args = build === "wordcount" ? [corpus.dir] : ["3", "200"];
        const plain = await new Deno.Command(interpreters[0]!, {
          args: [new URL("./dask/plain.py", import.meta.url).pathname, "1", build, ...args],
          stderr: "null",
        }).output();
        const report = JSON.parse(new TextDecoder().decode(plain.stdout));
        digests.add(report.runs[0].digest);
        assert.equal(digests.size, 1, `${build} digests differ between interpreters or plain.py`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
