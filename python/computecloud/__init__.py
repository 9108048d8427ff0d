"""A Python client of ``cloud``, the distributed Python compute service.

Standard library only, Python 3.8 or newer. The original design's API::

    from computecloud import ComputeCloud

    with ComputeCloud("localhost", 11111) as cloud:
        f = cloud.add_string("name1", "contents")
        g = cloud.add_file("name2", "./path/to/file")
        print(f.get())
        code = 'for path in ["/net/name1", "/net/name2"]:\\n    print(open(path).read())\\n'
        job, out = cloud.add_job("jobname", code, "outputname", [f, g])
        print(out.get())

A job's output is a ``concurrent.futures.Future``; see docs/PYTHON.md.
"""

from .auth import Credential
from .cloud import ComputeCloud, parse_server
from .errors import (
    AuthError,
    CloudConnectionError,
    CloudError,
    CloudTimeoutError,
    InvalidNameError,
    JobFailed,
    ProtocolError,
    RingUnreachableError,
)
from .files import FileObject

__all__ = [
    "AuthError",
    "CloudConnectionError",
    "CloudError",
    "CloudTimeoutError",
    "ComputeCloud",
    "Credential",
    "FileObject",
    "InvalidNameError",
    "JobFailed",
    "ProtocolError",
    "RingUnreachableError",
    "parse_server",
]

#: The package's version.
__version__ = "0.1.0"

# The original design's spelling: ComputeCloud.FileObject.
ComputeCloud.FileObject = FileObject  # type: ignore[attr-defined]
