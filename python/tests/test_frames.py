"""Property tests of the frame codec and reply parser: seeded random loops.

Set ``$CLOUD_PROPERTY_SEED`` to replay a run; every failure names its seed.
"""

import os
import random
import unittest

import support  # noqa: F401  (puts the package on sys.path)

from computecloud.frame import BadChecksum, FrameDecoder, FrameError, encode_frame
from computecloud.message import Reply, parse_reply

SEED = int(os.environ.get("CLOUD_PROPERTY_SEED") or random.SystemRandom().randrange(2**32))
RUNS = 300


def random_payload(rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.05:
        return b""
    if kind < 0.1:
        return bytes(rng.getrandbits(8) for _ in range(rng.choice([65535, 65534, 40000])))
    if kind < 0.5:
        return "".join(rng.choice("ACKNOADD:abc0123éß日🙂") for _ in range(rng.randrange(200))).encode("utf-8")
    return bytes(rng.getrandbits(8) for _ in range(rng.randrange(3000)))


def split(rng: random.Random, data: bytes):
    """Cuts ``data`` into pieces of random sizes (some empty)."""
    position = 0
    while position < len(data):
        size = rng.choice([0, 1, 2, 7, rng.randrange(1, 5000), rng.randrange(1, 70000)])
        yield data[position : position + size]
        position += size


class FramePropertyTest(unittest.TestCase):
    """encode_frame / FrameDecoder round trips, and no input crashes the decoder."""

    def setUp(self) -> None:
        self.rng = random.Random(SEED)

    def msg(self, run: int) -> str:
        return "seed %d, run %d (CLOUD_PROPERTY_SEED=%d replays it)" % (SEED, run, SEED)

    def test_decoder_returns_every_payload_however_the_stream_is_split(self) -> None:
        for run in range(RUNS):
            payloads = [random_payload(self.rng) for _ in range(self.rng.randrange(1, 6))]
            stream = b"".join(encode_frame(payload) for payload in payloads)
            decoder = FrameDecoder()
            decoded = []
            for piece in split(self.rng, stream):
                decoder.push(piece)
                decoded.extend(decoder.drain())
            self.assertEqual(decoded, payloads, self.msg(run))
            self.assertEqual(decoder.pending_bytes, 0, self.msg(run))

    def test_encoded_frames_have_the_spec_layout(self) -> None:
        for run in range(RUNS):
            payload = random_payload(self.rng)
            frame = encode_frame(payload)
            header = frame[:6].decode("ascii")
            self.assertEqual(header, header.lower(), self.msg(run))
            self.assertEqual(int(header[:4], 16), len(payload), self.msg(run))
            self.assertEqual(int(header[4:], 16), sum(payload) % 256, self.msg(run))
            self.assertEqual(frame[6:-1], payload, self.msg(run))
            self.assertEqual(frame[-1:], b"\0", self.msg(run))

    def test_a_changed_payload_byte_is_a_bad_checksum_or_another_frame(self) -> None:
        for run in range(RUNS):
            payload = random_payload(self.rng) or b"x"
            frame = bytearray(encode_frame(payload))
            index = 6 + self.rng.randrange(len(payload))
            frame[index] = (frame[index] + self.rng.randrange(1, 256)) % 256
            decoder = FrameDecoder()
            decoder.push(bytes(frame))
            item = decoder.next()
            self.assertIsInstance(item, BadChecksum, self.msg(run))

    def test_random_bytes_never_crash_the_decoder(self) -> None:
        for run in range(RUNS):
            decoder = FrameDecoder()
            garbage = bytes(self.rng.getrandbits(8) for _ in range(self.rng.randrange(1, 400)))
            if self.rng.random() < 0.5:
                # Mostly hex digits, so that headers often parse.
                garbage = bytes(self.rng.choice(b"0123456789abcdefABCDEF\0x") for _ in range(len(garbage)))
            try:
                for piece in split(self.rng, garbage):
                    decoder.push(piece)
                    for item in decoder.drain():
                        self.assertIsInstance(item, (bytes, BadChecksum), self.msg(run))
            except FrameError as error:
                self.assertIn(error.code, ("header", "terminator"), self.msg(run))

    def test_parse_reply_never_crashes_on_utf8_text(self) -> None:
        for run in range(RUNS):
            text = "".join(self.rng.choice(["ACK", "NACK", ":", "x", "é", "", "busy"]) for _ in range(self.rng.randrange(8)))
            reply = parse_reply(text.encode("utf-8"))
            self.assertIsInstance(reply, Reply, self.msg(run))
            if reply.ok:
                self.assertEqual(":".join(["ACK"] + reply.fields) if reply.fields else "ACK", text, self.msg(run))
            else:
                self.assertTrue(reply.reason, self.msg(run))


if __name__ == "__main__":
    unittest.main()
