"""The exceptions of the client.

Every error the client raises on purpose is a :class:`CloudError`; those
about reaching servers are also built-in ``ConnectionError``s, timeouts
also ``TimeoutError``s (and ``concurrent.futures.TimeoutError``), bad names
also ``ValueError``s.
"""

import concurrent.futures
from typing import List, Optional, Tuple


class CloudError(Exception):
    """A request the cloud refused, or data it returned that cannot be used.

    ``reason`` is the NACK reason (``not-found``, ``incomplete``, ``too-large``,
    …, docs/PROTOCOL.md section 6) or a client-side one (``corrupt``,
    ``chunk-missing``, ``chunk-corrupt``, ``timeout``, ``closed``);
    ``detail`` is the human-readable text.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail or reason


class InvalidNameError(CloudError, ValueError):
    """A file, job or output name the protocol cannot carry (``:``, NUL, empty, too long)."""

    def __init__(self, detail: str) -> None:
        super().__init__("name", detail)


class CloudConnectionError(CloudError, ConnectionError):
    """A server could not be reached, closed the connection, or broke the protocol.

    ``address`` is the server's ``host:port`` when known.
    """

    def __init__(self, detail: str, address: str = "", reason: str = "connect") -> None:
        super().__init__(reason, detail)
        self.address = address


class ProtocolError(CloudConnectionError):
    """A server sent something that is not a valid frame or reply; the connection is dropped."""

    def __init__(self, detail: str, address: str = "") -> None:
        super().__init__(detail, address, reason="protocol")


class RingUnreachableError(CloudConnectionError):
    """No server of the ring could be reached; ``errors`` lists ``(address, error)`` per server."""

    def __init__(self, detail: str, errors: Optional[List[Tuple[str, BaseException]]] = None) -> None:
        super().__init__(detail, reason="unreachable")
        self.errors = list(errors or [])


if concurrent.futures.TimeoutError is TimeoutError:  # Python 3.11 and later
    _TIMEOUT_BASES = (CloudError, TimeoutError)  # type: tuple
else:  # pragma: no cover - Python 3.8 to 3.10
    _TIMEOUT_BASES = (CloudError, TimeoutError, concurrent.futures.TimeoutError)


class CloudTimeoutError(*_TIMEOUT_BASES):  # type: ignore[misc]
    """A reply or a wait did not come in time.

    Also a ``TimeoutError`` and a ``concurrent.futures.TimeoutError``, so
    ``Future.result(timeout)`` callers catch it as they would any future's.
    """

    def __init__(self, detail: str, address: str = "") -> None:
        CloudError.__init__(self, "timeout", detail)
        self.address = address


class AuthError(CloudError):
    """The server refused this client's credential (``auth``) or role (``forbidden``),
    or the handshake could not be completed."""


class JobFailed(CloudError):
    """A job failed: its output will never be complete.

    ``reason`` is the failure reason (``exception``, ``timeout``, ``memory``,
    ``output-limit``, ``input-error``, ``killed``, ``input-failed``,
    ``lost``, …); ``exit_status`` the job's exit status (None when it did
    not run); ``stderr`` what the server kept of its stderr (at most 8 KiB),
    ``stderr_tail`` its last lines; ``job`` and ``job_name`` say which job.
    """

    def __init__(
        self,
        reason: str,
        detail: str,
        job: str = "",
        job_name: Optional[str] = None,
        exit_status: Optional[int] = None,
        stderr: str = "",
    ) -> None:
        self.job = job
        self.job_name = job_name
        self.exit_status = exit_status
        self.stderr = stderr
        self.failure_detail = detail
        message = "job %s (%s) failed (%s)" % (job_name or "?", job or "?", reason)
        if exit_status is not None:
            message += ", exit status %d" % exit_status
        if detail:
            message += ": " + detail
        tail = self.stderr_tail
        if tail:
            message += "\nstderr (last lines):\n" + tail
        super().__init__(reason, message)

    @property
    def stderr_tail(self) -> str:
        """The last 20 lines (at most 2000 characters) of the job's stderr."""
        lines = self.stderr.rstrip("\n").split("\n")[-20:]
        return "\n".join(lines)[-2000:] if self.stderr.strip() else ""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (
            JobFailed,
            (self.reason, self.failure_detail, self.job, self.job_name, self.exit_status, self.stderr),
        )
