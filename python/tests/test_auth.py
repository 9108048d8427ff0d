"""The client side of the HELO/AUTH handshake (docs/PROTOCOL.md 1.6), against
a fake server in a thread (test_auth_server.py has the real server)."""

import hashlib
import hmac
import os
import secrets
import tempfile
import unittest

import support

from computecloud import AuthError, ComputeCloud, Credential, ProtocolError, RingUnreachableError
from computecloud.auth import credential_from_env, parse_token, read_token_file
from computecloud.hashing import file_hash, format_hash
from computecloud.message import b64decode

SECRETS = {"client": "s3cret", "runner": "r-secret"}


def auth_handler(port_holder: list, require: bool = True, knows_auth: bool = True):
    """A server that demands AUTH (with the secrets above) before anything else."""
    stored = {}

    def handle(payload: bytes, session: dict):
        text = payload.decode("utf-8")
        command, _, rest = text.partition(":")
        if not knows_auth and command in ("HELO", "AUTH"):
            return b"NACK:unknown-command:Unknown command " + command.encode()
        if text == "HELO":
            session["nonce"] = secrets.token_hex(16)
            return ("ACK:" + session["nonce"]).encode()
        if command == "AUTH":
            role, _, proof = rest.partition(":")
            secret = SECRETS.get(role)
            nonce = session.get("nonce")
            if secret is None or nonce is None:
                return b"NACK:auth:Unknown role or no HELO"
            expected = hmac.new(secret.encode(), ("cloud-auth:%s:%s" % (role, nonce)).encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, proof):
                return b"NACK:auth:Wrong proof"
            session["role"] = role
            return b"ACK"
        if require and "role" not in session:
            return b"NACK:auth:Authenticate first (HELO, AUTH)"
        if text == "GETS":
            return ("ACK:127.0.0.1:%d:00000000" % port_holder[0]).encode()
        if command == "ADD":
            name, data = rest.split(":")[:2]
            hash_text = format_hash(file_hash(name, b64decode(data)))
            stored[hash_text] = data
            return ("ACK:" + hash_text).encode()
        if command == "GET":
            return ("ACK:" + stored[rest]).encode() if rest in stored else b"NACK:not-found:No object"
        return b"NACK:unknown-command:" + command.encode()

    return handle


def start(require: bool = True, knows_auth: bool = True) -> support.FakeServer:
    holder = [0]
    server = support.FakeServer(auth_handler(holder, require, knows_auth))
    holder[0] = server.port
    return server


