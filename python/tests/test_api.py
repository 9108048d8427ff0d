"""The API without a real ring: names, fail-over, timeouts, futures against a
fake server, closing; and checks of the package's own source (Python 3.8
syntax, docstrings on every public name)."""

import ast
import importlib
import pkgutil
import concurrent.futures
import inspect
import os
import threading
import time
import unittest

import support

import computecloud
from computecloud import (
    CloudError,
    CloudTimeoutError,
    ComputeCloud,
    FileObject,
    InvalidNameError,
    RingUnreachableError,
    parse_server,
)
from computecloud.message import b64encode

SOURCE_FILES = [
    os.path.join(root, name)
    for base in (os.path.join(support.PYTHON_DIR, "computecloud"), support.HERE)
    for root, _, names in os.walk(base)
    for name in names
    if name.endswith(".py")
] + [os.path.join(support.PYTHON_DIR, "client.py")]


class NamesTest(unittest.TestCase):
    """Bad names and inputs raise ValueError before anything is sent."""

    def setUp(self) -> None:
        # Nobody listens here: a request would raise RingUnreachableError, not ValueError.
        self.cloud = ComputeCloud("127.0.0.1", support.free_port(), connect_timeout=0.5, env={})

    def tearDown(self) -> None:
        self.cloud.close()

    def test_names_with_colon_or_nul_are_value_errors_everywhere(self) -> None:
        calls = [
            lambda name: self.cloud.add_string(name, "x"),
            lambda name: self.cloud.add_bytes(name, b"x"),
            lambda name: self.cloud.add_file(name, __file__),
            lambda name: self.cloud.add_job(name, "print(1)", "out"),
            lambda name: self.cloud.add_job("job", "print(1)", name),
            lambda name: self.cloud.submit("print(1)", [], name),
            lambda name: self.cloud.map("print(1)", [["00000001"]], name),
        ]
        for bad in ["a:b", "x\0y", "", "x" * 1025, "job:cHJpbnQoImluamVjdGVkIik="]:
            for index, call in enumerate(calls):
                with self.subTest(name=bad[:20], call=index):
                    with self.assertRaises(ValueError) as caught:
                        call(bad)
                    self.assertIsInstance(caught.exception, InvalidNameError)

    def test_bad_inputs_and_large_code_are_value_errors(self) -> None:
        for bad in ["zz", "123456789", -1, 2**32, None, 1.5]:
            with self.subTest(bad=bad):
                with self.assertRaises(ValueError):
                    self.cloud.add_job("job", "print(1)", "out", [bad])  # type: ignore[list-item]
        with self.assertRaises(ValueError):
            self.cloud.add_job("job", "#" * 16385, "out")

    def test_parse_server_reads_host_and_port(self) -> None:
        self.assertEqual(parse_server("example:123"), ("example", 123))
        self.assertEqual(parse_server("example"), ("example", 11111))
        self.assertEqual(parse_server(":5"), ("localhost", 5))
        for bad in ["x:0", "x:65536", "x:y"]:
            with self.assertRaises(ValueError):
                parse_server(bad)

    def test_from_env_reads_a_list_of_servers(self) -> None:
        cloud = ComputeCloud.from_env({"CLOUD_SERVER": "a:1, b:2,c"})
        self.assertEqual(cloud.servers, ["a:1", "b:2", "c:11111"])
        self.assertEqual(ComputeCloud.from_env({}).servers, ["localhost:11111"])
        self.assertEqual(ComputeCloud([("h", 1), "i:2"]).servers, ["h:1", "i:2"])


def fake_cloud(port_holder: list, finished: threading.Event, failed: bool = False):
    """A fake server with one job 00000001 whose output 00000002 finishes when ``finished`` is set."""

    def handle(payload: bytes, session: dict):
        text = payload.decode("utf-8")
        command, _, rest = text.partition(":")
        if text == "GETS":
            return ("ACK:127.0.0.1:%d:00000000" % port_holder[0]).encode()
        if command == "JADD":
            return b"ACK:00000001:00000002"
        if command == "WAIT":
            target, milliseconds = rest.split(":")
            deadline = time.monotonic() + int(milliseconds) / 1000
            while not finished.is_set() and time.monotonic() < deadline:
                time.sleep(0.01)
            if not finished.is_set():
                return b"ACK:incomplete" if target == "00000002" else b"ACK:leased"
            if failed:
                return b"ACK:failed"
            return b"ACK:complete" if target == "00000002" else b"ACK:done"
        if command == "GET":
            if rest == "00000002":
                if failed:
                    return b"NACK:failed:job j (00000001) failed (exception): boom"
                return ("ACK:" + b64encode("hi\n".encode())).encode() if finished.is_set() else b"NACK:incomplete:x"
            return ("ACK:" + b64encode(b"Traceback\nValueError: boom\n")).encode()
        if command == "STAT":
            summary = '{"name":"j","reason":"exception","exitCode":1,"detail":"ValueError: boom"}'
            state = "failed" if failed else "done"
            return ("ACK:job:%s:%s" % (state, b64encode(summary.encode()))).encode()
        return b"NACK:unknown-command:" + command.encode()

    return handle


