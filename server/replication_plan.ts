/**
 * The replication plan: which owners a copy of an object is written to, in
 * what order, and when the write is stored, lost to a collision, or
 * unavailable. Pure: the shell (replication.ts) asks for the next step,
 * carries its writes out, and feeds the outcomes back.
 *
 * The rule: the primary first and alone (it decides a collision: a
 * different object at that hash), then the other owners together. Each
 * round asks the ring for the owners anew, so an owner that died is
 * replaced by the next server of the ring; after `replicationRoundsMax`
 * rounds the write is stored only if every owner holds a copy.
 *
 * @module
 */

import { replicationRoundsMax } from "../limits.ts";

/** What writing one copy to one server came to. */
export type WriteOutcome = "ok" | "collision" | "unreachable";

/** Where a replication stands. */
export interface ReplicationState {
  /** Rounds finished. */
  readonly round: number;
  /**
   * Servers that hold the copy now. A replica that answered with a
   * collision does not: it holds another object at that hash (one the
   * primary lost, e.g. to a failed commit), so the copy is not on it.
   */
  readonly written: readonly string[];
  /** How many of `written` held the copy before the first write. */
  readonly start: number;
  /** The other owners of this round, once its primary took the copy. */
  readonly queued: readonly string[] | null;
  /** True once the primary answered with a collision. */
  readonly collided: boolean;
}

/** The next thing a replication does. */
export type ReplicationStep =
  /** Write to `targets` (at once); `primary`: one server, the one that decides a collision. */
  | {
    readonly kind: "write";
    readonly targets: readonly string[];
    readonly primary: boolean;
    /** With `primary`: the owners that follow it in this round. */
    readonly rest: readonly string[];
  }
  /** Every owner holds the copy. */
  | { readonly kind: "stored" }
  /** The primary holds a different object at this hash. */
  | { readonly kind: "collision" }
  /** Rounds are up and some owner lacks the copy. */
  | { readonly kind: "unavailable"; readonly written: number; readonly owners: number };

/**
 * The state before any write. With `selfHolds`, `self` already holds the
 * copy (it was stored there first) and is not written again.
 */
export function startReplication(options: { self: string; selfHolds: boolean }): ReplicationState {
  const written = options.selfHolds ? [options.self] : [];
  return { round: 0, written, start: written.length, queued: null, collided: false };
}

/** The next step, given the owners the ring names now. */
export function nextReplicationStep(
  state: ReplicationState,
  owners: readonly string[],
): ReplicationStep {
  if (state.collided) return { kind: "collision" };
  if (state.queued !== null) {
    return { kind: "write", targets: state.queued, primary: false, rest: [] };
  }
  if (state.round >= replicationRoundsMax) {
    return owners.every((id) => state.written.includes(id))
      ? { kind: "stored" }
      : { kind: "unavailable", written: state.written.length, owners: owners.length };
  }
  const pending = owners.filter((id) => !state.written.includes(id));
  if (pending.length === 0) return { kind: "stored" };
  if (state.written.length === state.start) {
    return { kind: "write", targets: pending.slice(0, 1), primary: true, rest: pending.slice(1) };
  }
  return { kind: "write", targets: pending, primary: false, rest: [] };
}

/**
 * The state after a write step, given the outcome of each of its targets
 * (in order).
 */
export function afterWrites(
  state: ReplicationState,
  step: Extract<ReplicationStep, { kind: "write" }>,
  outcomes: readonly WriteOutcome[],
): ReplicationState {
  if (step.primary) {
    const outcome = outcomes[0];
    if (outcome === "collision") return { ...state, collided: true };
    if (outcome === "ok") {
      const written = [...state.written, ...step.targets];
      // The round goes on with the others, or ends when there are none.
      return step.rest.length > 0
        ? { ...state, written, queued: step.rest }
        : { ...state, written, round: state.round + 1, queued: null };
    }
    return { ...state, round: state.round + 1, queued: null };
  }
  const reached = step.targets.filter((_, i) => outcomes[i] === "ok");
  return {
    ...state,
    written: [...state.written, ...reached],
    round: state.round + 1,
    queued: null,
  };
}
