"""Test support: real ``cloud`` servers and runners on loopback, on free ports,
each stopped by the test that started it (by pid), and small fake servers
that speak the frame protocol from a thread.
"""

import contextlib
import functools
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable, Iterator, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(PYTHON_DIR)
MAIN = os.path.join(REPO, "main.ts")

sys.path.insert(0, PYTHON_DIR)

from computecloud.frame import BadChecksum, FrameDecoder, encode_frame  # noqa: E402


def deno() -> Optional[str]:
    """The deno executable: ``$DENO`` or the one on PATH."""
    return os.environ.get("DENO") or shutil.which("deno")


def cluster_unavailable() -> Optional[str]:
    """Why real servers cannot be started here, or None."""
    if deno() is None:
        return "deno is not installed (set $DENO)"
    if not os.path.exists(MAIN):
        return "main.ts not found at %s" % MAIN
    return None


class Process:
    """A child process with its stderr in a log file; stopped by pid."""

    def __init__(self, args: List[str], log_path: str, stdout: int = subprocess.DEVNULL) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.popen = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=stdout, stderr=self._log)

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    def log(self) -> str:
        """The last 4000 characters of its stderr."""
        self._log.flush()
        with open(self.log_path, "rb") as file:
            return file.read().decode("utf-8", "replace")[-4000:]

    def kill(self, sig: int = signal.SIGKILL, wait: float = 10.0) -> None:
        """Sends ``sig`` to the process (by pid) and waits for it; SIGKILL after ``wait`` seconds."""
        if self.popen.poll() is None:
            try:
                os.kill(self.popen.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(wait)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        self._log.close()


class Server(Process):
    """A ``cloud server`` on a free loopback port."""

    def __init__(self, data_dir: str, join: "Optional[Server]" = None, args: Optional[List[str]] = None) -> None:
        command = [deno() or "deno", "run", "--allow-all", "--v8-flags=--max-semi-space-size=4", MAIN, "server", "0"]
        if join is not None:
            command += [join.host, str(join.port)]
        command += ["--listen", "127.0.0.1", "--advertise", "127.0.0.1", "--data", data_dir, "-q"]
        command += args or []
        super().__init__(command, data_dir + ".log", stdout=subprocess.PIPE)
        self.host = "127.0.0.1"
        self.killed = False
        try:
            self.port = self._read_port()
        except BaseException:
            self.kill()
            raise

    def _read_port(self) -> int:
        stdout = self.popen.stdout
        assert stdout is not None
        deadline = time.monotonic() + 60
        text = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([stdout], [], [], 0.5)
            if ready:
                piece = os.read(stdout.fileno(), 4096)
                if not piece:
                    break
                text += piece
                marker = text.find(b"listening on ")
                if marker >= 0 and b"\n" in text[marker:]:
                    line = text[marker:].split(b"\n")[0].decode()
                    address = line.split()[2]
                    return int(address.rsplit(":", 1)[1])
            elif self.popen.poll() is not None:
                break
        raise RuntimeError("Server did not start:\n%s%s" % (text.decode("utf-8", "replace"), self.log()))

    @property
    def address(self) -> str:
        """``host:port``."""
        return "%s:%d" % (self.host, self.port)


class Runner(Process):
    """A ``cloud runner --watch`` using bubblewrap."""

    def __init__(self, server: Server, work_dir: str, args: Optional[List[str]] = None) -> None:
        command = [deno() or "deno", "run", "--allow-all", MAIN, "runner", server.host, str(server.port)]
        command += ["--watch", "-q", "--sandbox", "bwrap", "--work-dir", work_dir] + (args or [])
        super().__init__(command, work_dir + ".log")


class Ring:
    """``count`` servers in one ring (each joining the first) and optionally a
    runner attached to server ``runner_on``; everything stopped by :meth:`stop`."""

    def __init__(self, count: int = 1, runner: bool = True, runner_on: int = 0, server_args: Optional[List[str]] = None) -> None:
        self.root = tempfile.mkdtemp(prefix="cloud-pytest-")
        self.servers = []  # type: List[Server]
        self.runners = []  # type: List[Runner]
        try:
            for index in range(count):
                join = self.servers[0] if self.servers else None
                self.servers.append(Server(os.path.join(self.root, "server-%d" % index), join, server_args))
            if runner:
                self.add_runner(runner_on)
        except BaseException:
            self.stop()
            raise

    def add_runner(self, server_index: int = 0) -> Runner:
        """Starts one more runner attached to server ``server_index``."""
        work = os.path.join(self.root, "runner-%d" % len(self.runners))
        os.makedirs(work)
        runner = Runner(self.servers[server_index], work)
        self.runners.append(runner)
        return runner

    def logs(self) -> str:
        """Every process's recent stderr, for failure messages."""
        parts = []
        for process in self.servers + self.runners:  # type: ignore[operator]
            parts.append("--- %s (pid %d)\n%s" % (process.log_path, process.pid, process.log()))
        return "\n".join(parts)

    @contextlib.contextmanager
    def logs_on_failure(self) -> Iterator[None]:
        """Writes every process's recent stderr to stderr when the block raises."""
        try:
            yield
        except BaseException:
            sys.stderr.write("\n" + self.logs() + "\n")
            raise

    def stop(self) -> None:
        """Stops runners (SIGTERM) and servers (SIGKILL), by pid, and removes the data."""
        for runner in self.runners:
            runner.kill(signal.SIGTERM)
        for server in self.servers:
            server.kill(signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)


def log_failures(cls: type) -> type:
    """Class decorator: a failing ``test_*`` method writes the logs of ``cls.ring``'s processes."""

    def wrap(method: Callable) -> Callable:
        @functools.wraps(method)
        def wrapper(self: object) -> object:
            with getattr(self, "ring").logs_on_failure():
                return method(self)

        return wrapper

    for name, value in list(vars(cls).items()):
        if name.startswith("test_") and callable(value):
            setattr(cls, name, wrap(value))
    return cls


def free_port() -> int:
    """A loopback port nobody listens on (bound and released)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


Handler = Callable[[bytes, dict], Optional[bytes]]


class FakeServer:
    """A thread that accepts connections on a free loopback port and answers
    each request payload with ``handler(payload, session)`` (None: hang up).

    ``session`` is a dict per connection; ``requests`` records every payload.
    ``wrap`` (e.g. an ``ssl.SSLContext.wrap_socket``) is applied to each accepted socket.
    """

    def __init__(self, handler: Handler, wrap: Optional[Callable[[socket.socket], socket.socket]] = None) -> None:
        self.handler = handler
        self.wrap = wrap
        self.requests = []  # type: List[bytes]
        self.connections = 0
        self.errors = []  # type: List[BaseException]
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self._closed = False
        self._sockets = []  # type: List[socket.socket]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        session = {}  # type: dict
        try:
            if self.wrap is not None:
                sock = self.wrap(sock)
            self._sockets.append(sock)
            decoder = FrameDecoder()
            while not self._closed:
                data = sock.recv(65536)
                if not data:
                    return
                decoder.push(data)
                for item in decoder.drain():
                    if isinstance(item, BadChecksum):
                        sock.sendall(encode_frame(b"NACK:checksum:bad"))
                        continue
                    self.requests.append(item)
                    if item == b"STOP":
                        return
                    reply = self.handler(item, session)
                    if reply is None:
                        return
                    sock.sendall(encode_frame(reply))
        except OSError as error:
            self.errors.append(error)
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def close(self) -> None:
        """Stops accepting and closes every connection."""
        self._closed = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the thread
        except OSError:
            pass
        self._listener.close()
        for sock in self._sockets:
            try:
                sock.close()
            except OSError:
                pass
        self._thread.join(5)
