"""Moving chunked files (docs/PROTOCOL.md, 9.7): storing chunks and index
objects with a bounded number of requests in flight, and reading them back
in order with every object checked against its ref and the whole content
against the manifest.

The requests go through two callables, so this logic runs against a real
ring or a dictionary. Memory: ``parallel`` chunks in flight and at most
2049 refs per level, whatever the file's size.
"""

import collections
import hashlib
from concurrent.futures import Executor, Future
from typing import Callable, Deque, Iterable, Iterator, List, Optional, Tuple

from .errors import CloudError
from .hashing import format_hash, object_hash
from .manifest import (
    CHUNK_NAME,
    INDEX_NAME,
    ChunkRef,
    Manifest,
    ManifestError,
    TreeBuilder,
    check_manifest,
    decode_index,
    encode_manifest,
    object_size,
)

#: ``store(name, data, expected_hash) -> hash``: ADD an object, return the hash it got.
StoreFn = Callable[[str, bytes, int], int]
#: ``fetch(hash, copy) -> (kind, value)``: copy 0 from the owner, then the other
#: servers; kind ``data`` (bytes), ``missing`` (a reason) or ``end`` (no server left).
FetchFn = Callable[[int, int], Tuple[str, object]]


def _store_ref(store: StoreFn, name: str, data: bytes) -> ChunkRef:
    digest = hashlib.sha256(data).digest()
    expected = object_hash(name, int.from_bytes(digest[:4], "big"))
    return ChunkRef(store(name, data, expected), digest[:8], len(data))


def store_chunks(
    store: StoreFn,
    chunks: Iterable[bytes],
    chunk_size: int,
    executor: Executor,
    parallel: int,
    on_progress: Optional[Callable[[int], None]] = None,
) -> Tuple[bytes, int, str]:
    """Stores ``chunks`` (each ``chunk_size`` bytes but the last) and their index
    objects; returns ``(manifest bytes, size, sha256 hex)``. Nothing is stored
    for the file itself: MADD the manifest.

    Raises what ``store`` raises; chunks stored before a failure stay.
    """
    builder = TreeBuilder()
    whole = hashlib.sha256()
    inflight = collections.deque()  # type: Deque[Future]
    size = 0
    stored = 0

    def push(level: int, ref: ChunkRef) -> None:
        index = builder.push(level, ref)
        while index is not None:
            index_level, data = index
            index = builder.push(index_level, _store_ref(store, INDEX_NAME, data))

    def take() -> None:
        nonlocal stored
        ref = inflight.popleft().result()
        stored += ref.size
        if on_progress is not None:
            on_progress(stored)
        push(0, ref)

    try:
        for chunk in chunks:
            if not chunk:
                continue
            if size % chunk_size != 0:
                raise ValueError("Cannot store chunks: a chunk shorter than %d bytes is not the last" % chunk_size)
            whole.update(chunk)
            size += len(chunk)
            inflight.append(executor.submit(_store_ref, store, CHUNK_NAME, bytes(chunk)))
            if len(inflight) >= parallel:
                take()
        while inflight:
            take()
    finally:
        for future in inflight:
            future.cancel()
        for future in inflight:
            if not future.cancelled():
                future.exception()
    while True:
        kind, level, value = builder.finish()
        if kind == "root":
            refs = value  # type: Tuple[ChunkRef, ...]  # type: ignore[assignment]
            manifest = Manifest(level, chunk_size, size, whole.digest(), tuple(refs))
            return encode_manifest(manifest), size, whole.hexdigest()
        push(level, _store_ref(store, INDEX_NAME, value))  # type: ignore[arg-type]


def _place(counts: List[int], level: int, index: int) -> str:
    if level == 0:
        return "chunk %d of %d" % (index, counts[0])
    return "index object %d of %d at level %d" % (index, counts[level], level)


