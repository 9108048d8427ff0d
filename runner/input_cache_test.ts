import assert from "node:assert/strict";
import { InputCache } from "./input_cache.ts";

/**
 * A cache over a temporary directory whose inputs are `size` bytes of their
 * hash's first letter; the fetch of a hash in `gates` waits for its gate.
 */
async function cache(bytesMax: number, size: number, gates = new Map<string, Promise<void>>()) {
  const dir = await Deno.makeTempDir({ prefix: "input-cache-test-" });
  const fetched: string[] = [];
  const inputs = new InputCache({
    dir,
    bytesMax,
    fetch: async (hash, path) => {
      fetched.push(hash);
      await gates.get(hash);
      await Deno.writeFile(path, new TextEncoder().encode(hash[0]!.repeat(size)));
      return size;
    },
  });
  return {
    dir,
    inputs,
    fetched,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("InputCache.acquire() fetches an input once however many jobs ask for it", async () => {
  await using c = await cache(1_000, 10);
  const [a, b] = await Promise.all([c.inputs.acquire(["aa"]), c.inputs.acquire(["aa", "aa"])]);
  assert.equal(a.paths[0], b.paths[0]);
  assert.equal(b.paths.length, 2);
  assert.deepEqual(c.fetched, ["aa"]);
  assert.equal(await Deno.readTextFile(a.paths[0]!), "a".repeat(10));
});

Deno.test("InputCache.acquire() keeps an input one lane holds while another lane's fetch goes over the limit", async () => {
  await using c = await cache(15, 10);
  // Lane 1 has its input and has not started its job yet.
  const lane1 = await c.inputs.acquire(["aa"]);
  // Lane 2 fetches another: 20 bytes, over the limit of 15.
  const lane2 = await c.inputs.acquire(["bb"]);
  assert.ok(await exists(lane1.paths[0]!), "the input lane 1 is about to read was deleted");
  assert.ok(await exists(lane2.paths[0]!));
  assert.equal(c.inputs.bytes, 20, "over the limit while both are held");
  // Once lane 1's job has run, its input is the oldest one nobody holds: it goes.
  lane1.release();
  assert.equal(c.inputs.bytes, 10);
  lane2.release();
  assert.ok(await exists(lane2.paths[0]!), "within the limit: kept for the next job");
});

Deno.test("InputCache.acquire() keeps an input held by a job whose fetch was still running", async () => {
  const gate = Promise.withResolvers<void>();
  await using c = await cache(15, 10, new Map([["aa", gate.promise]]));
  // Lane 1 asks for "aa"; before its fetch ends, lane 2's fetch of "bb" ends
  // and lane 3 then fetches "cc": the cache is over its limit twice.
  const lane1 = c.inputs.acquire(["aa"]);
  const lane2 = await c.inputs.acquire(["bb"]);
  lane2.release();
  const lane3 = await c.inputs.acquire(["cc"]);
  gate.resolve();
  const held = await lane1;
  assert.ok(await exists(held.paths[0]!));
  assert.ok(await exists(lane3.paths[0]!));
  assert.ok(!await exists(lane2.paths[0]!), "the input no job holds went first");
  held.release();
  lane3.release();
});

Deno.test("InputCache.acquire() fetches again an input that was evicted", async () => {
  await using c = await cache(10, 10);
  (await c.inputs.acquire(["aa"])).release();
  (await c.inputs.acquire(["bb"])).release();
  const again = await c.inputs.acquire(["aa"]);
  assert.equal(await Deno.readTextFile(again.paths[0]!), "a".repeat(10));
  assert.deepEqual(c.fetched, ["aa", "bb", "aa"]);
  again.release();
});

Deno.test("InputCache.acquire() lets the other inputs go when one cannot be fetched", async () => {
  const dir = await Deno.makeTempDir({ prefix: "input-cache-test-" });
  try {
    const okFetched = Promise.withResolvers<void>();
    const inputs = new InputCache({
      dir,
      bytesMax: 5,
      fetch: async (hash, path) => {
        if (hash === "bad") {
          await okFetched.promise;
          throw new Error("Cannot fetch bad: not-found");
        }
        await Deno.writeFile(path, new Uint8Array(10));
        okFetched.resolve();
        return 10;
      },
    });
    await assert.rejects(inputs.acquire(["ok", "bad"]), /not-found/);
    // "ok" was let go, and the cache is over its limit: it went.
    assert.equal(inputs.bytes, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
