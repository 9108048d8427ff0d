"""Shared helpers of the Dask peer scripts: cluster, timing, JSON report.

Every script prints exactly one JSON object as the last line of stdout; logs
go to stderr. SIGTERM is turned into SystemExit so the LocalCluster's `with`
block shuts the workers down; the TypeScript driver also kills the whole
process group if a script overruns its time limit.
"""

import hashlib
import json
import logging
import math
import os
import signal
import sys
import tempfile
import time

WORKLOADS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "workloads")
if WORKLOADS_DIR not in sys.path:
    sys.path.insert(0, WORKLOADS_DIR)


def exit_on_sigterm():
    """Make SIGTERM unwind the stack (closing clusters) instead of killing the process outright."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def log(message):
    sys.stderr.write("[%s] %s\n" % (os.path.basename(sys.argv[0]), message))
    sys.stderr.flush()


def report(payload):
    """Print the script's result: one JSON line, the last line of stdout."""
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def digest(text):
    """The digest every system prints for a final output: sha256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def percentile(sorted_values, fraction):
    """Nearest-rank percentile of an ascending list (the same rule as bench/stats.ts)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def now():
    return time.perf_counter()


def local_cluster(workers):
    """A LocalCluster of `workers` single-threaded worker processes, quiet, in a temporary directory."""
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        local_directory=tempfile.mkdtemp(prefix="bench-dask-"),
        silence_logs=logging.ERROR,
    )


def versions():
    import dask
    import distributed

    return {"dask": dask.__version__, "distributed": distributed.__version__, "python": sys.version.split()[0]}