class FakeRing:
    def __init__(self, failed: bool = False) -> None:
        self.finished = threading.Event()
        holder = [0]
        self.server = support.FakeServer(fake_cloud(holder, self.finished, failed))
        holder[0] = self.server.port

    def close(self) -> None:
        self.finished.set()
        self.server.close()


class FutureTest(unittest.TestCase):
    """FileObject as a concurrent.futures.Future, against a fake server."""

    def setUp(self) -> None:
        self.ring = FakeRing()
        self.cloud = ComputeCloud("127.0.0.1", self.ring.server.port, env={})

    def tearDown(self) -> None:
        self.cloud.close()
        self.ring.close()

    def test_an_output_is_a_future_that_the_watcher_completes(self) -> None:
        job, out = self.cloud.add_job("j", "print('hi')", "o")
        self.assertIsInstance(out, concurrent.futures.Future)
        self.assertEqual((job.kind, out.kind, out.job), ("job", "output", job))
        called = []
        out.add_done_callback(called.append)
        time.sleep(0.2)
        self.assertFalse(out.done())
        self.assertFalse(out.cancel())
        self.ring.finished.set()
        done, not_done = concurrent.futures.wait([out], timeout=10)
        self.assertEqual((done, not_done), ({out}, set()))
        self.assertEqual(called, [out])
        self.assertEqual(out.result(), "hi\n")
        self.assertIsNone(out.exception())
        self.assertTrue(job.done())
        self.assertEqual(job.result(), "Traceback\nValueError: boom\n")
        self.assertEqual(list(concurrent.futures.as_completed([out, job], timeout=1)).count(out), 1)

    def test_result_with_a_timeout_raises_a_futures_timeout(self) -> None:
        _, out = self.cloud.add_job("j", "print('hi')", "o")
        started = time.monotonic()
        with self.assertRaises(concurrent.futures.TimeoutError) as caught:
            out.result(timeout=0.3)
        self.assertIsInstance(caught.exception, CloudTimeoutError)
        self.assertIsInstance(caught.exception, TimeoutError)
        self.assertLess(time.monotonic() - started, 10)
        with self.assertRaises(concurrent.futures.TimeoutError):
            out.exception(timeout=0)
        self.assertEqual(out.wait(timeout=0.1), "incomplete")

    def test_closing_the_client_fails_pending_futures(self) -> None:
        _, out = self.cloud.add_job("j", "print('hi')", "o")
        self.cloud.close()
        error = out.exception(timeout=1)
        self.assertIsInstance(error, CloudError)
        self.assertEqual(error.reason, "closed")  # type: ignore[union-attr]
        with self.assertRaises(CloudError):
            self.cloud.add_string("a", "b")
        deadline = time.monotonic() + 5
        while b"STOP" not in self.ring.server.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertIn(b"STOP", self.ring.server.requests)

    def test_gather_returns_results_in_order(self) -> None:
        outs = self.cloud.map("print('hi')", ["00000005", ["00000006", "00000007"]], "o")
        self.assertEqual(len(outs), 2)
        self.ring.finished.set()
        self.assertEqual(self.cloud.gather(outs, timeout=10), ["hi\n", "hi\n"])
        jadds = [r for r in self.ring.server.requests if r.startswith(b"JADD")]
        self.assertTrue(jadds[0].endswith(b":o:00000005"), jadds[0])
        self.assertTrue(jadds[1].endswith(b":o:00000006:00000007"), jadds[1])

    def test_fresh_jobs_carry_a_salt_option(self) -> None:
        self.cloud.add_job("j", "print(1)", "o", ["0000002a"], fresh=True)
        jadd = [r for r in self.ring.server.requests if r.startswith(b"JADD")][-1].decode()
        self.assertRegex(jadd, r":0000002a:salt=[0-9a-f]{8}\Z")


