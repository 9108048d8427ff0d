"""The handshake against a real ``cloud server --auth-file`` (tokens made by
``cloud auth init``) with a runner holding a runner token: the client's
token file and ``$CLOUD_TOKEN_FILE`` work, a missing or wrong credential is
an AuthError, and a client's role may not send what servers and runners do."""

import os
import shutil
import signal
import subprocess
import tempfile
import unittest

import support

from computecloud import AuthError, ComputeCloud
from computecloud.auth import read_token_file
from computecloud.connection import Connection

SKIP = support.cluster_unavailable()


@unittest.skipIf(SKIP is not None, SKIP or "")
class RealServerAuthTest(unittest.TestCase):
    """A real ``cloud server --auth-file`` and a runner with its token; tokens from ``cloud auth init``."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.root = tempfile.mkdtemp(prefix="cloud-pyauth-")
        cls.auth = os.path.join(cls.root, "auth")
        subprocess.run(
            [support.deno() or "deno", "run", "--allow-all", support.MAIN, "auth", "init", cls.auth],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        cls.server = None
        cls.runner = None
        try:
            cls.server = support.Server(os.path.join(cls.root, "server"), args=["--auth-file", cls.token("auth")])
            work = os.path.join(cls.root, "runner")
            os.makedirs(work)
            cls.runner = support.Runner(cls.server, work, args=["--token-file", cls.token("runner.token")])
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls) -> None:
        if cls.runner is not None:
            cls.runner.kill(signal.SIGTERM)
        if cls.server is not None:
            cls.server.kill()
        shutil.rmtree(cls.root, ignore_errors=True)

    @classmethod
    def token(cls, name: str) -> str:
        return os.path.join(cls.auth, name)

    def cloud(self, **options) -> ComputeCloud:
        options.setdefault("env", {})
        return ComputeCloud("127.0.0.1", self.server.port, **options)

    def test_a_client_token_stores_files_and_runs_jobs(self) -> None:
        with self.cloud(token_file=self.token("client.token")) as cloud:
            f = cloud.add_string("name1", "contents")
            self.assertEqual(f.get(), "contents")
            _, out = cloud.add_job("job", 'print(open("/net/name1").read())', "out", [f], fresh=True)
            self.assertEqual(out.get(timeout=120), "contents\n")

    def test_the_environment_token_file_is_used(self) -> None:
        env = {"CLOUD_TOKEN_FILE": self.token("client.token")}
        with ComputeCloud("127.0.0.1", self.server.port, env=env) as cloud:
            self.assertEqual(cloud.add_string("env", "from the environment").get(), "from the environment")

    def test_without_a_credential_the_server_says_auth(self) -> None:
        with self.cloud() as cloud:
            with self.assertRaises(AuthError) as caught:
                cloud.add_string("a", "b")
        self.assertEqual(caught.exception.reason, "auth")
        self.assertIn("Authenticate first", str(caught.exception))

    def test_a_wrong_secret_is_refused(self) -> None:
        with self.cloud(token="client:" + "0" * 64) as cloud:
            with self.assertRaises(AuthError) as caught:
                cloud.add_string("a", "b")
        self.assertEqual(caught.exception.reason, "auth")

    def test_a_client_token_may_not_send_what_servers_and_runners_send(self) -> None:
        credential = read_token_file(self.token("client.token"))
        connection = Connection.open("127.0.0.1", self.server.port, credential=credential)
        try:
            self.assertTrue(connection.authenticated)
            for payload in (b"SADD:127.0.0.1:1:00000000", b"GETJ", b"PEER:127.0.0.1:1"):
                reply = connection.request(payload)
                self.assertFalse(reply.ok, payload)
                self.assertEqual(reply.reason, "forbidden", payload)
            self.assertTrue(connection.request(b"GETS").ok)
        finally:
            connection.close()


if __name__ == "__main__":
    unittest.main()
