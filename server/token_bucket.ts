/**
 * A token bucket: `burst` tokens, one more every `refillMs`, never more
 * than `burst`. The server spends one per failed AUTH of a remote address
 * and refuses that address while its bucket is empty. Pure: time comes in
 * as `nowMs`.
 *
 * @module
 */

/** A bucket's state at `atMs`. */
export interface Bucket {
  readonly tokens: number;
  readonly atMs: number;
}

/** The shape of a bucket. */
export interface BucketLimits {
  /** Tokens a full bucket holds. */
  readonly burst: number;
  /** Time for one token to come back. */
  readonly refillMs: number;
}

/** The bucket at `nowMs` (full when there was none): tokens come back with time, up to `burst`. */
export function refilled(bucket: Bucket | undefined, nowMs: number, limits: BucketLimits): Bucket {
  if (bucket === undefined) return { tokens: limits.burst, atMs: nowMs };
  const elapsedMs = Math.max(0, nowMs - bucket.atMs);
  const tokens = Math.min(limits.burst, bucket.tokens + elapsedMs / limits.refillMs);
  return { tokens, atMs: Math.max(nowMs, bucket.atMs) };
}

/** How long until the bucket holds a whole token again (0 when it does). */
export function waitMs(bucket: Bucket | undefined, nowMs: number, limits: BucketLimits): number {
  const now = refilled(bucket, nowMs, limits);
  return now.tokens >= 1 ? 0 : Math.ceil((1 - now.tokens) * limits.refillMs);
}

/** Spends one token (the bucket must hold one, see {@linkcode waitMs}); returns the bucket after. */
export function spend(bucket: Bucket | undefined, nowMs: number, limits: BucketLimits): Bucket {
  const now = refilled(bucket, nowMs, limits);
  return { tokens: Math.max(0, now.tokens - 1), atMs: now.atMs };
}

/** True when the bucket is full again at `nowMs`: it can be forgotten. */
export function isFull(bucket: Bucket, nowMs: number, limits: BucketLimits): boolean {
  return refilled(bucket, nowMs, limits).tokens >= limits.burst;
}
