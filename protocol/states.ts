/**
 * The states an object passes through, as STAT and WAIT name them on the
 * wire (docs/PROTOCOL.md): the one list servers, clients and runners share.
 * A file is `incomplete` until its job finishes, then `complete` or
 * `failed`; a job moves waiting → ready → leased (→ released → leased …) →
 * done | failed. Pure.
 *
 * @module
 */

/** The states of a file, in the order it passes through them. */
export const fileStates = ["incomplete", "complete", "failed"] as const;

/** The life of a file. */
export type FileState = typeof fileStates[number];

/** The states of a job, in the order it passes through them. */
export const jobStates = ["waiting", "ready", "leased", "released", "done", "failed"] as const;

/** The life of a job: waiting → ready → leased (→ released → leased …) → done | failed. */
export type JobState = typeof jobStates[number];

/** Any object's state. */
export type ObjectState = FileState | JobState;

/** States after which an object never changes again: a file complete or failed, a job done or failed. */
export const finishedStates: ReadonlySet<string> = new Set<ObjectState>([
  "complete",
  "done",
  "failed",
]);

/**
 * True when `state` (of a file or a job) is final. A state this list does
 * not know (a newer server's) counts as not finished.
 */
export function isFinishedState(state: string): boolean {
  return finishedStates.has(state);
}

/**
 * True when a client waiting on an object should wait on: a state of the
 * lists above that is not final. A state this list does not know ends the
 * wait, so that an older client never waits forever on a newer server.
 */
export function isRunningState(state: string): boolean {
  return !finishedStates.has(state) &&
    ((fileStates as readonly string[]).includes(state) ||
      (jobStates as readonly string[]).includes(state));
}
