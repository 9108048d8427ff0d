"""The wire format against the test vectors of docs/PROTOCOL.md (sections 3, 4, 7, 8 and 9.11)."""

import base64
import hashlib
import json
import unittest

import support  # noqa: F401  (puts the package on sys.path)

from computecloud.frame import BadChecksum, FrameDecoder, FrameError, decode_frames, encode_frame
from computecloud.hashing import (
    chunked_identity,
    file_hash,
    file_identity,
    fmix32,
    fnv1a32,
    format_hash,
    job_identity,
    object_hash,
    output_identity,
    parse_hash,
    salt_of,
)
from computecloud.manifest import (
    ChunkRef,
    Manifest,
    decode_index,
    decode_manifest,
    encode_index,
    encode_manifest,
    ref_of,
    tree_shape,
)
from computecloud.message import b64decode, b64encode, parse_reply, validate_name
from computecloud.ring import Ring, parse_servers

# 7.1: payload, frame as hex.
FRAMES = [
    ("STOP", "30303034343653544f5000"),
    ("GETS", "3030303433334745545300"),
    ("ACK", "30303033636641434b00"),
    ("ADD:name1:Y29udGVudHM=", "3030313666344144443a6e616d65313a593239756447567564484d3d00"),
    ("NACK:none:No jobs left", "3030313639374e41434b3a6e6f6e653a4e6f206a6f6273206c65667400"),
    ("ACK:8a0b3d3c", "30303063363141434b3a386130623364336300"),
    ("", "30303030303000"),
    ("ADD:naïve:w6k=", "3030306661654144443a6e61c3af76653a77366b3d00"),
]

# 7.3: name, salt, bytes, fnv(name), fnv, hash.
HASHES = [
    ("", 0x00000000, "0000000000", "811c9dc5", "1210d00f", "c8fced69"),
    ("a", 0x00000000, "610000000000", "e40c292c", "f8629084", "407891f0"),
    ("name1", 0x00000000, "6e616d65310000000000", "28e5d975", "bfb7171f", "45b121a9"),
    ("name1", 0x00000001, "6e616d65310000000001", "28e5d975", "beb7158c", "3c857008"),
    ("name1", 0xFFFFFFFF, "6e616d653100ffffffff", "28e5d975", "7c61cbbb", "a5489fe8"),
    ("name2", 0x00000000, "6e616d65320000000000", "25e5d4bc", "cab52f34", "80d72889"),
    ("jobname", 0x00000000, "6a6f626e616d650000000000", "f74272d7", "79b81ac5", "bc0b96a5"),
    ("outputname", 0x00000000, "6f75747075746e616d650000000000", "9e40913f", "6d901bfd", "09b799a0"),
    ("größe", 0x00000000, "6772c3b6c39f650000000000", "cd38f49a", "caaf074e", "d115ee26"),
    ("日本語", 0x00000007, "e697a5e69cace8aa9e0000000007", "805f5ce7", "f918c9f0", "16ff340b"),
    ("🙂", 0x80000000, "f09f99820080000000", "57a37a4b", "777d7ca1", "b1fa6472"),
    ("localhost:11111", 0x00000000, "6c6f63616c686f73743a31313131310000000000", "1850c837", "92f0c2e5", "61891912"),
    ("localhost:11111", 0x00000001, "6c6f63616c686f73743a31313131310000000001", "1850c837", "91f0c152", "5bd57e47"),
    ("localhost:11111", 0x0000001F, "6c6f63616c686f73743a3131313131000000001f", "1850c837", "a3f0dda8", "cd7293bf"),
]

# 7.4: content, base64, SHA-256, salt, hash("name1"), hash("name2").
CONTENTS = [
    (b"contents", "Y29udGVudHM=", "d1b2a59fbea7e20077af9f91b27e95e865061b270be03ff539ab3b73587882e8", "d1b2a59f", "fa20045a", "853899ee"),
    (b"", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "e3b0c442", "55788e30", "88382b7b"),
    (b"second file\n", "c2Vjb25kIGZpbGUK", "f957b19529906961933c5c30f8713c500a9bb5d9d0695c40d48c97a26a3594ec", "f957b195", "11c95299", "f0f40735"),
]

SCENARIO_SOURCE = b'for path in ["/net/name1", "/net/name2"]:\n    print(open(path).read())\n'

