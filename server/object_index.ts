/**
 * The objects held here and what waits on them: every copy enters the
 * store through {@linkcode ObjectIndex.apply}, which keeps the in-memory
 * indexes in step (the open jobs in submission order, the finished files
 * that are inputs of waiting jobs) and wakes what waits: WAITs on one
 * object, GETJs on any job becoming leasable.
 *
 * @module
 */

import { chunkName, indexName } from "../protocol/manifest.ts";
import type { Clock } from "./clock.ts";
import {
  type FileState,
  isJob,
  isTerminal,
  type JobMeta,
  type MergeOutcome,
  type StoredObject,
  versionOf,
} from "./objects.ts";
import type { Store } from "./store.ts";

/** What is known of a finished file: an input of waiting jobs. */
export interface FinishedFile {
  readonly state: FileState;
  readonly error?: string;
}

/** Options of {@linkcode ObjectIndex.apply}. */
export interface ApplyOptions {
  /**
   * Wake the GETJs waiting here when a job may have become leasable
   * (default true). False for a lease given back because it could not be
   * copied: the waiting GETJs would fail the same way at once.
   */
  readonly wake?: boolean;
}

/** A change to what is stored here, as a watcher is told of it. */
export type IndexChange =
  | { readonly kind: "stored"; readonly object: StoredObject }
  | { readonly kind: "dropped"; readonly hash: number };

/** The store of one server with its indexes and waiters. */
export class ObjectIndex {
  readonly #store: Store;
  readonly #clock: Clock;
  /** Jobs held here that are not finished, in submission order. */
  readonly #openJobs = new Map<number, JobMeta>();
  /** Files known to be finished, with their state: inputs of waiting jobs. */
  readonly #finished = new Map<number, FinishedFile>();
  /** WAITs, by the object they wait on. */
  readonly #waiters = new Map<number, Set<() => void>>();
  /** GETJ long polls waiting for a job to become ready. */
  readonly #jobWaiters = new Set<() => void>();
  /** Told of every copy stored (new or further along) or dropped (the inspection's catalogue). */
  readonly #watchers: ((change: IndexChange) => void)[] = [];

  /** An index over `store`; {@linkcode load} fills it. */
  constructor(store: Store, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  /** Loads the open jobs of the store, oldest first. */
  load(): void {
    for (const job of this.#store.openJobs()) {
      if (isJob(job)) this.#openJobs.set(job.hash, job.meta);
    }
    const sorted = [...this.#openJobs].sort((a, b) =>
      a[1].createdMs - b[1].createdMs || a[0] - b[0]
    );
    this.#openJobs.clear();
    for (const [hash, meta] of sorted) this.#openJobs.set(hash, meta);
  }

  /** The jobs held here that are not finished, oldest first, by hash. */
  openJobs(): IterableIterator<[number, JobMeta]> {
    return this.#openJobs.entries();
  }

  /** The job `hash` held here when it is not finished. */
  openJob(hash: number): JobMeta | undefined {
    return this.#openJobs.get(hash);
  }

  /** How many jobs held here are not finished. */
  get openJobCount(): number {
    return this.#openJobs.size;
  }

  /** What is known of a finished file, or undefined when it is not known to be finished. */
  finished(hash: number): FinishedFile | undefined {
    return this.#finished.get(hash);
  }

  /** Records that a file held elsewhere is finished, and wakes the GETJs that wait. */
  learnFinished(hash: number, file: FinishedFile): void {
    this.#finished.set(hash, file);
    this.wakeJobWaiters();
  }

  /**
   * Merges a copy into the local store and keeps the indexes in step. A job
   * that may have become leasable wakes the GETJs waiting here, unless
   * `wake` is false.
   */
  apply(object: StoredObject, options: ApplyOptions = {}): MergeOutcome {
    const outcome = this.#store.merge(object);
    if (outcome === "created" || outcome === "advanced") {
      this.#index(object, options.wake ?? true);
      for (const watcher of this.#watchers) watcher({ kind: "stored", object });
    }
    return outcome;
  }

  /** Tells `watcher` of every copy stored here from now on, and of every copy dropped. */
  watch(watcher: (change: IndexChange) => void): void {
    this.#watchers.push(watcher);
  }

  #index(object: StoredObject, wake: boolean): void {
    const meta = object.meta;
    if (meta.kind === "job") {
      if (isTerminal(meta)) this.#openJobs.delete(object.hash);
      else this.#openJobs.set(object.hash, meta);
      if (meta.state !== "leased" && wake) this.wakeJobWaiters();
    }
    if (!isTerminal(meta)) return;
    // Chunks and index objects of large files are never job inputs (a job
    // names the file itself), and there are millions of them: not indexed,
    // so this map does not grow with the bytes stored. (Were one an input,
    // the readiness sweep would still find it.)
    if (meta.kind === "file" && object.name !== chunkName && object.name !== indexName) {
      this.#finished.set(object.hash, {
        state: meta.state,
        ...(meta.error ? { error: meta.error } : {}),
      });
      this.wakeJobWaiters();
    }
    const waiters = this.#waiters.get(object.hash);
    if (waiters) { for (const wake of waiters) wake(); }
  }

  /** `object`, or the copy stored here if that one is further along. */
  fresher(object: StoredObject): StoredObject {
    const local = this.#store.get(object.hash);
    return local && versionOf(local.meta) > versionOf(object.meta) ? local : object;
  }

  /** Removes the copy held here (it is no longer owned, and every owner holds one). */
  drop(hash: number): void {
    this.#store.delete(hash);
    this.#openJobs.delete(hash);
    for (const watcher of this.#watchers) watcher({ kind: "dropped", hash });
  }

  /** Resolves when `hash` finishes here, or after `ms`. */
  waitFor(hash: number, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const waiters = this.#waiters.get(hash) ?? new Set();
      const wake = () => {
        this.#clock.clearTimer(timer);
        waiters.delete(wake);
        if (waiters.size === 0) this.#waiters.delete(hash);
        resolve();
      };
      const timer = this.#clock.setTimeout(wake, ms);
      waiters.add(wake);
      this.#waiters.set(hash, waiters);
    });
  }

  /** Resolves when a job may have become ready here, after `ms`, or when `hangUp` aborts. */
  jobsChanged(ms: number, hangUp?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        this.#clock.clearTimer(timer);
        this.#jobWaiters.delete(wake);
        hangUp?.removeEventListener("abort", wake);
        resolve();
      };
      const timer = this.#clock.setTimeout(wake, ms);
      this.#jobWaiters.add(wake);
      hangUp?.addEventListener("abort", wake, { once: true });
    });
  }

  /** Wakes every GETJ that waits for a job. */
  wakeJobWaiters(): void {
    for (const wake of [...this.#jobWaiters]) wake();
  }

  /** Wakes everything that waits (the server stops). */
  wakeAll(): void {
    for (const waiters of this.#waiters.values()) for (const wake of waiters) wake();
    this.wakeJobWaiters();
  }
}
