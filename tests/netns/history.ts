/**
 * The history of a scenario: every operation a client made, with when it
 * started and ended (ms since the epoch, one machine's clock) and how it
 * came out. The checker (checker.ts) judges a history after the fact; the
 * job whose output it can judge is {@linkcode jobCode}.
 *
 * @module
 */

import { fileIdentity, saltOf } from "../../protocol/digest.ts";
import { formatHash, objectHash } from "../../protocol/hash.ts";

/**
 * How an operation came out: `ok` acknowledged; `fail` refused for certain
 * (a NACK: it may still have left partial copies); `unknown` no answer in
 * time or no server reachable (it may or may not have taken effect).
 */
export type Outcome = "ok" | "fail" | "unknown";

/** `load` while faults come and go; `final` after healing, when everything must be readable. */
export type Phase = "load" | "final";

interface OpBase {
  /** Position in the history (assigned by {@linkcode History.record}). */
  readonly id: number;
  /** Which client (agent and lane), e.g. `c0/2`. */
  readonly client: string;
  /** The server the request was sent to (`host:port`). */
  readonly server: string;
  readonly start: number;
  readonly end: number;
  readonly outcome: Outcome;
  readonly phase: Phase;
  /** The NACK reason or error kind when not `ok`. */
  readonly error?: string;
}

/** ADD of a small text file. `hash` is where it lands (acked, or expected from its content). */
export interface AddOp extends OpBase {
  readonly kind: "add";
  readonly name: string;
  readonly text: string;
  readonly hash: string;
}

/** GET of a file; `value` when `ok`. */
export interface ReadOp extends OpBase {
  readonly kind: "read";
  readonly hash: string;
  readonly value?: string;
}

/** JADD of a {@linkcode jobCode} job whose one input is `input` (a file or another job's output). */
export interface SubmitOp extends OpBase {
  readonly kind: "submit";
  readonly name: string;
  readonly input: string;
  readonly job?: string;
  readonly output?: string;
}

/** A read of a job's output (waiting for it); `value` when `ok`. */
export interface OutputOp extends OpBase {
  readonly kind: "output";
  readonly job: string;
  readonly output: string;
  readonly value?: string;
}

/** One operation of a history. */
export type Op = AddOp | ReadOp | SubmitOp | OutputOp;

/** An operation before it is given its id. */
export type NewOp = Op extends infer T ? T extends Op ? Omit<T, "id"> : never : never;

/** Operations in the order they were recorded (by end time, roughly). */
export class History {
  readonly ops: Op[] = [];

  /** Appends an operation and returns it with its id. */
  record(op: NewOp): Op {
    const full = { ...op, id: this.ops.length } as Op;
    this.ops.push(full);
    return full;
  }

  /** Counts by kind and outcome, e.g. `add ok 120`. */
  summary(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const op of this.ops) {
      const key = `${op.kind} ${op.outcome}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  }
}

/** The hash an ADD of `text` under `name` lands at when no collision makes it probe further. */
export function expectedFileHash(name: string, text: string): string {
  const data = new TextEncoder().encode(text);
  return formatHash(objectHash(name, saltOf(fileIdentity(data))));
}

/**
 * The Python source of a job the checker can judge: it prints a random
 * token of its run, the SHA-256 of its input (`/net/in`), and each line of
 * the input in base64 after `in `, after sleeping `sleepMs`. So an output
 * shows which run made it and exactly what that run read.
 */
export function jobCode(sleepMs = 0): string {
  return [
    "import base64, hashlib, random, time",
    "data = open('/net/in', 'rb').read()",
    `time.sleep(${(sleepMs / 1000).toFixed(3)})`,
    "print('run %016x' % random.SystemRandom().getrandbits(64))",
    "print('sha ' + hashlib.sha256(data).hexdigest())",
    "print('in ' + base64.b64encode(data).decode())",
  ].join("\n") + "\n";
}
