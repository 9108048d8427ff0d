"""``ComputeCloud``: a client of a ring of ``cloud`` servers.

It talks to any server of the ring and fails over to the others (it learns
them with ``GETS``); sends each object straight to the server that owns it
when it can; uploads and downloads large files in checked chunks; and
turns jobs' outputs into futures.
"""

import concurrent.futures
import heapq
import itertools
import json
import logging
import os
import secrets
import ssl
import threading
import time
from typing import (
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from .auth import Credential, credential_from_env, parse_token, read_token_file
from .connection import CONNECT_TIMEOUT_S, REQUEST_TIMEOUT_S, Connection
from .errors import (
    AuthError,
    CloudConnectionError,
    CloudError,
    CloudTimeoutError,
    JobFailed,
    RingUnreachableError,
)
from .files import GET_TIMEOUT_S, TERMINAL_STATES, FileObject, job_failed_from
from .hashing import file_hash, format_hash, object_hash, parse_hash
from .manifest import CHUNK_BYTES_MAX, ManifestError, decode_manifest
from .message import Reply, b64decode, b64encode, encode_request, validate_name
from .ring import Ring, parse_servers
from .transfer import read_chunks, store_chunks

_log = logging.getLogger("computecloud")

#: Largest file stored in one object; larger ones travel in chunks.
INLINE_BYTES_MAX = 45000
#: Largest job source, in bytes.
SOURCE_BYTES_MAX = 16384
#: Longest single ``WAIT`` the client sends, in seconds.
WAIT_SLICE_S = 30.0
#: Default port of a server.
DEFAULT_PORT = 11111
#: Default chunk requests in flight per large transfer.
PARALLEL_DEFAULT = 8

Address = Tuple[str, int]
InputLike = Union[FileObject, str, int]


def parse_server(text: str) -> Address:
    """Splits ``host:port`` (port 11111 when absent); raises ValueError on a bad port."""
    text = text.strip()
    host, colon, port_text = text.rpartition(":")
    if not colon:
        host, port_text = text, str(DEFAULT_PORT)
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError("Cannot use server %r: the port must be 1 to 65535" % text)
    return host or "localhost", int(port_text)


def _addresses(host: Union[str, Sequence[Any]], port: int) -> List[Address]:
    if isinstance(host, str):
        return [(host, port)] if host.count(":") == 0 else [parse_server(host)]
    result = []  # type: List[Address]
    for item in host:
        if isinstance(item, str):
            result.append(parse_server(item))
        else:
            server_host, server_port = item
            result.append((str(server_host), int(server_port)))
    if not result:
        raise ValueError("Cannot make a client: no server given")
    return result


class ComputeCloud:
    """A connection to a ring of servers (the original design's ``ComputeCloud``).

    ``ComputeCloud("localhost", 11111)`` talks to that server and, once it has
    learned the ring (``GETS``), fails over to the others; ``host`` may also
    be a list of ``(host, port)`` pairs (or ``"host:port"`` strings) to try
    in order. Connections open on first use; use the client as a context
    manager, or call :meth:`close`.

    Credentials: ``token`` (``"<role>:<secret>"``), ``token_file`` (one line
    ``<role> <secret>``) or ``credential``; when none is given,
    ``$CLOUD_TOKEN`` or ``$CLOUD_TOKEN_FILE``. A handshake runs on each new
    connection only when a credential is configured.

    TLS: ``tls=True`` verifies servers with the system's certificates,
    ``ca_file`` with that CA (and implies TLS), ``ssl_context`` with a
    context of your own; when none is given, ``$CLOUD_TLS_CA`` or
    ``$CLOUD_TLS=1``.

    Timeouts (seconds): ``connect_timeout`` per connection, ``request_timeout``
    per reply; waits take their own. ``parallel`` chunk requests are in flight
    per large transfer; ``direct`` sends objects straight to their owners.
    ``unavailable_retry`` is how long a request answered ``NACK:unavailable``
    (the ring is repairing) is retried.
    """

    def __init__(
        self,
        host: Union[str, Sequence[Any]] = "localhost",
        port: int = DEFAULT_PORT,
        *,
        token: Optional[str] = None,
        token_file: Optional[str] = None,
        credential: Optional[Credential] = None,
        tls: Optional[bool] = None,
        ca_file: Optional[str] = None,
        ssl_context: Optional[ssl.SSLContext] = None,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        request_timeout: float = REQUEST_TIMEOUT_S,
        parallel: int = PARALLEL_DEFAULT,
        connections: int = 8,
        direct: bool = True,
        unavailable_retry: float = 15.0,
        env: Optional[Mapping[str, str]] = None,
    ) -> None:
        environment = os.environ if env is None else env
        self._servers = _addresses(host, port)
        self._current = 0
        self._lock = threading.RLock()
        self._idle = {}  # type: Dict[str, List[Connection]]
        self._ring = None  # type: Optional[Ring]
        self._learned = False
        self._closed = False
        self._credential = self._pick_credential(token, token_file, credential, environment)
        self._ssl_context = self._pick_ssl(tls, ca_file, ssl_context, environment)
        self.connect_timeout = connect_timeout
        """Limit on connecting to one server, in seconds."""
        self.request_timeout = request_timeout
        """Limit on one reply, in seconds."""
        self.parallel = max(1, parallel)
        """Chunk requests in flight per large transfer."""
        self.connections = max(1, connections)
        """Idle connections kept per server."""
        self.direct = direct
        """Whether objects go straight to the servers that own them."""
        self.unavailable_retry = unavailable_retry
        """How long requests answered ``NACK:unavailable`` are retried, in seconds."""
        self._executor = None  # type: Optional[concurrent.futures.ThreadPoolExecutor]
        self._watcher = _Watcher(self)

    @staticmethod
    def _pick_credential(
        token: Optional[str],
        token_file: Optional[str],
        credential: Optional[Credential],
        env: Mapping[str, str],
    ) -> Optional[Credential]:
        if credential is not None:
            return credential
        if token is not None:
            return parse_token(token, "the token argument")
        if token_file is not None:
            return read_token_file(token_file)
        return credential_from_env(env)

    @staticmethod
    def _pick_ssl(
        tls: Optional[bool],
        ca_file: Optional[str],
        context: Optional[ssl.SSLContext],
        env: Mapping[str, str],
    ) -> Optional[ssl.SSLContext]:
        if context is not None:
            return context
        if ca_file is None and tls is None:
            ca_file = env.get("CLOUD_TLS_CA") or None
            tls = env.get("CLOUD_TLS", "") not in ("", "0", "false", "no")
        if ca_file is not None:
            return ssl.create_default_context(cafile=ca_file)
        if tls:
            return ssl.create_default_context()
        return None

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None, **options: Any) -> "ComputeCloud":
        """A client of the servers in ``$CLOUD_SERVER`` (``host:port``, or several
        separated by commas; default ``localhost:11111``), with the credential
        and TLS settings of the environment (see the class)."""
        environment = os.environ if env is None else env
        text = environment.get("CLOUD_SERVER") or "localhost:%d" % DEFAULT_PORT
        servers = [parse_server(part) for part in text.split(",") if part.strip()]
        return cls(servers, env=environment, **options)

    # -- context manager and closing ---------------------------------------

    def __enter__(self) -> "ComputeCloud":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        """Closes every connection (politely, with ``STOP``) and stops watching
        futures; futures still pending fail with CloudError ``closed``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            idle, self._idle = self._idle, {}
        self._watcher.close()
        for connections in idle.values():
            for connection in connections:
                connection.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    # -- servers -------------------------------------------------------------

    @property
    def server(self) -> str:
        """The server requests go to now, as ``host:port``."""
        with self._lock:
            host, port = self._servers[self._current]
        return "%s:%d" % (host, port)

    @property
    def servers(self) -> List[str]:
        """Every server known to fail over to, as ``host:port``."""
        with self._lock:
            return ["%s:%d" % server for server in self._servers]

    def refresh_servers(self) -> List[Tuple[str, int, int]]:
        """Asks for the ring's table (``GETS``), remembers every server for
        fail-over and the ring's positions; returns ``(host, port, salt)`` records."""
        reply = self._request(b"GETS", learn=False)
        if not reply.ok:
            raise _nack_error(reply)
        try:
            records = parse_servers(reply.fields)
        except ValueError as error:
            raise CloudError("reply", str(error)) from None
        with self._lock:
            for host, port, _ in records:
                if (host, port) not in self._servers:
                    self._servers.append((host, port))
            self._ring = Ring(records) if records else None
            self._learned = True
        return records

    def info(self) -> Dict[str, Any]:
        """What the server requests go to now says of itself (``INFO``)."""
        fields = self._call("INFO")
        return json.loads(b64decode(fields[0]).decode("utf-8"))

    # -- requests ------------------------------------------------------------

    def _take(self, address: str) -> Tuple[Connection, bool]:
        with self._lock:
            if self._closed:
                raise CloudError("closed", "Cannot send a request: the client is closed")
            idle = self._idle.get(address)
            while idle:
                connection = idle.pop()
                if not connection.closed:
                    return connection, True
        host, _, port = address.rpartition(":")
        connection = Connection.open(
            host,
            int(port),
            connect_timeout=self.connect_timeout,
            ssl_context=self._ssl_context,
            credential=self._credential,
            handshake_timeout=self.request_timeout,
        )
        return connection, False

    def _give(self, connection: Connection) -> None:
        with self._lock:
            if not self._closed and not connection.closed:
                idle = self._idle.setdefault(connection.address, [])
                if len(idle) < max(self.connections, self.parallel):
                    idle.append(connection)
                    return
        connection.close()

    def _request_at(self, address: str, payload: bytes, timeout: Optional[float]) -> Reply:
        """One request to one server; a reused connection that turns out closed is replaced once."""
        for attempt in (0, 1):
            connection, reused = self._take(address)
            try:
                reply = connection.request(payload, self.request_timeout if timeout is None else timeout)
            except CloudTimeoutError:
                raise
            except CloudConnectionError:
                if reused and attempt == 0:
                    continue
                raise
            except BaseException:
                connection.close(polite=False)
                raise
            if not reply.ok and reply.reason == "busy":
                connection.close(polite=False)
                return reply
            self._give(connection)
            return reply
        raise AssertionError("unreachable")

    def _request(self, payload: bytes, timeout: Optional[float] = None, learn: bool = True) -> Reply:
        """Sends a request to the current server, failing over to the next known
        server when one cannot be reached, times out or is busy.

        Raises RingUnreachableError when no known server answers.
        """
        if learn and not self._learned:
            self._ensure_learned()
        with self._lock:
            servers = list(self._servers)
            start = self._current
        errors = []  # type: List[Tuple[str, BaseException]]
        for step in range(len(servers)):
            index = (start + step) % len(servers)
            address = "%s:%d" % servers[index]
            try:
                reply = self._request_at(address, payload, timeout)
            except AuthError:
                raise
            except (CloudConnectionError, CloudTimeoutError) as error:
                errors.append((address, error))
                self._forget(address)
                _log.info("Server %s failed (%s); trying the next one", address, error)
                continue
            if not reply.ok and reply.reason == "busy":
                errors.append((address, CloudError("busy", reply.detail)))
                continue
            with self._lock:
                if self._servers[self._current % len(self._servers)] != servers[index]:
                    self._current = self._servers.index(servers[index])
            return reply
        last = errors[-1][1] if errors else None
        raise RingUnreachableError(
            "Cannot reach any server of the ring (tried %s): %s"
            % (", ".join(address for address, _ in errors), last),
            errors,
        )

    def _forget(self, address: str) -> None:
        with self._lock:
            idle = self._idle.pop(address, [])
            self._ring = None
        for connection in idle:
            connection.close(polite=False)

    def _request_via(self, owner: Optional[str], payload: bytes, timeout: Optional[float] = None) -> Reply:
        """Sends to ``owner`` when given (the server that holds what the request is
        about), else, or when that server fails, as :meth:`_request` does."""
        if owner is not None:
            try:
                reply = self._request_at(owner, payload, timeout)
                if reply.ok or reply.reason != "busy":
                    return reply
            except AuthError:
                raise
            except (CloudConnectionError, CloudTimeoutError) as error:
                _log.debug("Owner %s failed (%s); going through %s", owner, error, self.server)
            with self._lock:
                self._ring = None
        return self._request(payload, timeout)

    def _call(self, command: str, *fields: str, timeout: Optional[float] = None, owner: Optional[str] = None) -> List[str]:
        """Sends ``COMMAND:fields…`` and returns the ACK's fields; retries
        ``NACK:unavailable`` for up to ``unavailable_retry`` seconds.

        Raises CloudError (or a subclass) on a NACK.
        """
        payload = encode_request(command, *fields)
        deadline = time.monotonic() + self.unavailable_retry
        delay = 0.1
        while True:
            reply = self._request_via(owner, payload, timeout)
            if reply.ok:
                return reply.fields
            if reply.reason != "unavailable" or time.monotonic() + delay > deadline:
                raise _nack_error(reply)
            _log.info("%s answered unavailable (%s); retrying", command, reply.detail)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
            owner = None
            try:
                self.refresh_servers()
            except CloudError:
                pass

    def _owner(self, hash_value: int) -> Optional[str]:
        if not self.direct:
            return None
        with self._lock:
            ring = self._ring
        return ring.primary(hash_value) if ring is not None else None

    def _ensure_ring(self) -> None:
        if self.direct and self._ring is None:
            try:
                self.refresh_servers()
            except AuthError:
                raise
            except CloudError as error:
                _log.debug("Cannot learn the ring: %s", error)

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self.parallel, thread_name_prefix="computecloud-transfer"
                )
            return self._executor

    # -- uploads ---------------------------------------------------------------

    def add_string(self, name: str, contents: str, fresh: bool = False) -> FileObject:
        """Uploads ``contents`` (UTF-8) as a file named ``name``.

        Raises ValueError for a bad name (``:``, NUL, empty, over 1024 bytes).
        """
        return self.add_bytes(name, contents.encode("utf-8"), fresh=fresh)

    def add_bytes(self, name: str, data: Union[bytes, bytearray, memoryview], fresh: bool = False) -> FileObject:
        """Uploads ``data`` as a file named ``name``: in one object up to 45 000
        bytes, else in chunks. The same name and content give the same object
        (the salt comes from the content) unless ``fresh`` is set.

        Raises ValueError for a bad name; CloudError when the cloud refuses it.
        """
        validate_name(name)
        data = bytes(data)
        if len(data) <= INLINE_BYTES_MAX:
            return self._add_inline(name, data, fresh)
        view = memoryview(data)
        chunks = (view[i : i + CHUNK_BYTES_MAX] for i in range(0, len(data), CHUNK_BYTES_MAX))
        return self._add_chunked(name, chunks, fresh)

    def add_file(self, name: str, path: str, fresh: bool = False) -> FileObject:
        """Uploads the local file ``path`` as ``name``, streaming it from disk in
        chunks (never whole in memory) when it is larger than 45 000 bytes.

        Raises ValueError for a bad name, OSError when the file cannot be read.
        """
        validate_name(name)
        with open(path, "rb") as file:
            first = _read_exact(file, CHUNK_BYTES_MAX)
            second = _read_exact(file, CHUNK_BYTES_MAX)
            if not second:
                return self._add_inline(name, first, fresh)

            def chunks() -> Iterator[bytes]:
                yield first
                yield second
                while True:
                    chunk = _read_exact(file, CHUNK_BYTES_MAX)
                    if not chunk:
                        return
                    yield chunk

            return self._add_chunked(name, chunks(), fresh)

    def _add_inline(self, name: str, data: bytes, fresh: bool) -> FileObject:
        salt = secrets.randbits(32) if fresh else None
        expected = object_hash(name, salt) if salt is not None else file_hash(name, data)
        self._ensure_learned()
        fields = [name, b64encode(data)] + ([format_hash(salt)] if salt is not None else [])
        reply = self._call("ADD", *fields, owner=self._owner(expected))
        return self._uploaded(reply, name)

    def _add_chunked(self, name: str, chunks: Iterable[Any], fresh: bool) -> FileObject:
        self._ensure_ring()
        manifest, _, _ = store_chunks(self._store_object, chunks, CHUNK_BYTES_MAX, self._pool(), self.parallel)
        fields = [name, b64encode(manifest)]
        if fresh:
            fields.append(format_hash(secrets.randbits(32)))
        return self._uploaded(self._call("MADD", *fields), name)

    def _uploaded(self, fields: List[str], name: str) -> FileObject:
        file = FileObject(self, _reply_hash(fields), name, kind="file")
        file._settle("complete")
        return file

    def _ensure_learned(self) -> None:
        """Learns the ring once; a server that cannot tell it (a NACK) is used as it is."""
        if not self._learned:
            try:
                self.refresh_servers()
            except (RingUnreachableError, AuthError):
                raise
            except CloudError as error:
                _log.debug("Cannot learn the ring: %s", error)
                self._learned = True

    def _store_object(self, name: str, data: bytes, expected: int) -> int:
        return _reply_hash(self._call("ADD", name, b64encode(data), owner=self._owner(expected)))

    # -- jobs ------------------------------------------------------------------

    def add_job(
        self,
        name: str,
        code: Union[str, bytes],
        output_name: str,
        inputs: Iterable[InputLike] = (),
        fresh: bool = False,
    ) -> Tuple[FileObject, FileObject]:
        """Submits a job: Python ``code`` run with ``inputs`` readable at
        ``/net/<name>`` (the last input with a name wins); its stdout becomes the
        file ``output_name``. Returns ``(job, output)``; both are futures.

        Inputs are FileObjects (outputs of jobs not finished yet included: that
        makes a pipeline) or hashes. Submitting an identical job again returns
        the same job unless ``fresh`` is set.

        Raises ValueError for a bad name, input or a source over 16 KiB;
        CloudError when the cloud refuses the job (``unknown-input``, …).
        """
        validate_name(name, "job name")
        validate_name(output_name, "output name")
        source = code.encode("utf-8") if isinstance(code, str) else bytes(code)
        if len(source) > SOURCE_BYTES_MAX:
            raise ValueError(
                "Cannot submit job %r: its code is %d bytes (max %d); put data in input files"
                % (name, len(source), SOURCE_BYTES_MAX)
            )
        hashes = [format_hash(_input_hash(item)) for item in inputs]
        fields = [name, b64encode(source), output_name] + hashes
        if fresh:
            fields.append("salt=" + format_hash(secrets.randbits(32)))
        reply = self._call("JADD", *fields)
        if len(reply) != 2:
            raise CloudError("reply", "JADD reply has %d fields, expected 2" % len(reply))
        job = FileObject(self, _reply_hash(reply[:1]), name, kind="job")
        output = FileObject(self, _reply_hash(reply[1:]), output_name, kind="output", job=job)
        job.output = output
        self._watcher.add(output)
        return job, output

    def submit(
        self,
        code: Union[str, bytes],
        inputs: Iterable[InputLike] = (),
        output_name: str = "output",
        name: Optional[str] = None,
        fresh: bool = False,
    ) -> FileObject:
        """Submits a job (as :meth:`add_job`) and returns only its output future,
        as Dask's ``client.submit`` does. The job is named ``name`` or
        ``output_name``."""
        return self.add_job(name or output_name, code, output_name, inputs, fresh=fresh)[1]

    def map(
        self,
        code: Union[str, bytes],
        inputs_list: Iterable[Union[InputLike, Sequence[InputLike]]],
        output_name: str,
        name: Optional[str] = None,
        fresh: bool = False,
    ) -> List[FileObject]:
        """Submits one job of ``code`` per item of ``inputs_list`` (an input, or a
        sequence of inputs) and returns their output futures in order."""
        outputs = []
        for item in inputs_list:
            inputs = [item] if isinstance(item, (FileObject, str, int)) else list(item)
            outputs.append(self.submit(code, inputs, output_name, name=name, fresh=fresh))
        return outputs

    def gather(self, futures: Iterable[FileObject], timeout: Optional[float] = None) -> List[str]:
        """The results of ``futures`` in order, waiting at most ``timeout`` seconds
        in all. Raises the first failure (JobFailed) or CloudTimeoutError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        results = []
        for future in futures:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            results.append(future.result(remaining))
        return results

    def file(self, hash_value: Union[str, int], name: Optional[str] = None) -> FileObject:
        """A handle on an object already stored, by hash; a future of its completion."""
        value = parse_hash(hash_value) if isinstance(hash_value, str) else int(hash_value)
        handle = FileObject(self, value, name, kind="object")
        self._watcher.add(handle)
        return handle

    # -- waiting and reading -------------------------------------------------------

    def _wait_state(self, hash_value: int, timeout: float) -> str:
        """``WAIT``: the object's state once terminal or after ``timeout`` seconds."""
        milliseconds = max(0, min(int(timeout * 1000), 3600000))
        fields = self._call("WAIT", format_hash(hash_value), str(milliseconds), timeout=milliseconds / 1000 + 15)
        return fields[0] if fields else ""

    def _job_stderr_bytes(self, hash_value: int) -> bytes:
        return b64decode(self._call("GET", format_hash(hash_value))[0])

    def _failure_of(self, target: FileObject) -> BaseException:
        """The JobFailed explaining why ``target`` (a job or a file it made) failed."""
        try:
            job = target._job_handle()
            if job is None:
                return CloudError("failed", "%s %s failed" % (target.kind, target.hash))
            status = job.status()
            try:
                stderr = self._job_stderr_bytes(job.hash_value).decode("utf-8", "replace")
            except CloudError:
                stderr = ""
            return job_failed_from(job.hash, status, stderr)
        except CloudError as error:
            return JobFailed("unknown", "cannot tell why: %s" % error, job=target.hash)

    def _open(self, target: FileObject) -> Iterator[bytes]:
        """The content of a finished file; raises CloudError ``incomplete`` when it
        is not complete yet, JobFailed when its job failed."""
        hash_text = target.hash
        reply = self._request_via(self._owner(target.hash_value), encode_request("GET", hash_text))
        if reply.ok:
            if target.kind != "object":
                # A handle made from a hash may be a job, whose GET gives its stderr
                # even when it failed: its state comes from WAIT instead.
                target._settle("complete")
            return iter([b64decode(reply.fields[0] if reply.fields else "")])
        if reply.reason == "failed":
            error = self._failure_of(target)
            target._settle(None, error)
            raise error
        if reply.reason != "chunked":
            raise _nack_error(reply)
        encoded = self._call("GETM", hash_text)
        try:
            manifest = decode_manifest(b64decode(encoded[0]))
        except (ValueError, ManifestError) as error:
            raise CloudError("corrupt", "Cannot read file %s: its manifest is malformed: %s" % (hash_text, error)) from None
        target._settle("complete")
        self._ensure_ring()
        return read_chunks(self._fetch_copy, hash_text, manifest, self._pool(), self.parallel)

    def _open_waiting(self, target: FileObject, timeout: Optional[float]) -> Iterator[bytes]:
        if not target.done():
            try:
                return self._open(target)
            except CloudError as error:
                if error.reason != "incomplete":
                    raise
            target._wait_or_raise(timeout)
        if target.exception(0) is not None:
            raise target.exception(0)  # type: ignore[misc]
        return self._open(target)

    def _fetch_copy(self, hash_value: int, copy: int) -> Tuple[str, object]:
        owner = self._owner(hash_value)
        if copy > 0:
            with self._lock:
                ring = self._ring
            owners = ring.owners(hash_value, len(ring.members)) if ring is not None else []
            if copy >= len(owners):
                return "end", None
            owner = owners[copy]
        reply = self._request_via(owner, encode_request("GET", format_hash(hash_value)))
        if reply.ok:
            return "data", b64decode(reply.fields[0] if reply.fields else "")
        if reply.reason == "unavailable":
            raise _nack_error(reply)
        return "missing", "%s: %s" % (reply.reason, reply.detail)


