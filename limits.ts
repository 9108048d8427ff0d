/**
 * Every bound the system enforces, in one place, each with the reason for its
 * number. Crossing one is a named, reported error, never a crash.
 *
 * @module
 */

/** Largest frame payload: the header has four hex digits of length. */
export const framePayloadBytesMax = 0xffff;

/** Header length: four hex digits of length and two of checksum. */
export const frameHeaderBytes = 6;

/**
 * Largest name (file, job, output) in bytes. Names travel inside frames next
 * to data; 1024 leaves almost all of a frame for data and is far longer than
 * any path a user would type.
 */
export const nameBytesMax = 1024;

/**
 * Largest inline object (raw bytes before base64). Base64 turns 3 bytes into
 * 4, and a BADD frame carries name, salt, metadata and the data; 45 000 raw
 * bytes is 60 000 base64 characters, leaving 5 535 bytes for the rest.
 */
export const inlineBytesMax = 45_000;

/**
 * Most inputs of one job. Each input is 9 bytes on the wire (":" + 8 hex);
 * 4096 inputs is 36 KiB, which fits in a JADD frame with the source.
 */
export const jobInputsMax = 4096;