# Section 8: every frame of the worked session, as the doc prints it (escaped `\0` at the end).
SESSION = [
    "000433GETS",
    "0035a8ACK:localhost:11111:00000000:localhost:11111:00000001",
    "0016f4ADD:name1:Y29udGVudHM=",
    "000c2cACK:fa20045a",
    "001a3cADD:name2:c2Vjb25kIGZpbGUK",
    "000c08ACK:f0f40735",
    "008a63JADD:jobname:Zm9yIHBhdGggaW4gWyIvbmV0L25hbWUxIiwgIi9uZXQvbmFtZTIiXToKICAgIHByaW50KG9wZW4ocGF0aCkucmVhZCgpKQo=:outputname:fa20045a:f0f40735",
    "0015bcACK:8e3895b4:ee986f3c",
    "000c87GET:ee986f3c",
    "003126NACK:incomplete:File ee986f3c is not complete yet",
    "00042aGETJ",
    "008bdcACK:Zm9yIHBhdGggaW4gWyIvbmV0L25hbWUxIiwgIi9uZXQvbmFtZTIiXToKICAgIHByaW50KG9wZW4ocGF0aCkucmVhZCgpKQo=:8e3895b4:fa20045a:name1:f0f40735:name2",
    "000c3dGET:fa20045a",
    "0010eeACK:Y29udGVudHM=",
    "000c19GET:f0f40735",
    "001435ACK:c2Vjb25kIGZpbGUK",
    "003050UPD:8e3895b4:Y29udGVudHMKc2Vjb25kIGZpbGUKCg==::0",
    "0003cfACK",
    "001697NACK:none:No jobs left",
    "000446STOP",
    "001309WAIT:ee986f3c:30000",
    "000c62ACK:complete",
    "00244cACK:Y29udGVudHMKc2Vjb25kIGZpbGUKCg==",
    "000c26GET:8e3895b4",
    "000409ACK:",
]


class FrameVectorsTest(unittest.TestCase):
    """7.1 and the frames of section 8."""

    def test_encode_frame_matches_every_vector(self) -> None:
        for payload, frame_hex in FRAMES:
            with self.subTest(payload=payload):
                self.assertEqual(encode_frame(payload).hex(), frame_hex)
                self.assertEqual(encode_frame(payload.encode("utf-8")).hex(), frame_hex)

    def test_decode_frames_reads_every_vector_back(self) -> None:
        stream = b"".join(bytes.fromhex(frame_hex) for _, frame_hex in FRAMES)
        self.assertEqual(decode_frames(stream), [payload.encode("utf-8") for payload, _ in FRAMES])

    def test_length_and_checksum_count_utf8_bytes(self) -> None:
        frame = encode_frame("ADD:naïve:w6k=")
        self.assertEqual(frame[:6], b"000fae")
        self.assertEqual(len("ADD:naïve:w6k="), 14)

    def test_decoder_accepts_an_upper_case_header(self) -> None:
        upper = bytes.fromhex("3030313646344144443a6e616d65313a593239756447567564484d3d00")
        self.assertEqual(upper, b"0016F4ADD:name1:Y29udGVudHM=\0")
        self.assertEqual(decode_frames(upper), [b"ADD:name1:Y29udGVudHM="])

    def test_decoder_reports_a_bad_checksum_and_stays_in_step(self) -> None:
        decoder = FrameDecoder()
        decoder.push(bytes.fromhex("3030303433344745545300") + b"000433GETS\0")
        bad = decoder.next()
        self.assertIsInstance(bad, BadChecksum)
        assert isinstance(bad, BadChecksum)
        self.assertEqual((bad.expected, bad.actual), (0x34, 0x33))
        self.assertEqual(decoder.next(), b"GETS")
        self.assertIsNone(decoder.next())

    def test_decoder_rejects_a_broken_header_with_the_spec_message(self) -> None:
        decoder = FrameDecoder()
        decoder.push(b"00zz00")
        with self.assertRaises(FrameError) as caught:
            decoder.next()
        self.assertEqual(caught.exception.code, "header")
        self.assertEqual(str(caught.exception), 'Cannot decode frame: header is not hexadecimal (got "00zz00")')
        frame = encode_frame("NACK:frame:" + str(caught.exception))
        self.assertEqual(frame[:6], b"004846")

    def test_bad_checksum_reply_of_the_spec_has_its_header(self) -> None:
        reply = "NACK:checksum:Checksum mismatch (header says 34, payload sums to 33)"
        self.assertEqual(encode_frame(reply)[:6], b"004475")

    def test_decoder_rejects_a_missing_terminator(self) -> None:
        decoder = FrameDecoder()
        decoder.push(b"000433GETSX")
        with self.assertRaises(FrameError) as caught:
            decoder.next()
        self.assertEqual(caught.exception.code, "terminator")

    def test_encode_frame_refuses_a_payload_over_65535_bytes(self) -> None:
        self.assertEqual(len(encode_frame(b"x" * 65535)), 65535 + 7)
        with self.assertRaises(ValueError):
            encode_frame(b"x" * 65536)

    def test_every_frame_of_the_worked_session_has_its_header(self) -> None:
        for frame in SESSION:
            with self.subTest(frame=frame[:40]):
                self.assertEqual(encode_frame(frame[6:]).decode("utf-8")[:-1], frame)


