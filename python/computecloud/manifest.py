"""Chunked files: refs, index objects and manifests (docs/PROTOCOL.md, 9).

A file larger than one inline object is cut into chunks of ``chunk_size``
bytes, each stored as a file named ``chunk``; refs name stored objects
(hash, first 8 bytes of the SHA-256 of the content, length); index objects
(files named ``chunk-index``) group 2048 refs when a level has more; the
manifest describes the whole. Integers are big-endian. Pure: no sockets.
"""

import hashlib
import struct
from typing import List, NamedTuple, Optional, Sequence, Tuple

#: Name of the objects holding a chunked file's data.
CHUNK_NAME = "chunk"
#: Name of the index objects of a chunked file.
INDEX_NAME = "chunk-index"
#: Refs per index object or manifest (``F``).
CHUNK_REFS_MAX = 2048
#: Deepest tree a manifest may describe.
CHUNK_TREE_DEPTH_MAX = 4
#: Largest chunk, and the size writers use: the inline object limit.
CHUNK_BYTES_MAX = 45000
#: Bytes of one ref.
REF_BYTES = 16
#: Bytes of an index object before its refs.
INDEX_HEADER_BYTES = 8
#: Bytes of a manifest before its refs.
MANIFEST_HEADER_BYTES = 52
#: Format version of manifests and index objects.
MANIFEST_VERSION = 1
_MANIFEST_MAGIC = b"cman"
_INDEX_MAGIC = b"cidx"
_SIZE_MAX = 2**53 - 1


class ManifestError(ValueError):
    """A manifest or index object that is not well formed."""


class ChunkRef(NamedTuple):
    """A stored object as a chunked file refers to it."""

    hash: int
    """The object's hash."""
    digest: bytes
    """First 8 bytes of the SHA-256 of its content."""
    size: int
    """Length of its content in bytes."""


class Manifest(NamedTuple):
    """The description of a chunked file, stored as the file object itself."""

    depth: int
    chunk_size: int
    size: int
    sha256: bytes
    """SHA-256 of the whole content (32 bytes)."""
    refs: Tuple[ChunkRef, ...]


def ref_of(hash_value: int, data: bytes) -> ChunkRef:
    """The ref of an object with content ``data`` stored at ``hash_value``."""
    return ChunkRef(hash_value, hashlib.sha256(data).digest()[:8], len(data))


