/**
 * The 32-bit object hash: where an object (file, job or server position)
 * lives on the ring. Defined in docs/PROTOCOL.md with test vectors, so a
 * client in any language computes the same value. Pure.
 *
 * hash(name, salt) = fmix32(fnv1a32(utf8(name) ‖ 0x00 ‖ salt as 4 bytes, big-endian))
 *
 * @module
 */

const encoder = new TextEncoder();

/** FNV-1a, 32 bits, over bytes, continuing from `seed`. */
export function fnv1a32(bytes: Uint8Array, seed = 0x811c9dc5): number {
  let h = seed;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** MurmurHash3's 32-bit finaliser: spreads every input bit over the output. */
export function fmix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Returns the ring position of an object named `name` with `salt`. */
export function objectHash(name: string, salt: number): number {
  const nameBytes = encoder.encode(name);
  const tail = new Uint8Array(5);
  tail[0] = 0;
  new DataView(tail.buffer).setUint32(1, salt >>> 0);
  return fmix32(fnv1a32(tail, fnv1a32(nameBytes)));
}

/** Formats a hash or salt as 8 lower-case hex digits. */
export function formatHash(value: number): string {
  return (value >>> 0).toString(16).padStart(8, "0");
}

const hashPattern = /^[0-9a-fA-F]{1,8}$/;

/**
 * Parses a hash or salt written in hex (1 to 8 digits, either case).
 *
 * @throws {RangeError} when the text is not such a number.
 */
export function parseHash(text: string): number {
  if (!hashPattern.test(text)) {
    throw new RangeError(
      `Cannot parse hash: expected 1 to 8 hex digits (got "${text.slice(0, 40)}")`,
    );
  }
  return Number.parseInt(text, 16) >>> 0;
}
