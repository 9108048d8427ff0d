"""A ring of three servers whose first server, the one the client was given,
is killed (SIGKILL, by pid) in the middle of a session: the client goes on
through the others."""

import concurrent.futures
import signal
import unittest

import support

from computecloud import ComputeCloud

SKIP = support.cluster_unavailable()


@unittest.skipIf(SKIP is not None, SKIP or "")
class FailoverTest(unittest.TestCase):
    """ComputeCloud fails over when its server dies."""

    def setUp(self) -> None:
        # The runner talks to server 1, so it survives the kill of server 0.
        self.ring = support.Ring(3, runner_on=1)

    def tearDown(self) -> None:
        self.ring.stop()

    def test_the_client_goes_on_through_another_server_when_its_first_is_killed(self) -> None:
        first = self.ring.servers[0]
        with self.ring.logs_on_failure(), ComputeCloud(first.host, first.port, env={}) as cloud:
            name1 = cloud.add_string("name1", "contents")
            name2 = cloud.add_string("name2", "second file\n")
            big = cloud.add_bytes("big", bytes(range(256)) * 400)
            code = 'for path in ["/net/name1", "/net/name2"]:\n    print(open(path).read())\n'
            job, out = cloud.add_job("jobname", code, "outputname", [name1, name2])
            self.assertEqual(out.result(timeout=120), "contents\nsecond file\n\n")
            self.assertEqual(cloud.server, first.address)
            self.assertEqual(len(cloud.servers), 3)
            # A job still running when the server dies.
            _, slow = cloud.add_job("slow", "import time\ntime.sleep(2)\nprint('slept')", "slow-out", fresh=True)

            first.kill(signal.SIGKILL)

            self.assertEqual(cloud.file(name1.hash).get(timeout=60), "contents")
            self.assertEqual(name2.get(), "second file\n")
            self.assertEqual(big.get_bytes(), bytes(range(256)) * 400)
            self.assertEqual(out.get(), "contents\nsecond file\n\n")
            self.assertNotEqual(cloud.server, first.address)
            third = cloud.add_string("name3", "after the kill")
            _, later = cloud.add_job("later", "print(open('/net/name3').read() + open('/net/name1').read())", "later-out", [third, name1])
            self.assertEqual(later.result(timeout=120), "after the killcontents\n")
            done, _ = concurrent.futures.wait([slow], timeout=120)
            self.assertEqual(done, {slow})
            self.assertEqual(slow.result(), "slept\n")
            large = cloud.add_bytes("large-after", bytes(reversed(range(256))) * 1000)
            self.assertEqual(large.get_bytes(), bytes(reversed(range(256))) * 1000)
            self.assertEqual(job.stderr(), "")


if __name__ == "__main__":
    unittest.main()