class HashVectorsTest(unittest.TestCase):
    """7.2, 7.3 and 3.2."""

    def test_fnv1a32_matches_the_vectors(self) -> None:
        self.assertEqual(fnv1a32(b""), 0x811C9DC5)
        self.assertEqual(fnv1a32(b"a"), 0xE40C292C)
        self.assertEqual(fnv1a32(b"foobar"), 0xBF9CF968)

    def test_fmix32_matches_the_vectors(self) -> None:
        for value, expected in [
            (0x00000000, 0x00000000),
            (0x00000001, 0x514E28B7),
            (0x811C9DC5, 0xAB3E7C0B),
            (0xDEADBEEF, 0x0DE5C6A9),
            (0xFFFFFFFF, 0x81F16F39),
        ]:
            self.assertEqual(fmix32(value), expected, format_hash(value))

    def test_object_hash_matches_every_row(self) -> None:
        for name, salt, data_hex, fnv_name, fnv_all, hash_hex in HASHES:
            with self.subTest(name=name, salt=salt):
                data = name.encode("utf-8") + b"\0" + salt.to_bytes(4, "big")
                self.assertEqual(data.hex(), data_hex)
                self.assertEqual(format_hash(fnv1a32(name.encode("utf-8"))), fnv_name)
                self.assertEqual(format_hash(fnv1a32(data)), fnv_all)
                self.assertEqual(format_hash(fnv1a32(b"\0" + salt.to_bytes(4, "big"), fnv1a32(name.encode("utf-8")))), fnv_all)
                self.assertEqual(format_hash(object_hash(name, salt)), hash_hex)

    def test_parse_hash_accepts_1_to_8_digits_of_either_case(self) -> None:
        self.assertEqual(parse_hash("2a"), 42)
        self.assertEqual(parse_hash("2A"), 42)
        self.assertEqual(parse_hash("0000002a"), 42)
        self.assertEqual(format_hash(42), "0000002a")
        for bad in ["", "123456789", "xyz", "-1", " 2a", "2a\n"]:
            with self.assertRaises(ValueError):
                parse_hash(bad)

    def test_ring_picks_the_primary_at_or_after_a_hash(self) -> None:
        records = parse_servers("localhost:11111:00000000:localhost:11111:00000001".split(":"))
        self.assertEqual(records, [("localhost", 11111, 0), ("localhost", 11111, 1)])
        two = Ring([("a", 1, s) for s in range(4)] + [("b", 2, s) for s in range(4)])
        positions = sorted((object_hash(server, s), server) for server in ("a:1", "b:2") for s in range(4))
        for position, server in positions:
            self.assertEqual(two.primary(position), server)
            self.assertEqual(two.primary((position - 1) & 0xFFFFFFFF), server)
        self.assertEqual(two.primary((positions[-1][0] + 1) & 0xFFFFFFFF), positions[0][1])
        self.assertEqual(sorted(two.owners(0, 2)), ["a:1", "b:2"])


