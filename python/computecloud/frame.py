"""The frame codec: ``LLLLCC`` + payload + NUL (docs/PROTOCOL.md, 1.2).

``LLLL`` is the payload length and ``CC`` the sum of the payload bytes
modulo 256, both in hexadecimal. Senders write lower-case hex; receivers
accept either case. Pure: no sockets.
"""

from typing import List, Union

#: Largest payload one frame carries (four hex digits).
FRAME_PAYLOAD_BYTES_MAX = 0xFFFF
#: Bytes of the ``LLLLCC`` header.
FRAME_HEADER_BYTES = 6

_HEX_VALUES = {}
for _index, _digit in enumerate(b"0123456789abcdef"):
    _HEX_VALUES[_digit] = _index
for _index, _digit in enumerate(b"ABCDEF"):
    _HEX_VALUES[_digit] = _index + 10


class FrameError(ValueError):
    """A byte stream that cannot be decoded further: the connection must close.

    ``code`` is ``"header"`` (the header is not hexadecimal) or
    ``"terminator"`` (the byte after the payload is not NUL).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class BadChecksum:
    """A well-formed frame whose checksum does not match its payload."""

    __slots__ = ("expected", "actual")

    def __init__(self, expected: int, actual: int) -> None:
        self.expected = expected
        self.actual = actual

    def __repr__(self) -> str:
        return "BadChecksum(expected=%02x, actual=%02x)" % (self.expected, self.actual)


def checksum(payload: Union[bytes, bytearray, memoryview]) -> int:
    """Returns the sum of the payload's bytes modulo 256."""
    return sum(payload) & 0xFF


def encode_frame(payload: Union[bytes, bytearray, memoryview, str]) -> bytes:
    """Encodes one frame around ``payload`` (bytes, or text as UTF-8).

    Raises ValueError when the payload is longer than 65535 bytes.
    """
    body = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
    if len(body) > FRAME_PAYLOAD_BYTES_MAX:
        raise ValueError(
            "Cannot encode frame: payload too large (max %d, got %d)"
            % (FRAME_PAYLOAD_BYTES_MAX, len(body))
        )
    return b"%04x%02x" % (len(body), sum(body) & 0xFF) + body + b"\0"


def _read_hex(data: Union[bytes, bytearray], start: int, digits: int) -> int:
    value = 0
    for i in range(start, start + digits):
        digit = _HEX_VALUES.get(data[i])
        if digit is None:
            return -1
        value = value * 16 + digit
    return value


def _printable(data: Union[bytes, bytearray]) -> str:
    return "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in data)


class FrameDecoder:
    """An incremental decoder: ``push`` bytes as they arrive (any split,
    several frames at once) and take decoded items out with ``next``.

    ``next`` returns the payload of a good frame as ``bytes``, a
    :class:`BadChecksum` for a frame whose checksum does not match (the
    stream stays in step), or ``None`` when more bytes are needed.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._start = 0

    def push(self, chunk: Union[bytes, bytearray, memoryview]) -> None:
        """Appends received bytes."""
        if self._start > 0 and self._start >= len(self._buffer) // 2:
            del self._buffer[: self._start]
            self._start = 0
        self._buffer += chunk

    @property
    def pending_bytes(self) -> int:
        """Bytes received but not yet decoded."""
        return len(self._buffer) - self._start

    def next(self) -> Union[bytes, BadChecksum, None]:
        """Returns the next decoded item, or None when more bytes are needed.

        Raises FrameError when the stream is broken (non-hex header, missing
        NUL terminator); nothing after it can be trusted.
        """
        buffer = self._buffer
        start = self._start
        available = len(buffer) - start
        if available < FRAME_HEADER_BYTES:
            return None
        length = _read_hex(buffer, start, 4)
        expected = _read_hex(buffer, start + 4, 2)
        if length < 0 or expected < 0:
            header = bytes(buffer[start : start + FRAME_HEADER_BYTES])
            raise FrameError(
                "header",
                'Cannot decode frame: header is not hexadecimal (got "%s")' % _printable(header),
            )
        total = FRAME_HEADER_BYTES + length + 1
        if available < total:
            return None
        terminator = buffer[start + total - 1]
        if terminator != 0:
            raise FrameError(
                "terminator",
                "Cannot decode frame: missing NUL terminator after %d bytes (got byte %d)"
                % (length, terminator),
            )
        payload = bytes(buffer[start + FRAME_HEADER_BYTES : start + FRAME_HEADER_BYTES + length])
        self._start = start + total
        if self._start == len(buffer):
            buffer.clear()
            self._start = 0
        actual = sum(payload) & 0xFF
        if actual != expected:
            return BadChecksum(expected, actual)
        return payload

    def drain(self) -> List[Union[bytes, BadChecksum]]:
        """Returns every item that can be decoded now (see :meth:`next`)."""
        items = []  # type: List[Union[bytes, BadChecksum]]
        while True:
            item = self.next()
            if item is None:
                return items
            items.append(item)


def decode_frames(data: bytes) -> List[Union[bytes, BadChecksum]]:
    """Decodes a whole byte string of frames; raises ValueError if bytes are left over."""
    decoder = FrameDecoder()
    decoder.push(data)
    items = decoder.drain()
    if decoder.pending_bytes:
        raise ValueError("Cannot decode frames: %d bytes left over" % decoder.pending_bytes)
    return items