class _Watcher:
    """Notices when watched futures finish: polls each with ``WAIT:<hash>:0``,
    first after 20 ms, then backing off to a second (longer when thousands
    are pending), on two daemon threads."""

    threads = 2

    def __init__(self, cloud: ComputeCloud) -> None:
        self._cloud = cloud
        self._condition = threading.Condition()
        self._heap = []  # type: List[Tuple[float, int, float, int, FileObject]]
        self._sequence = itertools.count()
        self._workers = []  # type: List[threading.Thread]
        self._closed = False

    def add(self, future: FileObject) -> None:
        """Watches ``future`` until it is settled."""
        with self._condition:
            if self._closed:
                return
            heapq.heappush(self._heap, (time.monotonic() + 0.02, next(self._sequence), 0.02, 0, future))
            if len(self._workers) < self.threads:
                worker = threading.Thread(target=self._run, name="computecloud-watcher", daemon=True)
                self._workers.append(worker)
                worker.start()
            self._condition.notify()

    def close(self) -> None:
        """Stops watching; pending futures fail with CloudError ``closed``."""
        with self._condition:
            self._closed = True
            pending = [entry[4] for entry in self._heap]
            self._heap = []
            self._condition.notify_all()
        for future in pending:
            future._settle(None, CloudError("closed", "The client was closed before %s finished" % future.hash))

    def _next(self) -> Optional[Tuple[float, int, FileObject]]:
        with self._condition:
            while True:
                if self._closed:
                    return None
                if self._heap:
                    due = self._heap[0][0]
                    now = time.monotonic()
                    if due <= now:
                        _, _, delay, missing, future = heapq.heappop(self._heap)
                        return delay, missing, future
                    self._condition.wait(due - now)
                else:
                    self._condition.wait()

    def _run(self) -> None:
        while True:
            item = self._next()
            if item is None:
                return
            delay, missing, future = item
            if future.done():
                continue
            try:
                state = self._cloud._wait_state(future.hash_value, 0)
            except CloudError as error:
                if self._closed:
                    return
                if error.reason == "not-found" and missing >= 2:
                    future._settle(None, error)
                    continue
                missing = missing + 1 if error.reason == "not-found" else missing
                state = ""
            except Exception as error:  # a bug: fail the future rather than lose it
                future._settle(None, error)
                continue
            if state in TERMINAL_STATES:
                try:
                    future._resolve(state)
                except Exception as error:
                    future._settle(None, error)
                continue
            with self._condition:
                if self._closed:
                    return
                cap = max(1.0, len(self._heap) / 1000.0)
                delay = min(delay * 2, cap)
                heapq.heappush(self._heap, (time.monotonic() + delay, next(self._sequence), delay, missing, future))


def _read_exact(file: Any, size: int) -> bytes:
    parts = []
    remaining = size
    while remaining > 0:
        part = file.read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def _input_hash(item: InputLike) -> int:
    if isinstance(item, FileObject):
        return item.hash_value
    if isinstance(item, str):
        try:
            return parse_hash(item)
        except ValueError:
            raise ValueError("Cannot use input %r: expected a FileObject or a hash of 8 hex digits" % item[:40]) from None
    if isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 0xFFFFFFFF:
        return item
    raise ValueError("Cannot use input %r: expected a FileObject or a hash" % (item,))


def _reply_hash(fields: List[str]) -> int:
    try:
        return parse_hash(fields[0])
    except (IndexError, ValueError):
        raise CloudError("reply", "Expected a hash in the reply, got %r" % (fields[:2],)) from None


def _nack_error(reply: Reply) -> CloudError:
    if reply.reason in ("auth", "forbidden"):
        return AuthError(reply.reason, "%s: %s" % (reply.reason, reply.detail))
    return CloudError(reply.reason, reply.detail or reply.reason)

