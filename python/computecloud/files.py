"""``FileObject``: a file or job stored in the cloud, and a future of its result.

A job's output (and the job itself) is a real
:class:`concurrent.futures.Future`: ``result(timeout)``, ``done()``,
``exception()``, ``add_done_callback()``, and ``concurrent.futures.wait`` /
``as_completed`` all work. A background watcher of the client notices
when it finishes; ``result()`` and ``get()`` also wait for it themselves.
"""

import concurrent.futures
import json
import os
import tempfile
import threading
import time
from typing import TYPE_CHECKING, Any, Dict, Iterator, Optional

from .errors import CloudError, CloudTimeoutError, JobFailed
from .hashing import format_hash
from .message import b64decode

if TYPE_CHECKING:  # pragma: no cover
    from .cloud import ComputeCloud

#: How long ``get()``, ``get_bytes()``, ``save()`` and ``stderr()`` wait by default, in seconds.
GET_TIMEOUT_S = 600.0
#: States after which an object never changes.
TERMINAL_STATES = frozenset(("complete", "failed", "done"))
#: Kinds of FileObject.
KINDS = ("file", "output", "job", "object")


class FileObject(concurrent.futures.Future):
    """A file or job stored in the cloud (the original design's ``ComputeCloud.FileObject``).

    ``kind`` is ``file`` (uploaded), ``output`` (of a job), ``job``, or
    ``object`` (a handle made from a hash). As a future, it completes when
    the object is finished: its ``result()`` is the content as ``str``
    (UTF-8; for a job, its stderr) and a failed job's output raises
    :class:`JobFailed`. A future cannot be cancelled (``cancel()`` returns
    False): the job runs on.
    """

    def __init__(
        self,
        cloud: "ComputeCloud",
        hash_value: int,
        name: Optional[str] = None,
        kind: str = "object",
        job: "Optional[FileObject]" = None,
    ) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError("Cannot make a FileObject of kind %r (one of %s)" % (kind, ", ".join(KINDS)))
        # Running: a job cannot be cancelled from here.
        self.set_running_or_notify_cancel()
        self._cloud = cloud
        self._hash = hash_value & 0xFFFFFFFF
        self._settle_lock = threading.Lock()
        self.name = name
        """The name given when it was stored (None for a handle made from a hash)."""
        self.kind = kind
        """``file``, ``output``, ``job`` or ``object``."""
        self.job = job
        """For a job's output: the job (else None)."""
        self.output = None  # type: Optional[FileObject]
        """For a job: its output file (else None)."""

    # -- identity ---------------------------------------------------------

    @property
    def hash(self) -> str:
        """The object's hash as 8 lower-case hex digits."""
        return format_hash(self._hash)

    @property
    def hash_value(self) -> int:
        """The object's hash as an integer."""
        return self._hash

    def __repr__(self) -> str:
        state = "finished" if self.done() else "pending"
        return "<FileObject %s %s %r %s>" % (self.kind, self.hash, self.name, state)

    # -- settling the future ----------------------------------------------

    def _settle(self, state: Optional[str], error: Optional[BaseException] = None) -> None:
        with self._settle_lock:
            if self.done():
                return
            if error is not None:
                self.set_exception(error)
            else:
                self.set_result(state)

    def _resolve(self, state: str) -> None:
        """Settles this future (and its job or output) for a terminal ``state``."""
        if state in ("complete", "done"):
            self._settle(state)
            partner = self.job if self.kind == "output" else self.output
            if partner is not None:
                partner._settle("done" if partner.kind == "job" else "complete")
            return
        error = self._cloud._failure_of(self)
        self._settle(None, error)
        partner = self.job if self.kind == "output" else self.output
        if partner is not None:
            partner._settle(None, error)

    # -- waiting ------------------------------------------------------------

    def wait(self, timeout: Optional[float] = GET_TIMEOUT_S) -> str:
        """Waits until the object is finished or ``timeout`` seconds pass (None: no
        limit); returns its state then (``complete``, ``done``, ``failed``, or an
        unfinished state such as ``incomplete`` or ``leased`` on timeout).
        """
        if self.done():
            return self._final_state()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = 30.0 if deadline is None else max(0.0, deadline - time.monotonic())
            state = self._cloud._wait_state(self._hash, min(remaining, 30.0))
            if state in TERMINAL_STATES:
                self._resolve(state)
                return state
            if self.done():
                return self._final_state()
            if deadline is not None and time.monotonic() >= deadline:
                return state

    def _final_state(self) -> str:
        if self.exception(0) is not None:
            return "failed"
        return str(super().result(0))

    def _wait_or_raise(self, timeout: Optional[float]) -> None:
        if self.done():
            return
        state = self.wait(timeout)
        if not self.done():
            raise CloudTimeoutError(
                "%s %s is still %s after %s s" % (self.kind, self.hash, state, timeout)
            )

    def result(self, timeout: Optional[float] = None) -> str:
        """Waits up to ``timeout`` seconds (None: no limit) and returns the content as
        ``str`` (for a job: its stderr).

        Raises JobFailed when the job failed, CloudTimeoutError (a
        ``concurrent.futures.TimeoutError``) when it is not finished in time.
        """
        self._wait_or_raise(timeout)
        super().result(0)
        return self.get(timeout=GET_TIMEOUT_S if timeout is None else max(timeout, 1.0))

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        """Waits up to ``timeout`` seconds and returns the failure (JobFailed), or None."""
        if not self.done():
            if timeout == 0:
                raise CloudTimeoutError("%s %s is not finished" % (self.kind, self.hash))
            self._wait_or_raise(timeout)
        return super().exception(0)

    # -- reading ------------------------------------------------------------

    def get(self, timeout: Optional[float] = GET_TIMEOUT_S) -> str:
        """Waits (up to ``timeout`` seconds) for the object to finish and returns its
        content decoded as UTF-8; for a job, its stderr.

        Raises JobFailed when the job producing it failed, CloudTimeoutError
        when it is not finished in time, CloudError (``not-found``, …) else,
        UnicodeDecodeError when the content is not UTF-8 (use
        :meth:`get_bytes`).
        """
        return self.get_bytes(timeout).decode("utf-8")

    def get_bytes(self, timeout: Optional[float] = GET_TIMEOUT_S) -> bytes:
        """Like :meth:`get`, as bytes. A chunked file is assembled in memory: for
        large files use :meth:`save` or :meth:`stream`."""
        return b"".join(self.stream(timeout))

    def stream(self, timeout: Optional[float] = GET_TIMEOUT_S) -> Iterator[bytes]:
        """Waits for the object to finish, then yields its content in pieces with
        bounded memory, each checked; raises CloudError ``corrupt`` after the last
        piece when the whole does not match its manifest (discard what was read)."""
        if self.kind == "job":
            self._wait_or_raise(timeout)
            return iter([self._cloud._job_stderr_bytes(self._hash)])
        return self._cloud._open_waiting(self, timeout)

    def save(self, path: str, timeout: Optional[float] = GET_TIMEOUT_S) -> int:
        """Streams the content into the file ``path`` and returns the bytes written.

        Writes a temporary file beside ``path`` and renames it over ``path`` only
        once the whole content is written, checked and flushed; on any error
        the temporary file is removed and ``path`` is left as it was.
        """
        target = os.path.abspath(path)
        directory, base = os.path.split(target)
        descriptor, temporary = tempfile.mkstemp(prefix="." + base + ".", suffix=".part", dir=directory)
        written = 0
        try:
            with os.fdopen(descriptor, "wb") as file:
                for piece in self.stream(timeout):
                    file.write(piece)
                    written += len(piece)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise
        return written

    def status(self) -> Dict[str, Any]:
        """What the server says of the object now (``STAT``): ``hash``, ``kind``
        (``file`` or ``job``), ``state``, and the summary's keys (``name``,
        ``size``; for a job ``reason``, ``exitCode``, ``detail``, ``inputs``, …)."""
        fields = self._cloud._call("STAT", self.hash)
        summary = json.loads(b64decode(fields[2] if len(fields) > 2 else "").decode("utf-8") or "{}")
        status = {"hash": self.hash, "kind": fields[0], "state": fields[1] if len(fields) > 1 else ""}
        for key, value in summary.items():
            status.setdefault(key, value)
        return status

    def stderr(self, timeout: Optional[float] = GET_TIMEOUT_S) -> str:
        """The job's stderr once it has finished (for an output: its job's), as text
        (undecodable bytes replaced)."""
        job = self._job_handle()
        if job is None:
            raise CloudError("not-a-job", "%s %s was not made by a job" % (self.kind, self.hash))
        job._wait_or_raise(timeout)
        return self._cloud._job_stderr_bytes(job._hash).decode("utf-8", "replace")

    def _job_handle(self) -> "Optional[FileObject]":
        if self.kind == "job":
            return self
        if self.job is not None:
            return self.job
        if self.kind == "file":
            return None
        status = self.status()
        if status["kind"] == "job":
            return self
        job = status.get("job")
        if not isinstance(job, str):
            return None
        return self._cloud.file(job)


def job_failed_from(
    job_hash: str, status: Dict[str, Any], stderr: str, fallback_detail: str = ""
) -> JobFailed:
    """A JobFailed from a job's ``STAT`` status and its stderr."""
    exit_code = status.get("exitCode")
    return JobFailed(
        str(status.get("reason") or "unknown"),
        str(status.get("detail") or fallback_detail),
        job=job_hash,
        job_name=status.get("name") if isinstance(status.get("name"), str) else None,
        exit_status=exit_code if isinstance(exit_code, int) else None,
        stderr=stderr,
    )
