import assert from "node:assert/strict";
import { mapLimit } from "./map_limit.ts";

Deno.test("mapLimit() runs every item, never more than the limit at once", async () => {
  let running = 0;
  let most = 0;
  const done: number[] = [];
  await mapLimit([1, 2, 3, 4, 5, 6, 7], 3, async (item) => {
    running++;
    most = Math.max(most, running);
    await new Promise((resolve) => setTimeout(resolve, item % 3));
    done.push(item);
    running--;
  });
  assert.deepEqual(done.sort(), [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(most, 3);
});

Deno.test("mapLimit() starts items in order and does nothing for none", async () => {
  const started: number[] = [];
  await mapLimit([5, 6, 7], 1, (item) => Promise.resolve(void started.push(item)));
  assert.deepEqual(started, [5, 6, 7]);
  await mapLimit([], 4, () => Promise.reject(new Error("not called")));
});