class FailedFutureTest(unittest.TestCase):
    """A failed job's output raises JobFailed with what STAT and GET say."""

    def test_a_failed_output_raises_job_failed(self) -> None:
        ring = FakeRing(failed=True)
        try:
            with ComputeCloud("127.0.0.1", ring.server.port, env={}) as cloud:
                job, out = cloud.add_job("j", "raise ValueError('boom')", "o")
                ring.finished.set()
                with self.assertRaises(computecloud.JobFailed) as caught:
                    out.result(timeout=10)
                error = caught.exception
                self.assertEqual((error.reason, error.exit_status, error.job, error.job_name), ("exception", 1, "00000001", "j"))
                self.assertIn("ValueError: boom", error.stderr_tail)
                self.assertIs(job.exception(1), error)
                with self.assertRaises(computecloud.JobFailed):
                    out.get()
                self.assertEqual(job.get(), "Traceback\nValueError: boom\n")
        finally:
            ring.close()


class UnreachableTest(unittest.TestCase):
    """ConnectionError subclasses for unreachable rings; fail-over between given servers."""

    def test_a_ring_nobody_answers_raises_ring_unreachable(self) -> None:
        cloud = ComputeCloud([("127.0.0.1", support.free_port()), ("127.0.0.1", support.free_port())], env={})
        with self.assertRaises(RingUnreachableError) as caught:
            cloud.add_string("a", "b")
        self.assertIsInstance(caught.exception, ConnectionError)
        self.assertEqual(len(caught.exception.errors), 2)
        cloud.close()

    def test_the_next_server_given_is_used_when_the_first_is_down(self) -> None:
        ring = FakeRing()
        try:
            with ComputeCloud([("127.0.0.1", support.free_port()), ("127.0.0.1", ring.server.port)], env={}) as cloud:
                _, out = cloud.add_job("j", "print(1)", "o")
                self.assertEqual(out.hash, "00000002")
                self.assertEqual(cloud.server, "127.0.0.1:%d" % ring.server.port)
        finally:
            ring.close()

    def test_a_busy_server_is_skipped(self) -> None:
        busy = support.FakeServer(lambda payload, session: b"NACK:busy:Server is at its limit")
        ring = FakeRing()
        try:
            with ComputeCloud([("127.0.0.1", busy.port), ("127.0.0.1", ring.server.port)], env={}) as cloud:
                self.assertEqual(cloud.add_job("j", "print(1)", "o")[1].hash, "00000002")
        finally:
            busy.close()
            ring.close()

    def test_a_server_that_does_not_answer_times_out(self) -> None:
        silent = support.FakeServer(lambda payload, session: time.sleep(20) or b"ACK")
        try:
            started = time.monotonic()
            with ComputeCloud("127.0.0.1", silent.port, request_timeout=0.3, env={}) as cloud:
                with self.assertRaises(RingUnreachableError) as caught:
                    cloud.add_string("a", "b")
            # Well before the reply that would come after 20 s.
            self.assertLess(time.monotonic() - started, 15)
            self.assertIsInstance(caught.exception.errors[0][1], CloudTimeoutError)
        finally:
            silent.close()


class SourceTest(unittest.TestCase):
    """The package's own source."""

    def test_every_file_parses_as_python_3_8(self) -> None:
        for path in SOURCE_FILES:
            with self.subTest(path=os.path.basename(path)):
                with open(path, encoding="utf-8") as file:
                    ast.parse(file.read(), path, feature_version=(3, 8))

    def test_every_public_name_has_a_docstring(self) -> None:
        missing = []
        names = [info.name for info in pkgutil.iter_modules(computecloud.__path__) if info.name != "__main__"]
        self.assertIn("scenario", names)
        modules = [importlib.import_module("computecloud." + name) for name in names]
        for module in modules + [computecloud]:
            if not (module.__doc__ or "").strip():
                missing.append(module.__name__)
            for name, value in vars(module).items():
                if name.startswith("_") or getattr(value, "__module__", None) != module.__name__:
                    continue
                if inspect.isclass(value) or inspect.isfunction(value):
                    if not (value.__doc__ or "").strip():
                        missing.append("%s.%s" % (module.__name__, name))
                    if inspect.isclass(value):
                        for member, attribute in vars(value).items():
                            if member.startswith("_") or not (inspect.isfunction(attribute) or isinstance(attribute, property)):
                                continue
                            if not (attribute.__doc__ or "").strip():
                                missing.append("%s.%s.%s" % (module.__name__, name, member))
        self.assertEqual(missing, [])

    def test_client_module_keeps_the_original_spelling(self) -> None:
        import client

        self.assertIs(client.ComputeCloud, ComputeCloud)
        self.assertIs(client.ComputeCloud.FileObject, FileObject)


if __name__ == "__main__":
    unittest.main()