def tree_shape(size: int, chunk_size: int) -> List[int]:
    """Object counts per level of the tree of ``size`` bytes in ``chunk_size`` chunks.

    ``counts[0]`` is the number of chunks; the last count is the number of
    root refs; ``len(counts)`` is the depth. Raises ManifestError when the
    sizes are out of range or the tree would be deeper than 4 levels.
    """
    if not 1 <= chunk_size <= CHUNK_BYTES_MAX:
        raise ManifestError("Invalid manifest: chunk size out of range (got %d)" % chunk_size)
    if not 0 <= size <= _SIZE_MAX:
        raise ManifestError("Invalid manifest: size out of range (got %d)" % size)
    counts = [-(-size // chunk_size)]
    while counts[-1] > CHUNK_REFS_MAX:
        counts.append(-(-counts[-1] // CHUNK_REFS_MAX))
    if len(counts) > CHUNK_TREE_DEPTH_MAX:
        raise ManifestError(
            "Invalid manifest: %d bytes in chunks of %d need %d levels (max %d)"
            % (size, chunk_size, len(counts), CHUNK_TREE_DEPTH_MAX)
        )
    return counts


def object_size(counts: Sequence[int], level: int, index: int, size: int, chunk_size: int) -> int:
    """Length of object ``index`` of ``level`` (0: chunks; k: index objects of level k)."""
    if level == 0:
        last = counts[0] - 1
        return chunk_size if index < last else size - last * chunk_size
    below = counts[level - 1]
    return INDEX_HEADER_BYTES + REF_BYTES * min(CHUNK_REFS_MAX, below - index * CHUNK_REFS_MAX)


def _encode_refs(refs: Sequence[ChunkRef]) -> bytes:
    parts = []
    for ref in refs:
        if len(ref.digest) != 8:
            raise ManifestError("Invalid ref: digest must be 8 bytes (got %d)" % len(ref.digest))
        parts.append(struct.pack(">I8sI", ref.hash, ref.digest, ref.size))
    return b"".join(parts)


def _decode_refs(data: bytes, offset: int, count: int) -> Tuple[ChunkRef, ...]:
    return tuple(
        ChunkRef(*struct.unpack_from(">I8sI", data, offset + i * REF_BYTES)) for i in range(count)
    )


def encode_index(level: int, refs: Sequence[ChunkRef]) -> bytes:
    """Encodes an index object of ``level`` (1 or more) holding ``refs``."""
    if not 1 <= level < CHUNK_TREE_DEPTH_MAX or not 1 <= len(refs) <= CHUNK_REFS_MAX:
        raise ManifestError("Invalid index object: level %d with %d refs" % (level, len(refs)))
    return _INDEX_MAGIC + struct.pack(">BBH", MANIFEST_VERSION, level, len(refs)) + _encode_refs(refs)


def decode_index(data: bytes, level: int) -> Tuple[ChunkRef, ...]:
    """Decodes an index object expected at ``level``; raises ManifestError if malformed."""
    if len(data) < INDEX_HEADER_BYTES or data[:4] != _INDEX_MAGIC:
        raise ManifestError("Invalid index object: bad magic")
    version, found_level, count = struct.unpack_from(">BBH", data, 4)
    if version != MANIFEST_VERSION:
        raise ManifestError("Invalid index object: version %d" % version)
    if found_level != level:
        raise ManifestError("Invalid index object: level %d where %d belongs" % (found_level, level))
    if not 1 <= count <= CHUNK_REFS_MAX or len(data) != INDEX_HEADER_BYTES + REF_BYTES * count:
        raise ManifestError("Invalid index object: %d refs in %d bytes" % (count, len(data)))
    return _decode_refs(data, INDEX_HEADER_BYTES, count)


def encode_manifest(manifest: Manifest) -> bytes:
    """Encodes a manifest; raises ManifestError when it is not well formed."""
    check_manifest(manifest)
    header = _MANIFEST_MAGIC + struct.pack(
        ">BBHIQ", MANIFEST_VERSION, manifest.depth, len(manifest.refs), manifest.chunk_size, manifest.size
    )
    return header + manifest.sha256 + _encode_refs(manifest.refs)


def decode_manifest(data: bytes) -> Manifest:
    """Decodes and checks a manifest; raises ManifestError when it is not well formed."""
    if len(data) < MANIFEST_HEADER_BYTES or data[:4] != _MANIFEST_MAGIC:
        raise ManifestError("Invalid manifest: bad magic or too short (%d bytes)" % len(data))
    version, depth, count, chunk_size, size = struct.unpack_from(">BBHIQ", data, 4)
    if version != MANIFEST_VERSION:
        raise ManifestError("Invalid manifest: version %d" % version)
    if len(data) != MANIFEST_HEADER_BYTES + REF_BYTES * count:
        raise ManifestError("Invalid manifest: %d refs in %d bytes" % (count, len(data)))
    manifest = Manifest(
        depth, chunk_size, size, bytes(data[20:52]), _decode_refs(data, MANIFEST_HEADER_BYTES, count)
    )
    check_manifest(manifest)
    return manifest


def check_manifest(manifest: Manifest) -> List[int]:
    """Checks a manifest's shape and root ref lengths; returns the tree's counts."""
    counts = tree_shape(manifest.size, manifest.chunk_size)
    if manifest.depth != len(counts) or len(manifest.refs) != counts[-1]:
        raise ManifestError(
            "Invalid manifest: depth %d with %d refs where the size implies %d with %d"
            % (manifest.depth, len(manifest.refs), len(counts), counts[-1])
        )
    if len(manifest.sha256) != 32:
        raise ManifestError("Invalid manifest: SHA-256 must be 32 bytes")
    top = len(counts) - 1
    for index, ref in enumerate(manifest.refs):
        expected = object_size(counts, top, index, manifest.size, manifest.chunk_size)
        if ref.size != expected:
            raise ManifestError(
                "Invalid manifest: root ref %d says %d bytes where %d belong" % (index, ref.size, expected)
            )
    return counts


class TreeBuilder:
    """Builds the tree of refs as chunk refs arrive in order, holding at most
    ``F + 1`` refs per level.

    ``push(level, ref)`` returns an index object ``(level, bytes)`` to store
    (its ref is then pushed at that level) or None; ``finish()`` returns
    either ``("index", level, bytes)`` to store and push, or
    ``("root", depth, refs)`` once the root level is known.
    """

    def __init__(self) -> None:
        self._levels = [[]]  # type: List[List[ChunkRef]]

    def push(self, level: int, ref: ChunkRef) -> Optional[Tuple[int, bytes]]:
        """Adds a ref at ``level``; returns an index object of ``level + 1`` to store, if full."""
        while len(self._levels) <= level:
            self._levels.append([])
        refs = self._levels[level]
        refs.append(ref)
        if len(refs) <= CHUNK_REFS_MAX:
            return None
        full = refs[:CHUNK_REFS_MAX]
        del refs[:CHUNK_REFS_MAX]
        return level + 1, encode_index(level + 1, full)

    def finish(self) -> Tuple[str, int, object]:
        """The next step at the end (see the class docstring)."""
        for level, refs in enumerate(self._levels):
            top = level == len(self._levels) - 1
            if top:
                return "root", level + 1, tuple(refs)
            if refs:
                index = encode_index(level + 1, refs)
                self._levels[level] = []
                return "index", level + 1, index
        raise AssertionError("unreachable")
