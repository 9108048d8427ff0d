"""End to end against a real ring and a bubblewrap runner: the original
scenario, namespaces, pipelines, failures, futures, and a 50 MB file."""

import concurrent.futures
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import unittest

import support

from computecloud import CloudError, ComputeCloud, JobFailed

SKIP = support.cluster_unavailable()


@unittest.skipIf(SKIP is not None, SKIP or "")
@support.log_failures
class SingleServerTest(unittest.TestCase):
    """One server, one runner."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.ring = support.Ring(1)
        cls.server = cls.ring.servers[0]

    @classmethod
    def tearDownClass(cls) -> None:
        cls.ring.stop()

    def setUp(self) -> None:
        self.cloud = ComputeCloud(self.server.host, self.server.port, env={})

    def tearDown(self) -> None:
        self.cloud.close()

    def test_client_py_runs_the_original_scenario(self) -> None:
        env = dict(os.environ, PYTHONPATH=support.PYTHON_DIR)
        done = subprocess.run(
            [sys.executable, os.path.join(support.PYTHON_DIR, "client.py"), self.server.host, str(self.server.port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        lines = done.stdout.split("\n")
        self.assertEqual(lines[0], "contents")
        self.assertEqual(lines[1], "name1 fa20045a")
        self.assertTrue(done.stdout.endswith("contents\nmore contents\n\n"), done.stdout)

    def test_the_original_example_runs_with_the_original_spelling(self) -> None:
        example = (
            "from client import ComputeCloud\n"
            "import sys, tempfile\n"
            "s = ComputeCloud(sys.argv[1], int(sys.argv[2]))\n"
            "path = tempfile.mktemp()\n"
            "with open(path, 'w') as file:\n"
            "    file.write('second file\\n')\n"
            "f = s.add_string('name1', 'contents')\n"
            "g = s.add_file('name2', path)\n"
            "print(f.get())\n"
            "code = '''for path in [\"/net/name1\", \"/net/name2\"]:\n"
            "    print(open(path, 'r').read())'''\n"
            "job, out = s.add_job('jobname', code, 'outputname', [f, g])\n"
            "print(out.get(), end='')\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", example, self.server.host, str(self.server.port)],
            env=dict(os.environ, PYTHONPATH=support.PYTHON_DIR),
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout, "contents\ncontents\nsecond file\n\n")

    def test_the_last_input_with_a_name_wins(self) -> None:
        first = self.cloud.add_string("x", "first")
        other = self.cloud.add_string("y", "other")
        last = self.cloud.add_string("x", "last")
        self.assertNotEqual(first.hash, last.hash)
        _, out = self.cloud.add_job("read-x", 'print(open("/net/x").read() + open("/net/y").read())', "seen", [first, other, last])
        self.assertEqual(out.get(timeout=120), "lastother\n")
        _, out = self.cloud.add_job("read-x", 'print(open("/net/x").read())', "seen", [last, first.hash])
        self.assertEqual(out.result(timeout=120), "first\n")

    def test_a_two_stage_pipeline_runs_from_futures(self) -> None:
        words = self.cloud.add_string("words", "the quick brown fox jumps over the lazy dog the end")
        count = "import json, collections\nprint(json.dumps(collections.Counter(open('/net/words').read().split())))\n"
        top = "import json\nc = json.load(open('/net/counts'))\nprint(max(c, key=lambda w: (c[w], w)), c['the'])\n"
        _, counts = self.cloud.add_job("count", count, "counts", [words], fresh=True)
        # Submitted before the first stage has finished: the output is a future input.
        _, best = self.cloud.add_job("top", top, "best", [counts], fresh=True)
        self.assertEqual(best.result(timeout=120), "the 3\n")
        self.assertEqual(counts.status()["state"], "complete")
        self.assertEqual(json.loads(counts.result(timeout=30))["fox"], 1)

    def test_a_failing_job_raises_job_failed(self) -> None:
        code = "import sys\nprint('partial')\nprint('about to fail', file=sys.stderr)\nraise ValueError('boom')\n"
        job, out = self.cloud.add_job("fails", code, "never", fresh=True)
        with self.assertRaises(JobFailed) as caught:
            out.result(timeout=120)
        error = caught.exception
        self.assertEqual(error.reason, "exception")
        self.assertEqual(error.exit_status, 1)
        self.assertEqual(error.job, job.hash)
        self.assertEqual(error.job_name, "fails")
        self.assertIn("about to fail", error.stderr_tail)
        self.assertIn("ValueError: boom", error.stderr_tail)
        self.assertIs(out.exception(), error)
        self.assertIs(job.exception(), error)
        self.assertIn("ValueError: boom", job.get())
        self.assertIn("ValueError: boom", out.stderr())
        self.assertEqual(job.status()["reason"], "exception")
        # Its dependents fail too, with input-failed.
        _, downstream = self.cloud.add_job("after", "print(open('/net/never').read())", "after-out", [out], fresh=True)
        with self.assertRaises(JobFailed) as caught:
            downstream.get(timeout=120)
        self.assertEqual(caught.exception.reason, "input-failed")
        # save() leaves the target alone.
        with tempfile.TemporaryDirectory() as directory:
            target = os.path.join(directory, "result")
            with open(target, "w") as file:
                file.write("old")
            with self.assertRaises(JobFailed):
                out.save(target)
            self.assertEqual(os.listdir(directory), ["result"])
            with open(target) as file:
                self.assertEqual(file.read(), "old")

    def test_futures_work_with_wait_as_completed_callbacks_gather_and_map(self) -> None:
        numbers = [self.cloud.add_string("n", str(i)) for i in range(6)]
        outs = self.cloud.map("print(int(open('/net/n').read()) ** 2)", numbers, "square", fresh=True)
        called = []
        for out in outs:
            out.add_done_callback(called.append)
        done, not_done = concurrent.futures.wait(outs, timeout=120)
        self.assertEqual((len(done), len(not_done)), (6, 0))
        self.assertEqual(sorted(f.result() for f in concurrent.futures.as_completed(outs, timeout=10)), sorted("%d\n" % (i * i) for i in range(6)))
        self.assertEqual(self.cloud.gather(outs, timeout=60), ["%d\n" % (i * i) for i in range(6)])
        self.assertEqual(len(called), 6)
        _, slow = self.cloud.add_job("slow", "import time\ntime.sleep(3)\nprint('late')", "late", fresh=True)
        with self.assertRaises(concurrent.futures.TimeoutError):
            slow.result(timeout=0.2)
        first = next(concurrent.futures.as_completed([slow], timeout=120))
        self.assertIs(first, slow)
        self.assertEqual(slow.result(), "late\n")

    def test_identical_jobs_are_one_job(self) -> None:
        f = self.cloud.add_string("same", "data")
        a = self.cloud.add_job("same-job", "print(open('/net/same').read())", "same-out", [f])
        b = self.cloud.add_job("same-job", "print(open('/net/same').read())", "same-out", [f])
        self.assertEqual((a[0].hash, a[1].hash), (b[0].hash, b[1].hash))
        c = self.cloud.add_job("same-job", "print(open('/net/same').read())", "same-out", [f], fresh=True)
        self.assertNotEqual(c[0].hash, a[0].hash)
        self.assertEqual(c[1].get(timeout=120), "data\n")

    def test_uploads_land_on_the_hash_the_spec_gives(self) -> None:
        self.assertEqual(self.cloud.add_string("name1", "contents").hash, "fa20045a")
        self.assertEqual(self.cloud.add_bytes("name2", b"second file\n").hash, "f0f40735")
        fresh = self.cloud.add_string("name1", "contents", fresh=True)
        self.assertNotEqual(fresh.hash, "fa20045a")
        self.assertEqual(fresh.get(), "contents")
        self.assertEqual(self.cloud.file("fa20045a").result(timeout=30), "contents")
        with self.assertRaises(CloudError) as caught:
            self.cloud.file("12345678").get(timeout=5)
        self.assertEqual(caught.exception.reason, "not-found")

    def test_a_job_reads_a_chunked_input_and_writes_a_chunked_output(self) -> None:
        data = bytes(range(256)) * 800  # 204 800 bytes: five chunks
        big = self.cloud.add_bytes("big", data)
        self.assertTrue(big.status().get("chunked"))
        code = "import sys\nd = open('/net/big', 'rb').read()\nsys.stdout.write(d.hex())\n"
        _, out = self.cloud.add_job("hex", code, "hex-out", [big], fresh=True)
        self.assertEqual(out.get(timeout=120), data.hex())
        self.assertTrue(out.status().get("chunked"))


@unittest.skipIf(SKIP is not None, SKIP or "")
@support.log_failures
class LargeFileTest(unittest.TestCase):
    """A 50 MB file through chunks on a ring of three servers."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.ring = support.Ring(3, runner=False)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.ring.stop()

    def test_a_50_mb_file_round_trips_through_chunks(self) -> None:
        size = 50 * 1000 * 1000
        with tempfile.TemporaryDirectory() as directory:
            source = os.path.join(directory, "source")
            digest = hashlib.sha256()
            with open(source, "wb") as file:
                block = os.urandom(1 << 20)
                written = 0
                while written < size:
                    piece = block[: size - written]
                    # Vary the content so chunks differ.
                    piece = written.to_bytes(8, "big") + piece[8:]
                    file.write(piece)
                    digest.update(piece)
                    written += len(piece)
            server = self.ring.servers[1]
            with ComputeCloud(server.host, server.port, env={}) as cloud:
                uploaded = cloud.add_file("fifty", source)
                status = uploaded.status()
                self.assertEqual((status["size"], status.get("chunked")), (size, True))
                target = os.path.join(directory, "copy")
                self.assertEqual(uploaded.save(target), size)
                with open(target, "rb") as file:
                    copy_digest = hashlib.sha256()
                    for piece in iter(lambda: file.read(1 << 20), b""):
                        copy_digest.update(piece)
                self.assertEqual(copy_digest.hexdigest(), digest.hexdigest())
                self.assertEqual(sorted(os.listdir(directory)), ["copy", "source"])
                # The same content again is the same object (its chunks are stored once).
                self.assertEqual(cloud.add_file("fifty", source).hash, uploaded.hash)
            with ComputeCloud(self.ring.servers[2].host, self.ring.servers[2].port, env={}) as other:
                self.assertEqual(hashlib.sha256(other.file(uploaded.hash).get_bytes()).hexdigest(), digest.hexdigest())


if __name__ == "__main__":
    unittest.main()
