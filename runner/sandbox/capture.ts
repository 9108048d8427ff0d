/**
 * A bounded capture of a byte stream (a job's standard error) that keeps the
 * head and the tail. Pure: bytes in, bytes out.
 *
 * @module
 */

const encoder = new TextEncoder();

/** The marker line put where bytes were left out. */
export function omittedMarker(omittedBytes: number): Uint8Array {
  return encoder.encode(`\n[cloud: ${omittedBytes} bytes of stderr omitted]\n`);
}

/** Room the marker needs at most: its text with a 16-digit count. */
const markerBytesMax = omittedMarker(1e15).length;

/**
 * Keeps at most `bytesMax` bytes of everything pushed into it: all of it when
 * it fits, else the first and the last bytes with a marker line between them
 * (the tail usually holds the traceback, the head what went wrong first).
 * Memory stays within a small multiple of `bytesMax` whatever is pushed.
 */
export class HeadTailCapture {
  readonly #bytesMax: number;
  readonly #headMax: number;
  readonly #tailMax: number;
  readonly #head: Uint8Array;
  #headLength = 0;
  /** Ring buffer of the last bytes seen after the head filled. */
  readonly #tail: Uint8Array;
  #tailEnd = 0;
  #tailLength = 0;
  #totalBytes = 0;

  /** Throws `RangeError` if `bytesMax` is not a non-negative integer. */
  constructor(bytesMax: number) {
    if (!Number.isInteger(bytesMax) || bytesMax < 0) {
      throw new RangeError(
        `Cannot capture: bytesMax must be a non-negative integer (got ${bytesMax})`,
      );
    }
    this.#bytesMax = bytesMax;
    const room = Math.max(0, bytesMax - markerBytesMax);
    this.#headMax = Math.floor(room / 2);
    this.#tailMax = room - this.#headMax;
    this.#head = new Uint8Array(bytesMax);
    this.#tail = new Uint8Array(this.#tailMax);
  }

  /** Bytes pushed so far, kept or not. */
  get totalBytes(): number {
    return this.#totalBytes;
  }

  /** Adds bytes. */
  push(chunk: Uint8Array): void {
    this.#totalBytes += chunk.length;
    // Until the total exceeds bytesMax everything fits in #head verbatim.
    const headRoom = this.#bytesMax - this.#headLength;
    const intoHead = Math.min(headRoom, chunk.length);
    this.#head.set(chunk.subarray(0, intoHead), this.#headLength);
    this.#headLength += intoHead;
    this.#pushTail(chunk.subarray(Math.max(0, chunk.length - this.#tailMax)));
  }

  /** The kept bytes: everything if it fit, else head + marker + tail. */
  bytes(): Uint8Array {
    if (this.#totalBytes <= this.#bytesMax) return this.#head.slice(0, this.#headLength);
    const head = this.#head.subarray(0, this.#headMax);
    const tail = this.#tailBytes();
    const marker = omittedMarker(this.#totalBytes - head.length - tail.length);
    if (marker.length > this.#bytesMax) return marker.subarray(0, this.#bytesMax).slice();
    const out = new Uint8Array(head.length + marker.length + tail.length);
    out.set(head, 0);
    out.set(marker, head.length);
    out.set(tail, head.length + marker.length);
    return out;
  }

  #pushTail(bytes: Uint8Array): void {
    const size = this.#tail.length;
    if (size === 0) return;
    for (let offset = 0; offset < bytes.length;) {
      const n = Math.min(size - this.#tailEnd, bytes.length - offset);
      this.#tail.set(bytes.subarray(offset, offset + n), this.#tailEnd);
      this.#tailEnd = (this.#tailEnd + n) % size;
      this.#tailLength = Math.min(size, this.#tailLength + n);
      offset += n;
    }
  }

  #tailBytes(): Uint8Array {
    const size = this.#tail.length;
    const start = (this.#tailEnd - this.#tailLength + size) % size;
    const out = new Uint8Array(this.#tailLength);
    const first = Math.min(this.#tailLength, size - start);
    out.set(this.#tail.subarray(start, start + first), 0);
    out.set(this.#tail.subarray(0, this.#tailLength - first), first);
    return out;
  }
}
