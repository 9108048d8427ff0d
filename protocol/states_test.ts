import assert from "node:assert/strict";
import fc from "fast-check";
import { fileStates, isFinishedState, isRunningState, jobStates } from "./states.ts";

Deno.test("isFinishedState() is true for complete, done and failed only", () => {
  const finished = [...fileStates, ...jobStates].filter(isFinishedState);
  assert.deepEqual([...new Set(finished)].sort(), ["complete", "done", "failed"]);
});

Deno.test("isRunningState() is true for every known state that is not final", () => {
  assert.deepEqual(
    [...fileStates, ...jobStates].filter(isRunningState),
    ["incomplete", "waiting", "ready", "leased", "released"],
  );
});

Deno.test("isRunningState() ends the wait on a state it does not know (property)", () => {
  const known = new Set<string>([...fileStates, ...jobStates]);
  fc.assert(fc.property(fc.string(), (state) => {
    if (known.has(state)) return;
    assert.equal(isRunningState(state), false);
    assert.equal(isFinishedState(state), false);
  }));
});

Deno.test("fileStates and jobStates list each state once, the final ones last", () => {
  for (const states of [fileStates, jobStates]) {
    assert.equal(new Set(states).size, states.length);
    const firstFinal = states.findIndex(isFinishedState);
    assert.ok(states.slice(firstFinal).every(isFinishedState), states.join());
  }
});