class HandshakeTest(unittest.TestCase):
    """Connection.open() with a credential; ComputeCloud's credential sources."""

    def setUp(self) -> None:
        self.server = start()

    def tearDown(self) -> None:
        self.server.close()

    def test_credential_proof_matches_an_hmac_computed_by_openssl(self) -> None:
        # echo -n "cloud-auth:client:0123456789abcdef0123456789abcdef" | openssl dgst -sha256 -hmac s3cret
        proof = Credential("client", "s3cret").proof("0123456789abcdef0123456789abcdef")
        self.assertEqual(proof, "0cb6adcb3a088ed4cfa423bca07d006fcee3cb186b0628c4751ff2fdc7aa9a89")

    def test_credential_proof_matches_the_vectors_of_protocol_md(self) -> None:
        # docs/PROTOCOL.md 7.8, the second vector.
        proof = Credential("runner", "7d0e5a1c9b3f4e2a8c6d0b1f3e5a7c9d").proof("00112233445566778899aabbccddeeff")
        self.assertEqual(proof, "7ee1334dde29c36e49e6668c8dd3ac3639187f52e939cedae1b85bc0b2076cae")

    def test_token_from_the_environment_authenticates_every_connection(self) -> None:
        with ComputeCloud("127.0.0.1", self.server.port, env={"CLOUD_TOKEN": "client:s3cret"}) as cloud:
            f = cloud.add_string("name1", "contents")
            self.assertEqual(f.hash, "fa20045a")
            self.assertEqual(f.get(), "contents")
        self.assertEqual(self.server.requests[0], b"HELO")
        self.assertTrue(self.server.requests[1].startswith(b"AUTH:client:"))
        proof = self.server.requests[1].split(b":")[2]
        self.assertRegex(proof.decode(), r"\A[0-9a-f]{64}\Z")
        self.assertIn(b"GETS", self.server.requests)
        self.assertNotIn(b"s3cret", b"".join(self.server.requests))

    def test_each_connection_gets_a_fresh_nonce_and_proof(self) -> None:
        for _ in range(2):
            with ComputeCloud("127.0.0.1", self.server.port, token="runner:r-secret") as cloud:
                cloud.add_string("x", "y")
        proofs = [r for r in self.server.requests if r.startswith(b"AUTH:runner:")]
        self.assertEqual(len(proofs), 2)
        self.assertNotEqual(proofs[0], proofs[1])

    def test_token_file_is_read(self) -> None:
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "token")
            with open(path, "w") as file:
                file.write("client s3cret\n")
            with ComputeCloud("127.0.0.1", self.server.port, token_file=path, env={}) as cloud:
                self.assertEqual(cloud.add_string("a", "b").get(), "b")
            env = {"CLOUD_TOKEN_FILE": path, "CLOUD_SERVER": "127.0.0.1:%d" % self.server.port}
            with ComputeCloud.from_env(env) as cloud:
                self.assertEqual(cloud.add_string("a", "c").get(), "c")

    def test_a_wrong_secret_raises_auth_error_at_once(self) -> None:
        with ComputeCloud("127.0.0.1", self.server.port, token="client:wrong", env={}) as cloud:
            with self.assertRaises(AuthError) as caught:
                cloud.add_string("a", "b")
        self.assertEqual(caught.exception.reason, "auth")
        self.assertIn("Wrong proof", str(caught.exception))
        self.assertEqual(len([r for r in self.server.requests if r.startswith(b"AUTH")]), 1)

    def test_without_a_credential_no_helo_is_sent_and_nack_auth_is_an_auth_error(self) -> None:
        with ComputeCloud("127.0.0.1", self.server.port, env={}) as cloud:
            with self.assertRaises(AuthError) as caught:
                cloud.add_string("a", "b")
        self.assertEqual(caught.exception.reason, "auth")
        self.assertNotIn(b"HELO", self.server.requests)

    def test_a_server_without_authentication_is_used_as_it_is(self) -> None:
        open_server = start(require=False, knows_auth=False)
        try:
            # It answers HELO with NACK:unknown-command, as servers before issue 12 do.
            with ComputeCloud("127.0.0.1", open_server.port, token="client:s3cret") as cloud:
                self.assertEqual(cloud.add_string("a", "b").get(), "b")
            self.assertEqual(open_server.requests[0], b"HELO")
            self.assertFalse(any(r.startswith(b"AUTH") for r in open_server.requests))
        finally:
            open_server.close()

    def test_a_malformed_helo_reply_is_a_protocol_error(self) -> None:
        odd = support.FakeServer(lambda payload, session: b"ACK:not-a-nonce")
        try:
            with ComputeCloud("127.0.0.1", odd.port, token="client:s3cret") as cloud:
                with self.assertRaises(RingUnreachableError) as caught:
                    cloud.add_string("a", "b")
            self.assertIsInstance(caught.exception, ConnectionError)
            self.assertIsInstance(caught.exception.errors[0][1], ProtocolError)
        finally:
            odd.close()


class CredentialParsingTest(unittest.TestCase):
    """parse_token(), read_token_file(), credential_from_env()."""

    def test_parse_token_splits_role_and_secret(self) -> None:
        self.assertEqual(parse_token("client:abc:def"), Credential("client", "abc:def"))
        for bad in ["client", "Client:x", "client:", ":x", "client:a b"]:
            with self.subTest(bad=bad):
                with self.assertRaises(ValueError):
                    parse_token(bad)

    def test_repr_hides_the_secret(self) -> None:
        self.assertNotIn("s3cret", repr(Credential("client", "s3cret")))

    def test_read_token_file_wants_one_line(self) -> None:
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "t")
            cases = [
                ("runner abc\n", True),
                ("# a comment\n\nrunner abc\n", True),
                ("runner abc\nclient d\n", False),
                ("runner\n", False),
                ("", False),
            ]
            for text, ok in cases:
                with open(path, "w") as file:
                    file.write(text)
                if ok:
                    self.assertEqual(read_token_file(path), Credential("runner", "abc"))
                else:
                    with self.assertRaises(ValueError):
                        read_token_file(path)

    def test_credential_from_env_prefers_cloud_token(self) -> None:
        self.assertIsNone(credential_from_env({}))
        self.assertEqual(credential_from_env({"CLOUD_TOKEN": "client:x", "CLOUD_TOKEN_FILE": "/nonexistent"}), Credential("client", "x"))
        with self.assertRaises(OSError):
            credential_from_env({"CLOUD_TOKEN_FILE": "/nonexistent/token"})


if __name__ == "__main__":
    unittest.main()
