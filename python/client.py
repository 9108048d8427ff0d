#!/usr/bin/env python3
"""The original design's client module: ``from client import ComputeCloud``.

Re-exports the :mod:`computecloud` package. Run as a script,
``python3 client.py [<port>|<host> <port>]`` runs the original test
scenario against that server (default localhost 11111): two files and a
job that prints them, then the job's output.
"""

import sys

from computecloud import *  # noqa: F401,F403  (the names of the original module)
from computecloud import __all__ as _package_names
from computecloud.scenario import main, scenario

__all__ = list(_package_names) + ["main", "scenario"]

if __name__ == "__main__":
    sys.exit(main())
