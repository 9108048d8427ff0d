/**
 * Cutting upload sources into chunks of one exact size (the last one
 * shorter), holding at most one chunk being filled: bytes in memory, a
 * local file, or any stream of byte pieces of any sizes.
 *
 * @module
 */

/** What can be uploaded: bytes, a stream of byte pieces, or a local file by path. */
export type UploadSource =
  | Uint8Array
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array>
  | { readonly path: string };

/**
 * Yields consecutive chunks of `size` bytes from `source` (the last one
 * shorter, none for empty input). Chunks of bytes in memory are views of
 * them; every other chunk is a fresh buffer (or a view of one) that the
 * caller may keep.
 *
 * @throws {Deno.errors.NotFound} and other file errors for a path that cannot be read.
 */
export function exactChunks(source: UploadSource, size: number): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) return bytesChunks(source, size);
  if ("path" in source) return fileChunks(source.path, size);
  return pieceChunks(source, size);
}

async function* bytesChunks(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < data.length; offset += size) {
    yield data.subarray(offset, Math.min(offset + size, data.length));
  }
}

/**
 * Bytes read from a file at once: whole chunks adding up to about 1 MiB.
 * One read per 45 000-byte chunk costs a system call and an async
 * operation each (800 MB/s here); 1 MiB reads run at 3 GB/s.
 */
const fileReadBytes = 1 << 20;

async function* fileChunks(path: string, size: number): AsyncGenerator<Uint8Array> {
  using file = await Deno.open(path, { read: true });
  const blockBytes = size * Math.max(1, Math.floor(fileReadBytes / size));
  for (;;) {
    // A fresh block each time: the chunks handed out are views of it.
    const block = new Uint8Array(blockBytes);
    let filled = 0;
    while (filled < blockBytes) {
      const count = await file.read(block.subarray(filled));
      if (count === null) break;
      filled += count;
    }
    for (let offset = 0; offset < filled; offset += size) {
      yield block.subarray(offset, Math.min(offset + size, filled));
    }
    if (filled < blockBytes) return;
  }
}

async function* pieceChunks(
  pieces: AsyncIterable<Uint8Array>,
  size: number,
): AsyncGenerator<Uint8Array> {
  let chunk = new Uint8Array(size);
  let filled = 0;
  for await (const piece of pieces) {
    let offset = 0;
    while (offset < piece.length) {
      const count = Math.min(size - filled, piece.length - offset);
      chunk.set(piece.subarray(offset, offset + count), filled);
      filled += count;
      offset += count;
      if (filled === size) {
        yield chunk;
        chunk = new Uint8Array(size);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield chunk.slice(0, filled);
}