class IdentityVectorsTest(unittest.TestCase):
    """3.3, 3.4, 3.5, 4.5, 7.4 and 7.5."""

    def test_content_salts_and_file_hashes_match_7_4(self) -> None:
        for content, encoded, sha, salt, name1, name2 in CONTENTS:
            with self.subTest(content=content):
                self.assertEqual(b64encode(content), encoded)
                self.assertEqual(b64decode(encoded), content)
                self.assertEqual(file_identity(content), sha)
                self.assertEqual(format_hash(salt_of(sha)), salt)
                self.assertEqual(format_hash(file_hash("name1", content)), name1)
                self.assertEqual(format_hash(file_hash("name2", content)), name2)
        self.assertEqual(format_hash(object_hash("name1", 0)), "45b121a9")

    def test_job_identity_and_hashes_match_7_5(self) -> None:
        self.assertEqual(len(SCENARIO_SOURCE), 71)
        inputs = [0xFA20045A, 0xF0F40735]
        request = "JADD:jobname:%s:outputname:fa20045a:f0f40735" % b64encode(SCENARIO_SOURCE)
        self.assertEqual(request, SESSION[6][6:])
        identity_bytes = b"job\njobname\noutputname\nfa20045a,f0f40735\n\n" + SCENARIO_SOURCE
        self.assertEqual(
            identity_bytes.hex(),
            "6a6f620a6a6f626e616d650a6f75747075746e616d650a66613230303435612c66306634303733350a0a"
            "666f72207061746820696e205b222f6e65742f6e616d6531222c20222f6e65742f6e616d6532225d3a0a"
            "202020207072696e74286f70656e2870617468292e726561642829290a",
        )
        job_id = job_identity("jobname", SCENARIO_SOURCE, "outputname", inputs)
        self.assertEqual(job_id, hashlib.sha256(identity_bytes).hexdigest())
        self.assertEqual(job_id, "ac2579049d3ca05302c4c30202f0a7f4a956dd7bc1039618c922e46c12ca79b5")
        self.assertEqual(format_hash(object_hash("jobname", salt_of(job_id))), "8e3895b4")
        out_id = output_identity(job_id)
        self.assertEqual(out_id, "ef1ac719349e3777828b5c672db026eeb3fbf269a20570e5c77063b00f406e55")
        self.assertEqual(format_hash(object_hash("outputname", salt_of(out_id))), "ee986f3c")

    def test_job_with_a_forced_salt_matches_7_5(self) -> None:
        job_id = job_identity("jobname", SCENARIO_SOURCE, "outputname", [0xFA20045A, 0xF0F40735], salt=0x2A)
        self.assertEqual(job_id, "dda5d681736397c271bf73c71cb4625b59ee178ad1fb69642e46a8541661f0c2")
        self.assertEqual(format_hash(object_hash("jobname", 0x2A)), "593023c4")
        out_id = output_identity(job_id)
        self.assertEqual(out_id, "3892170f39d1b511d0ed14a7203278120005bfb987cf3699b45e2c4ec14e5232")
        self.assertEqual(format_hash(salt_of(out_id)), "3892170f")
        self.assertEqual(format_hash(object_hash("outputname", salt_of(out_id))), "4600bc9a")

    def test_job_names_are_escaped_as_in_7_5(self) -> None:
        job_id = job_identity("line\nbreak", b"print(1)\n", "back\\slash", [0x2A])
        expected_bytes = b"job\nline\\nbreak\nback\\\\slash\n0000002a\n\nprint(1)\n"
        self.assertEqual(job_id, hashlib.sha256(expected_bytes).hexdigest())
        self.assertEqual(job_id, "eb9d29f0f643b28293f849b48279d5d9974b1186ccda5d7a0049d96948c232bd")
        self.assertEqual(format_hash(object_hash("line\nbreak", salt_of(job_id))), "7d5b11ae")
        out_id = output_identity(job_id)
        self.assertEqual(out_id, "b3c42734d3400950c9b44b7bcec51ff90b18659548d1c55cf25ef1f2665e978b")
        self.assertEqual(format_hash(object_hash("back\\slash", salt_of(out_id))), "de9ac3f8")

    def test_failing_jobs_of_section_8_and_4_5_have_their_hashes(self) -> None:
        j = job_identity("j", b64decode("cHJpbnQoMSk="), "o", [])
        self.assertEqual(format_hash(object_hash("j", salt_of(j))), "eab8292d")
        self.assertEqual(format_hash(object_hash("o", salt_of(output_identity(j)))), "390e886a")
        k = job_identity("k", b64decode("cHJpbnQoMik="), "p", [0x390E886A])
        self.assertEqual(format_hash(object_hash("k", salt_of(k))), "92599f94")
        self.assertEqual(format_hash(object_hash("p", salt_of(output_identity(k)))), "65363b49")


