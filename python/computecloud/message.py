"""Fields and replies: names, base64, ``ACK``/``NACK`` (docs/PROTOCOL.md, 2).

Pure: no sockets.
"""

import base64
import binascii
from typing import List, Optional

from .errors import InvalidNameError

#: Longest name, in UTF-8 bytes.
NAME_BYTES_MAX = 1024


def validate_name(name: str, what: str = "name") -> str:
    """Returns ``name`` if it is a valid name: 1 to 1024 UTF-8 bytes, no ``:``, no NUL.

    Raises InvalidNameError (a ValueError) naming ``what`` otherwise.
    """
    if not isinstance(name, str):
        raise InvalidNameError("Cannot use %s: expected a string (got %r)" % (what, type(name)))
    if ":" in name:
        raise InvalidNameError("Cannot use %s: it contains ':' (%r)" % (what, name[:80]))
    if "\0" in name:
        raise InvalidNameError("Cannot use %s: it contains NUL (%r)" % (what, name[:80]))
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidNameError("Cannot use %s: it is not valid Unicode (%r)" % (what, name[:80]))
    if size == 0:
        raise InvalidNameError("Cannot use %s: it is empty" % what)
    if size > NAME_BYTES_MAX:
        raise InvalidNameError(
            "Cannot use %s: it is %d bytes long (max %d)" % (what, size, NAME_BYTES_MAX)
        )
    return name


def b64encode(data: bytes) -> str:
    """Canonical padded base64 of ``data``, as text."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def b64decode(text: str) -> bytes:
    """Decodes base64 strictly (standard alphabet, padded).

    Raises ValueError when ``text`` is not base64.
    """
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("Cannot decode base64: malformed (%r)" % text[:40]) from None


class Reply:
    """A server's reply: ``ok`` with ``fields`` for ACK, ``reason`` and ``detail`` for NACK.

    ``reason`` is ``unspecified`` for a bare ``NACK`` and ``reply`` for a
    payload that is neither (servers never send either).
    """

    __slots__ = ("ok", "fields", "reason", "detail")

    def __init__(
        self, ok: bool, fields: Optional[List[str]] = None, reason: str = "", detail: str = ""
    ) -> None:
        self.ok = ok
        self.fields = fields if fields is not None else []
        self.reason = reason
        self.detail = detail

    def __repr__(self) -> str:
        if self.ok:
            return "Reply(ACK %r)" % (self.fields[:4],)
        return "Reply(NACK %s: %s)" % (self.reason, self.detail[:200])


def parse_reply(payload: bytes) -> Reply:
    """Parses a reply payload (UTF-8 text).

    Raises ValueError when the payload is not UTF-8.
    """
    text = payload.decode("utf-8")
    if text == "ACK":
        return Reply(True, [])
    if text.startswith("ACK:"):
        return Reply(True, text[4:].split(":"))
    if text == "NACK":
        return Reply(False, reason="unspecified")
    if text.startswith("NACK:"):
        rest = text[5:]
        reason, _, detail = rest.partition(":")
        return Reply(False, reason=reason or "unspecified", detail=detail)
    return Reply(False, reason="reply", detail="Not an ACK or NACK: %r" % text[:80])


def encode_request(command: str, *fields: str) -> bytes:
    """The payload ``COMMAND:field:…`` as UTF-8 bytes.

    Raises ValueError when a field contains ``:`` or NUL (a programmer error:
    names are checked with :func:`validate_name` first).
    """
    for field in fields:
        if ":" in field or "\0" in field:
            raise ValueError("Cannot encode request %s: a field contains ':' or NUL" % command)
    return ":".join((command,) + fields).encode("utf-8")
