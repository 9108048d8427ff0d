"""The object hash and the identities that pick salts (docs/PROTOCOL.md, 3).

``hash(name, salt) = fmix32(fnv1a32(utf8(name) + 0x00 + be32(salt)))``; a
file's salt is the first 32 bits of the SHA-256 of its content, a job's the
first 32 bits of its identity. Pure computation.
"""

import hashlib
import re
from typing import Optional, Sequence, Union

_MASK = 0xFFFFFFFF
_HASH_PATTERN = re.compile(r"[0-9a-fA-F]{1,8}\Z")

#: FNV-1a's 32-bit offset basis.
FNV_OFFSET = 0x811C9DC5
#: FNV-1a's 32-bit prime.
FNV_PRIME = 0x01000193


def fnv1a32(data: bytes, seed: int = FNV_OFFSET) -> int:
    """FNV-1a, 32 bits, over ``data``, continuing from ``seed``."""
    h = seed
    for byte in data:
        h = ((h ^ byte) * FNV_PRIME) & _MASK
    return h


def fmix32(value: int) -> int:
    """MurmurHash3's 32-bit finaliser."""
    h = value & _MASK
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK
    h ^= h >> 16
    return h


def object_hash(name: str, salt: int) -> int:
    """The ring position of an object named ``name`` with ``salt``."""
    data = name.encode("utf-8") + b"\0" + (salt & _MASK).to_bytes(4, "big")
    return fmix32(fnv1a32(data))


def format_hash(value: int) -> str:
    """Formats a hash or salt as 8 lower-case hex digits."""
    return "%08x" % (value & _MASK)


def parse_hash(text: str) -> int:
    """Parses a hash or salt of 1 to 8 hex digits (either case).

    Raises ValueError for anything else.
    """
    if not isinstance(text, str) or not _HASH_PATTERN.match(text):
        raise ValueError("Cannot parse hash: expected 1 to 8 hex digits (got %r)" % (text,)[:60])
    return int(text, 16)


def sha256_hex(*parts: Union[bytes, str]) -> str:
    """SHA-256 of the parts, in order (text as UTF-8), as 64 lower-case hex digits."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8") if isinstance(part, str) else part)
    return digest.hexdigest()


def salt_of(digest: str) -> int:
    """The salt a hex digest implies: its first 32 bits."""
    return int(digest[:8], 16)


def file_identity(data: bytes) -> str:
    """Identity of an uploaded file: the SHA-256 of its content (3.3)."""
    return sha256_hex(data)


def file_hash(name: str, data: bytes) -> int:
    """The hash ``ADD`` gives a file on an empty ring: ``hash(name, content salt)``."""
    return object_hash(name, salt_of(file_identity(data)))


def _escape_line(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def job_identity(
    name: str,
    source: bytes,
    output_name: str,
    inputs: Sequence[int],
    salt: Optional[int] = None,
) -> str:
    """Identity of a job (3.4): its names, input hashes, forced salt and source."""
    header = "\n".join(
        [
            "job",
            _escape_line(name),
            _escape_line(output_name),
            ",".join(format_hash(h) for h in inputs),
            "" if salt is None else "fresh=%d" % salt,
            "",
        ]
    )
    return sha256_hex(header, source)


def output_identity(job_id: str) -> str:
    """Identity of a job's output file, from the job's identity (3.5)."""
    return sha256_hex("output\n", job_id)


def chunked_identity(sha256: str, chunk_size: int) -> str:
    """Identity of a chunked file (9.3), from its content's SHA-256 and chunk size."""
    return sha256_hex("chunked\n%d\n%s" % (chunk_size, sha256))
