"""CPU kernel, combining step: gather the 16 simulation lines in index order.

As a cloud job: the source is this file preceded by one line
`PARAMS = {"inputs": ["/net/<kernel output 0>", ...]}`; the result goes to
stdout. From a shell: `nbody_combine.py '{"inputs": [...]}'`. The Dask driver
and the plain baseline import `combine` instead.
Output: the input lines sorted by index, then `drift <sum of |after - before|>`.
"""

import json
import sys


def combine(parts):
    """Sort the `index before after` lines of `parts` by index and append the total energy drift."""
    rows = []
    for part in parts:
        for line in part.splitlines():
            index, before, after = line.split(" ")
            rows.append((int(index), float(before), float(after)))
    rows.sort()
    drift = 0.0
    for _, before, after in rows:
        drift += abs(after - before)
    lines = ["%d %r %r\n" % row for row in rows]
    return "".join(lines) + "drift %r\n" % drift


def _params():
    given = globals().get("PARAMS")
    return given if given is not None else json.loads(sys.argv[1])


if __name__ == "__main__":
    parts = []
    for path in _params()["inputs"]:
        with open(path, encoding="utf-8") as f:
            parts.append(f.read())
    sys.stdout.write(combine(parts))