class RepliesTest(unittest.TestCase):
    """2.1, 4.4, 4.6, 4.7, 7.6, 7.7 and the replies of section 8."""

    def test_parse_reply_reads_ack_and_nack(self) -> None:
        self.assertEqual(parse_reply(b"ACK").fields, [])
        self.assertEqual(parse_reply(b"ACK:").fields, [""])
        self.assertEqual(parse_reply(b"ACK:8e3895b4:ee986f3c").fields, ["8e3895b4", "ee986f3c"])
        nack = parse_reply(b"NACK:failed:job j (eab8292d) failed (exception): boom: detail")
        self.assertEqual((nack.ok, nack.reason), (False, "failed"))
        self.assertEqual(nack.detail, "job j (eab8292d) failed (exception): boom: detail")
        self.assertEqual(parse_reply(b"NACK").reason, "unspecified")
        self.assertEqual(parse_reply(b"HELLO").reason, "reply")

    def test_the_session_results_decode(self) -> None:
        self.assertEqual(b64decode("Y29udGVudHMKc2Vjb25kIGZpbGUKCg=="), b"contents\nsecond file\n\n")
        self.assertEqual(b64decode("Ym9vbTogZGV0YWls"), b"boom: detail")
        self.assertEqual(b64decode("ZXJy"), b"err")

    def test_stat_summary_of_section_8_decodes(self) -> None:
        summary = {
            "name": "jobname",
            "output": "ee986f3c",
            "outputName": "outputname",
            "inputs": [{"hash": "fa20045a", "name": "name1"}, {"hash": "f0f40735", "name": "name2"}],
            "attempt": 1,
            "lost": 0,
            "exitCode": 0,
            "reason": None,
            "detail": "",
            "createdMs": 1795551656810,
        }
        text = json.dumps(summary, separators=(",", ":"))
        self.assertEqual(json.loads(b64decode(b64encode(text.encode())).decode()), summary)

    def test_pull_reply_of_7_7_is_name1_with_its_metadata(self) -> None:
        reply = parse_reply(
            b"ACK:name1:d1b2a59f:1:eyJraW5kIjoiZmlsZSIsImlkIjoiZDFiMmE1OWZiZWE3ZTIwMDc3YWY5ZjkxYjI3ZTk1ZTg2NTA2MWIy"
            b"NzBiZTAzZmY1MzlhYjNiNzM1ODc4ODJlOCIsInN0YXRlIjoiY29tcGxldGUiLCJzaXplIjo4fQ==:Y29udGVudHM="
        )
        name, salt, complete, metadata, data = reply.fields
        self.assertEqual(format_hash(object_hash(name, parse_hash(salt))), "fa20045a")
        self.assertEqual(complete, "1")
        self.assertEqual(b64decode(data), b"contents")
        expected = {"kind": "file", "id": file_identity(b"contents"), "state": "complete", "size": 8}
        self.assertEqual(b64decode(metadata).decode(), json.dumps(expected, separators=(",", ":")))

    def test_versions_of_7_6_follow_the_formula_of_4_7(self) -> None:
        t, s = 2**40, 2**20

        def terminal(base: int, attempt: int, key: int = 0) -> int:
            return base * t + min(key, s - 1) * s + (s - 1 - min(attempt, s - 1))

        self.assertEqual(terminal(2, 0), 2199024304127)
        self.assertEqual(terminal(2, 1), 2199024304126)
        self.assertEqual(terminal(1, 1), 1099512676350)
        self.assertEqual([terminal(1, a) for a in (0, 1, 2)], [1099512676351, 1099512676350, 1099512676349])
        self.assertEqual([terminal(2, a) for a in (0, 1, 2)], [2199024304127, 2199024304126, 2199024304125])
        self.assertEqual([4 * 1 + step for step in range(4)], [4, 5, 6, 7])

    def test_stderr_cut_of_4_4_keeps_8190_of_10000_bytes(self) -> None:
        def marker(count: int) -> bytes:
            return ("\n… %d bytes of stderr cut …\n" % count).encode("utf-8")

        total = 10000
        h = (8192 - len(marker(total))) // 2
        cut = total - 2 * h
        self.assertEqual((h, cut), (4078, 1844))
        self.assertEqual(2 * h + len(marker(cut)), 8190)

    def test_validate_name_refuses_colon_nul_empty_and_long_names(self) -> None:
        self.assertEqual(validate_name("naïve"), "naïve")
        self.assertEqual(validate_name("x" * 1024), "x" * 1024)
        for bad in ["a:b", "a\0b", "", "é" * 513, ":"]:
            with self.subTest(bad=bad[:10]):
                with self.assertRaises(ValueError):
                    validate_name(bad)

    def test_b64decode_is_strict(self) -> None:
        for bad in ["YQ", "Y Q==", "YQ==YQ==", "*A==", "YQ==="]:
            with self.subTest(bad=bad):
                with self.assertRaises(ValueError):
                    b64decode(bad)


