import assert from "node:assert/strict";
import { type LoadDriver, runLoad } from "./load.ts";

function fakeDriver(seen: number[], failAt?: number): LoadDriver {
  return {
    op: async (i) => {
      await Promise.resolve();
      if (i === failAt) throw new Error(`op ${i} failed`);
      seen.push(i);
    },
    close: () => Promise.resolve(),
  };
}

Deno.test("runLoad() runs exactly the requested operations, each number once", async () => {
  const seen: number[] = [];
  const result = await runLoad(() => Promise.resolve(fakeDriver(seen)), {
    connections: 7,
    operations: 500,
  });
  assert.equal(result.operations, 500);
  assert.deepEqual([...seen].sort((a, b) => a - b), Array.from({ length: 500 }, (_, i) => i));
  assert.ok(result.p50Ms <= result.p99Ms);
});

Deno.test("runLoad() stops on the first failing operation and closes every driver", async () => {
  let closed = 0;
  const open = () => {
    const driver = fakeDriver([], 42);
    return Promise.resolve({
      ...driver,
      close: () => {
        closed++;
        return Promise.resolve();
      },
    });
  };
  await assert.rejects(runLoad(open, { connections: 3, operations: 1000 }), /op 42 failed/);
  assert.equal(closed, 3);
});

Deno.test("runLoad() needs a duration or a count", async () => {
  await assert.rejects(
    runLoad(() => Promise.resolve(fakeDriver([])), { connections: 1 }),
    RangeError,
  );
});
