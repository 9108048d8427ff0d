/**
 * The types both modes of the bubblewrap backend share, so that
 * `bwrap.ts` (which starts either) and each mode's file depend on them and
 * not on each other.
 *
 * @module
 */

import type { InterpreterProbe } from "./jail_python.ts";
import type { Sandbox } from "./sandbox.ts";

/** How a bubblewrap sandbox runs jobs (see `bwrap.ts`). */
export type BwrapMode = "fork" | "fresh";

/** What the start-up probe found. */
export interface BwrapProbe {
  /** The interpreter binary jobs run. */
  readonly pythonPath: string;
  /** What the jailed interpreter reported: implementation, version, footprint, paths. */
  readonly interpreter: InterpreterProbe;
  /** The `sys.path` jobs get (see `jobSysPath`). */
  readonly sysPath: readonly string[];
  /** What bounds a job's processes: a pids cgroup, or RLIMIT_NPROC (non-root only). */
  readonly processLimit: "cgroup" | "rlimit";
  /** The cgroup hierarchy used (null: none, and `cgroupUnavailable` says why). */
  readonly cgroupVersion: 1 | 2 | null;
  /** Why no cgroup bounds jobs (null when one does). */
  readonly cgroupUnavailable: string | null;
  /** Whether a memory cgroup bounds all of a job's processes together. */
  readonly memoryCgroup: boolean;
  /**
   * Where the jails' `/net` directories are made: a directory of the
   * sandbox's own at the top of `/dev/shm`, else in its work directory
   * (whose path jobs can then read in their mount table). See `net_staging.ts`.
   */
  readonly netDirectory: string;
  /** Why fork mode was not used when no mode was asked for (null otherwise). */
  readonly forkUnavailable: string | null;
}

/** A bubblewrap sandbox, with what its probe found. */
export interface BwrapSandbox extends Sandbox {
  readonly name: "bwrap";
  readonly mode: BwrapMode;
  readonly probe: BwrapProbe;
  /**
   * Jobs run so far in a jail started ahead of time (`warm`: a zygote's
   * child in fork mode) or in a jail started for the job (`cold`).
   */
  readonly stats: { readonly warm: number; readonly cold: number };
}
