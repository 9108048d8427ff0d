import assert from "node:assert/strict";
import { killedBeforeStart, sandboxError, SandboxLifecycle } from "./lifecycle.ts";
import type { SandboxJob, SandboxResult } from "./sandbox.ts";

const job: SandboxJob = { source: "print(1)", inputs: [], stdoutPath: "/nonexistent" };

/** A promise and the function that resolves it. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => (resolve = done));
  return { promise, resolve };
}

Deno.test("SandboxLifecycle.run() aborts a job's signal when the sandbox closes", async () => {
  const lifecycle = new SandboxLifecycle();
  let seen: AbortSignal | undefined;
  const running = lifecycle.run(job, (signal) => {
    seen = signal;
    return new Promise<SandboxResult>((resolve) => {
      signal.addEventListener("abort", () => resolve(killedBeforeStart()), { once: true });
    });
  });
  assert.equal(seen?.aborted, false);
  await lifecycle.close();
  assert.equal((await running).reason, "killed");
  assert.equal(seen?.aborted, true);
});

Deno.test("SandboxLifecycle.run() follows the job's own signal and refuses jobs once closed", async () => {
  const lifecycle = new SandboxLifecycle();
  const stop = new AbortController();
  let seen: AbortSignal | undefined;
  await lifecycle.run({ ...job, signal: stop.signal }, (signal) => {
    seen = signal;
    stop.abort();
    return Promise.resolve(sandboxError("stopped"));
  });
  assert.equal(seen?.aborted, true);
  assert.equal(lifecycle.signal.aborted, false);
  await lifecycle.close();
  let ran = false;
  const refused = await lifecycle.run(job, () => {
    ran = true;
    return Promise.resolve(sandboxError("ran"));
  });
  assert.equal(ran, false);
  assert.deepEqual(refused, sandboxError("Cannot run job: sandbox is closed"));
});

Deno.test("SandboxLifecycle.close() stops, waits for all tracked work, then cleans up, once", async () => {
  const lifecycle = new SandboxLifecycle();
  const steps: string[] = [];
  const first = deferred<void>();
  const second = deferred<void>();
  lifecycle.track(first.promise.then(() => steps.push("first settled")));
  const closing = lifecycle.close({
    stop: () => {
      steps.push("stop");
      // Work tracked while closing is waited for too.
      lifecycle.track(second.promise.then(() => steps.push("second settled")));
    },
    cleanup: () => {
      steps.push("cleanup");
      return Promise.resolve();
    },
  });
  const again = lifecycle.close({ cleanup: () => Promise.resolve(void steps.push("twice")) });
  await again;
  first.resolve();
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(steps, ["stop", "first settled"]);
  second.resolve();
  await closing;
  assert.deepEqual(steps, ["stop", "first settled", "second settled", "cleanup"]);
});

Deno.test("SandboxLifecycle.track() keeps a rejected promise from failing close()", async () => {
  const lifecycle = new SandboxLifecycle();
  const failing = lifecycle.track(Promise.reject(new Error("boom")));
  await assert.rejects(failing, /boom/);
  await lifecycle.close();
  assert.equal(lifecycle.closed, true);
});
