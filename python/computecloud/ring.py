"""The ring as ``GETS`` describes it: which server owns a hash (docs/PROTOCOL.md, 3.2).

Positions are ``hash("host:port", salt)``, sorted by hash, ties by server
id; the primary of ``h`` is the server of the first position at or after
``h`` (wrapping), its replicas the next distinct servers. Pure.
"""

import bisect
from typing import List, Sequence, Tuple

from .hashing import object_hash, parse_hash


def parse_servers(fields: Sequence[str]) -> List[Tuple[str, int, int]]:
    """Parses ``GETS`` reply fields into ``(host, port, salt)`` records.

    Raises ValueError when they are not triples of host, port and salt.
    """
    if len(fields) % 3 != 0:
        raise ValueError("Cannot parse server table: %d fields is not a multiple of 3" % len(fields))
    records = []
    for i in range(0, len(fields), 3):
        host, port_text, salt_text = fields[i], fields[i + 1], fields[i + 2]
        if not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError("Cannot parse server table: bad record %r" % (fields[i : i + 3],))
        records.append((host, int(port_text), parse_hash(salt_text)))
    return records


class Ring:
    """Ring positions of the servers of one ``GETS`` reply."""

    def __init__(self, records: Sequence[Tuple[str, int, int]]) -> None:
        positions = sorted((object_hash("%s:%d" % (host, port), salt), "%s:%d" % (host, port)) for host, port, salt in records)
        self._hashes = [position for position, _ in positions]
        self._ids = [server for _, server in positions]
        members = []  # type: List[str]
        for server in sorted(set(self._ids)):
            members.append(server)
        self.members = members
        """The servers' ids (``host:port``), in string order."""

    def owners(self, hash_value: int, count: int) -> List[str]:
        """The first ``count`` distinct servers at or after ``hash_value``: primary first."""
        if not self._ids:
            return []
        found = []  # type: List[str]
        start = bisect.bisect_left(self._hashes, hash_value)
        for step in range(len(self._ids)):
            server = self._ids[(start + step) % len(self._ids)]
            if server not in found:
                found.append(server)
                if len(found) >= count:
                    break
        return found

    def primary(self, hash_value: int) -> str:
        """The server that owns ``hash_value``."""
        owners = self.owners(hash_value, 1)
        if not owners:
            raise ValueError("Cannot find an owner: the ring is empty")
        return owners[0]
