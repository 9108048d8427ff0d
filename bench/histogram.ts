/**
 * A compact latency histogram: log-linear buckets in microseconds with a
 * relative error under 0.8 %, a few kilobytes whatever the number of samples.
 * Values below 256 µs are exact; above, each power of two is split into 128
 * equal buckets (the HdrHistogram idea, written for this bench).
 *
 * @module
 */

const subBucketBits = 7;
const subBucketCount = 1 << subBucketBits; // 128
const exactLimit = subBucketCount * 2; // values below 256 µs have their own bucket
/** Longest latency recorded without clamping: 2^32 µs, about 71 minutes. */
const microsecondsMax = 2 ** 32 - 1;
const bucketCount = exactLimit + (32 - subBucketBits - 1) * subBucketCount;

/** Bucket index of a latency in whole microseconds (clamped to 0..2^32-1). */
export function bucketOf(microseconds: number): number {
  const value = Math.min(microsecondsMax, Math.max(0, Math.floor(microseconds)));
  if (value < exactLimit) return value;
  const shift = 31 - Math.clz32(value) - subBucketBits; // >= 1
  const top = value >>> shift; // 128..255
  return exactLimit + (shift - 1) * subBucketCount + (top - subBucketCount);
}

/** Midpoint in microseconds of the values that fall in bucket `index`. */
export function bucketValue(index: number): number {
  if (index < exactLimit) return index;
  const offset = index - exactLimit;
  const shift = Math.floor(offset / subBucketCount) + 1;
  const top = (offset % subBucketCount) + subBucketCount;
  const low = top * 2 ** shift;
  return low + (2 ** shift - 1) / 2;
}

/** Latency histogram; record milliseconds, read percentiles in milliseconds. */
export class LatencyHistogram {
  #counts = new Float64Array(bucketCount);
  #total = 0;
  #maxMs = 0;

  /** Number of recorded samples. */
  get count(): number {
    return this.#total;
  }

  /** Largest recorded latency, exact, in milliseconds. */
  get maxMs(): number {
    return this.#maxMs;
  }

  /** Record one latency in milliseconds. */
  record(milliseconds: number): void {
    this.#counts[bucketOf(milliseconds * 1000)]! += 1;
    this.#total += 1;
    if (milliseconds > this.#maxMs) this.#maxMs = milliseconds;
  }

  /** Add every sample of `other` to this histogram. */
  merge(other: LatencyHistogram): void {
    for (let i = 0; i < bucketCount; i++) this.#counts[i]! += other.#counts[i]!;
    this.#total += other.#total;
    this.#maxMs = Math.max(this.#maxMs, other.#maxMs);
  }

  /** Nearest-rank percentile (0..1) in milliseconds, within the bucket's precision; NaN when empty. */
  percentileMs(fraction: number): number {
    if (this.#total === 0) return NaN;
    const rank = Math.max(1, Math.ceil(fraction * this.#total));
    let seen = 0;
    for (let i = 0; i < bucketCount; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) return Math.min(bucketValue(i) / 1000, this.#maxMs);
    }
    return this.#maxMs;
  }
}