def fetch_checked(fetch: FetchFn, file: str, ref: ChunkRef, place: str) -> bytes:
    """Fetches an object and checks it against its ref, trying every copy.

    Raises CloudError ``chunk-corrupt`` or ``chunk-missing`` naming the file,
    the object's place and hash when no intact copy exists.
    """
    corrupt = None  # type: Optional[str]
    missing = "no server holds it"
    copy = 0
    while True:
        kind, value = fetch(ref.hash, copy)
        if kind == "end":
            break
        if kind == "missing":
            if copy == 0:
                missing = str(value)
        else:
            data = value  # type: bytes  # type: ignore[assignment]
            digest = hashlib.sha256(data).digest()[:8] if len(data) == ref.size else None
            if digest == ref.digest:
                return data
            if corrupt is None:
                corrupt = "%d bytes with digest %s where its ref says %d bytes with digest %s" % (
                    len(data),
                    digest.hex() if digest else "(not computed)",
                    ref.size,
                    ref.digest.hex(),
                )
        copy += 1
    what = "Cannot read file %s: %s (%s)" % (file, place, format_hash(ref.hash))
    if corrupt is not None:
        raise CloudError("chunk-corrupt", "%s is corrupt: %s" % (what, corrupt))
    raise CloudError("chunk-missing", "%s is missing: %s" % (what, missing))


def _walk(fetch: FetchFn, file: str, manifest: Manifest, counts: List[int]) -> Iterator[Tuple[ChunkRef, str]]:
    positions = [0] * len(counts)

    def visit(level: int, refs: Tuple[ChunkRef, ...]) -> Iterator[Tuple[ChunkRef, str]]:
        for ref in refs:
            index = positions[level]
            positions[level] += 1
            place = _place(counts, level, index)
            size = object_size(counts, level, index, manifest.size, manifest.chunk_size)
            if ref.size != size:
                raise CloudError(
                    "corrupt",
                    "Cannot read file %s: the ref of %s (%s) says %d bytes where %d belong"
                    % (file, place, format_hash(ref.hash), ref.size, size),
                )
            if level == 0:
                yield ref, place
                continue
            data = fetch_checked(fetch, file, ref, place)
            try:
                children = decode_index(data, level)
            except ManifestError as error:
                raise CloudError(
                    "chunk-corrupt",
                    "Cannot read file %s: %s (%s) is malformed: %s" % (file, place, format_hash(ref.hash), error),
                ) from None
            for item in visit(level - 1, children):
                yield item

    return visit(manifest.depth - 1, manifest.refs)


def read_chunks(
    fetch: FetchFn,
    file: str,
    manifest: Manifest,
    executor: Executor,
    parallel: int,
) -> Iterator[bytes]:
    """Yields the content of the chunked file ``file`` (its hash, for messages) in
    order, fetching up to ``parallel`` chunks ahead.

    Raises CloudError ``chunk-missing``/``chunk-corrupt`` when an object has no
    intact copy, ``corrupt`` (after the last chunk) when the whole content
    does not match the manifest: a consumer must then discard what it read.
    """
    counts = check_manifest(manifest)
    whole = hashlib.sha256()
    refs = _walk(fetch, file, manifest, counts)
    queue = collections.deque()  # type: Deque[Future]
    exhausted = False
    size = 0
    try:
        while True:
            while not exhausted and len(queue) < parallel:
                item = next(refs, None)
                if item is None:
                    exhausted = True
                else:
                    queue.append(executor.submit(fetch_checked, fetch, file, item[0], item[1]))
            if not queue:
                break
            chunk = queue.popleft().result()
            whole.update(chunk)
            size += len(chunk)
            yield chunk
    finally:
        for future in queue:
            future.cancel()
    if whole.digest() != manifest.sha256 or size != manifest.size:
        raise CloudError(
            "corrupt",
            "Cannot read file %s: its %d bytes have SHA-256 %s where the manifest says %d bytes with %s"
            % (file, size, whole.hexdigest(), manifest.size, manifest.sha256.hex()),
        )
