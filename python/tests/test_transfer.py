"""Chunked transfers against an in-memory store: tree shapes, checks, errors."""

import concurrent.futures
import hashlib
import random
import unittest
from typing import Dict, Tuple

import support  # noqa: F401  (puts the package on sys.path)

from computecloud.errors import CloudError
from computecloud.manifest import (
    CHUNK_REFS_MAX,
    ManifestError,
    decode_manifest,
    encode_manifest,
    tree_shape,
)
from computecloud.transfer import read_chunks, store_chunks


class MemoryStore:
    """Objects by hash, as a ring would hold them (no collisions expected in tests)."""

    def __init__(self) -> None:
        self.objects = {}  # type: Dict[int, bytes]
        self.adds = 0

    def store(self, name: str, data: bytes, expected: int) -> int:
        self.adds += 1
        self.objects[expected] = bytes(data)
        return expected

    def fetch(self, hash_value: int, copy: int) -> Tuple[str, object]:
        if copy > 0:
            return "end", None
        if hash_value not in self.objects:
            return "missing", "not-found: No object %08x" % hash_value
        return "data", self.objects[hash_value]


def random_bytes(seed: int, size: int) -> bytes:
    return random.Random(seed).getrandbits(8 * size).to_bytes(size, "big")


def chunks_of(data: bytes, size: int):
    return [data[i : i + size] for i in range(0, len(data), size)]


class TransferTest(unittest.TestCase):
    """store_chunks() and read_chunks()."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.pool = concurrent.futures.ThreadPoolExecutor(4)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.pool.shutdown()

    def round_trip(self, data: bytes, chunk_size: int) -> Tuple[MemoryStore, bytes]:
        store = MemoryStore()
        manifest, size, sha = store_chunks(store.store, chunks_of(data, chunk_size), chunk_size, self.pool, 4)
        self.assertEqual((size, sha), (len(data), hashlib.sha256(data).hexdigest()))
        read = b"".join(read_chunks(store.fetch, "f", decode_manifest(manifest), self.pool, 4))
        self.assertEqual(read, data)
        return store, manifest

    def test_store_chunks_round_trips_one_level(self) -> None:
        data = random_bytes(1, 10000)
        _, manifest = self.round_trip(data, 1000)
        self.assertEqual(decode_manifest(manifest).depth, 1)

    def test_store_chunks_builds_index_objects_past_2048_chunks(self) -> None:
        data = random_bytes(2, CHUNK_REFS_MAX * 3 + 5)
        store, manifest = self.round_trip(data, 1)
        decoded = decode_manifest(manifest)
        self.assertEqual(tree_shape(len(data), 1), [len(data), 4])
        self.assertEqual((decoded.depth, len(decoded.refs)), (2, 4))
        # 256 distinct one-byte chunks plus the 4 index objects are stored once each.
        self.assertEqual(len(store.objects), 256 + 4)

    def test_store_chunks_handles_exactly_f_plus_one_chunks(self) -> None:
        data = bytes(range(256)) * 8 + b"x"
        self.assertEqual(len(data), CHUNK_REFS_MAX + 1)
        _, manifest = self.round_trip(data, 1)
        self.assertEqual(decode_manifest(manifest).depth, 2)

    def test_read_chunks_names_a_corrupt_chunk(self) -> None:
        data = random_bytes(3, 1000)
        store = MemoryStore()
        manifest, _, _ = store_chunks(store.store, chunks_of(data, 100), 100, self.pool, 2)
        decoded = decode_manifest(manifest)
        victim = decoded.refs[3].hash
        store.objects[victim] = b"y" * 100
        with self.assertRaises(CloudError) as caught:
            b"".join(read_chunks(store.fetch, "6d0c9e21", decoded, self.pool, 2))
        self.assertEqual(caught.exception.reason, "chunk-corrupt")
        self.assertIn("chunk 3 of 10 (%08x)" % victim, str(caught.exception))
        self.assertIn("6d0c9e21", str(caught.exception))

    def test_read_chunks_names_a_missing_chunk(self) -> None:
        data = random_bytes(4, 1024)
        store = MemoryStore()
        manifest, _, _ = store_chunks(store.store, chunks_of(data, 256), 256, self.pool, 2)
        decoded = decode_manifest(manifest)
        del store.objects[decoded.refs[2].hash]
        with self.assertRaises(CloudError) as caught:
            list(read_chunks(store.fetch, "f", decoded, self.pool, 2))
        self.assertEqual(caught.exception.reason, "chunk-missing")
        self.assertIn("chunk 2 of 4", str(caught.exception))

    def test_read_chunks_checks_the_whole_content(self) -> None:
        data = bytes(range(100))
        store = MemoryStore()
        manifest, _, _ = store_chunks(store.store, chunks_of(data, 10), 10, self.pool, 2)
        decoded = decode_manifest(manifest)
        lying = decoded._replace(sha256=hashlib.sha256(b"other").digest())
        with self.assertRaises(CloudError) as caught:
            list(read_chunks(store.fetch, "f", lying, self.pool, 2))
        self.assertEqual(caught.exception.reason, "corrupt")

    def test_decode_manifest_refuses_malformed_ones(self) -> None:
        data = bytes(range(100))
        store = MemoryStore()
        manifest, _, _ = store_chunks(store.store, chunks_of(data, 10), 10, self.pool, 2)
        for bad in [manifest[:-1], b"xman" + manifest[4:], manifest[:5] + b"\x02" + manifest[6:], b""]:
            with self.assertRaises(ManifestError):
                decode_manifest(bad)
        decoded = decode_manifest(manifest)
        wrong_ref = decoded._replace(refs=decoded.refs[:-1] + (decoded.refs[-1]._replace(size=9),))
        with self.assertRaises(ManifestError):
            encode_manifest(wrong_ref)

    def test_store_chunks_refuses_a_short_chunk_before_the_last(self) -> None:
        store = MemoryStore()
        with self.assertRaises(ValueError):
            store_chunks(store.store, [b"ab", b"c", b"de"], 2, self.pool, 2)

    def test_store_chunks_raises_what_a_store_raises(self) -> None:
        def failing(name: str, data: bytes, expected: int) -> int:
            raise CloudError("unavailable", "no owner")

        with self.assertRaises(CloudError) as caught:
            store_chunks(failing, chunks_of(bytes(1000), 100), 100, self.pool, 3)
        self.assertEqual(caught.exception.reason, "unavailable")


if __name__ == "__main__":
    unittest.main()