class ChunkedVectorsTest(unittest.TestCase):
    """9.11: the 100-byte file in chunks of 40."""

    MANIFEST_B64 = (
        "Y21hbgEBAAMAAAAoAAAAAAAAAGQoFll4iOSg06NrgrgzFqsyaA648A+M07kE1oEkbShaDt162eLjPN+cf3EguQAAACjdetni4zzfnH9xILkAAAAoJ6JeQEJJLaBiNK0KAAAAFA=="
    )

    def test_chunks_hash_as_the_table_says(self) -> None:
        content = b"a" * 100
        self.assertEqual(hashlib.sha256(content).hexdigest(), "2816597888e4a0d3a36b82b83316ab32680eb8f00f8cd3b904d681246d285a0e")
        chunks = [content[0:40], content[40:80], content[80:100]]
        self.assertEqual(hashlib.sha256(chunks[0]).hexdigest(), "e33cdf9c7f7120b98e8c78408953e07f2ecd183006b5606df349b4c212acf43e")
        self.assertEqual(hashlib.sha256(chunks[2]).hexdigest(), "42492da06234ad0ac76f5d5debdb6d1ae027cffbe746a1c13b89bb8bc0139137")
        hashes = [format_hash(file_hash("chunk", chunk)) for chunk in chunks]
        self.assertEqual(hashes, ["dd7ad9e2", "dd7ad9e2", "27a25e40"])

    def test_manifest_encodes_to_the_vector(self) -> None:
        content = b"a" * 100
        chunks = [content[0:40], content[40:80], content[80:100]]
        refs = tuple(ref_of(file_hash("chunk", chunk), chunk) for chunk in chunks)
        self.assertEqual(tree_shape(100, 40), [3])
        manifest = Manifest(1, 40, 100, hashlib.sha256(content).digest(), refs)
        encoded = encode_manifest(manifest)
        self.assertEqual(
            encoded.hex(),
            "636d616e" "01" "01" "0003" "00000028" "0000000000000064"
            "2816597888e4a0d3a36b82b83316ab32680eb8f00f8cd3b904d681246d285a0e"
            "dd7ad9e2" "e33cdf9c7f7120b9" "00000028"
            "dd7ad9e2" "e33cdf9c7f7120b9" "00000028"
            "27a25e40" "42492da06234ad0a" "00000014",
        )
        self.assertEqual(b64encode(encoded), self.MANIFEST_B64)
        self.assertEqual(decode_manifest(base64.b64decode(self.MANIFEST_B64)), manifest)

    def test_file_identity_and_madd_hash_match(self) -> None:
        identity = chunked_identity("2816597888e4a0d3a36b82b83316ab32680eb8f00f8cd3b904d681246d285a0e", 40)
        self.assertEqual(identity, "ddce8c202236770bb785e3f49c1546b733f20c48b98b5a8694fe1d286ef564d1")
        self.assertEqual(format_hash(salt_of(identity)), "ddce8c20")
        self.assertEqual(format_hash(object_hash("big", salt_of(identity))), "93304150")

    def test_index_object_of_two_refs_matches(self) -> None:
        ref = ChunkRef(0xDD7AD9E2, bytes.fromhex("e33cdf9c7f7120b9"), 40)
        encoded = encode_index(1, [ref, ref])
        self.assertEqual(encoded.hex(), "6369647801010002" + "dd7ad9e2e33cdf9c7f7120b900000028" * 2)
        self.assertEqual(decode_index(encoded, 1), (ref, ref))

    def test_requests_carrying_the_manifest_are_as_printed(self) -> None:
        self.assertEqual(parse_reply(b"ACK:" + self.MANIFEST_B64.encode()).fields, [self.MANIFEST_B64])
        upd = "UPD:1234abcd:::0:::" + self.MANIFEST_B64
        command, job, stdout, stderr, exit_status, reason, detail, manifest = upd.split(":")
        self.assertEqual((command, job, stdout, stderr, exit_status, reason, detail), ("UPD", "1234abcd", "", "", "0", "", ""))
        self.assertEqual(manifest, self.MANIFEST_B64)


if __name__ == "__main__":
    unittest.main()
