"""TLS from the client's side: a fake server with a self-signed certificate made by openssl."""

import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import unittest

import support

from computecloud import ComputeCloud, RingUnreachableError
from computecloud.hashing import file_hash, format_hash
from computecloud.message import b64decode

OPENSSL = shutil.which("openssl")
if OPENSSL is None:
    print("test_tls: skipping TLS tests: openssl is not installed (apt-get install openssl)", file=sys.stderr)


def handler(port_holder: list):
    def handle(payload: bytes, session: dict):
        text = payload.decode("utf-8")
        if text == "GETS":
            return ("ACK:127.0.0.1:%d:00000000" % port_holder[0]).encode()
        if text.startswith("ADD:"):
            name, data = text.split(":")[1:3]
            return ("ACK:" + format_hash(file_hash(name, b64decode(data)))).encode()
        return b"NACK:unknown-command:x"

    return handle


@unittest.skipIf(OPENSSL is None, "openssl is not installed")
class TlsTest(unittest.TestCase):
    """ComputeCloud with ``ca_file``, ``tls`` and ``$CLOUD_TLS_CA``."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.directory = tempfile.mkdtemp(prefix="cloud-tls-")
        cls.cert = os.path.join(cls.directory, "cert.pem")
        key = os.path.join(cls.directory, "key.pem")
        subprocess.run(
            [OPENSSL or "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cls.cert,
             "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cls.cert, key)
        holder = [0]
        cls.server = support.FakeServer(handler(holder), wrap=lambda sock: context.wrap_socket(sock, server_side=True))
        holder[0] = cls.server.port

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.close()
        shutil.rmtree(cls.directory, ignore_errors=True)

    def test_a_client_with_the_ca_file_talks_tls(self) -> None:
        before = len(self.server.requests)
        with ComputeCloud("127.0.0.1", self.server.port, ca_file=self.cert, env={}) as cloud:
            self.assertEqual(cloud.add_string("name1", "contents").hash, "fa20045a")
        self.assertIn(b"ADD:name1:Y29udGVudHM=", self.server.requests[before:])

    def test_the_environment_names_the_ca(self) -> None:
        env = {"CLOUD_SERVER": "127.0.0.1:%d" % self.server.port, "CLOUD_TLS_CA": self.cert}
        with ComputeCloud.from_env(env) as cloud:
            self.assertEqual(cloud.add_string("name2", "second file\n").hash, "f0f40735")

    def test_a_certificate_not_signed_by_a_trusted_ca_is_refused(self) -> None:
        with ComputeCloud("127.0.0.1", self.server.port, tls=True, env={}) as cloud:
            with self.assertRaises(RingUnreachableError) as caught:
                cloud.add_string("name1", "contents")
        error = caught.exception.errors[0][1]
        self.assertEqual(getattr(error, "reason", None), "tls")
        self.assertIn("certificate verify failed", str(error).lower())

    def test_a_client_without_tls_gets_no_answer_it_can_use(self) -> None:
        with ComputeCloud("127.0.0.1", self.server.port, tls=False, request_timeout=5, env={}) as cloud:
            with self.assertRaises(ConnectionError):
                cloud.add_string("name1", "contents")


if __name__ == "__main__":
    unittest.main()
