"""Word count, reduce step: add up the counts of every map output.

As a cloud job: the source is this file preceded by one line
`PARAMS = {"inputs": ["/net/<map output 0>", ...]}`; the total goes to stdout.
From a shell: `wc_reduce.py '{"inputs": [...]}'`. The Dask driver and the
plain baseline import `merge_counts` instead.
Output: one `word count` line per distinct word, most frequent first, ties by word.
"""

import json
import sys


def merge_counts(parts):
    """Sum the `word count` lines of every string in `parts`; return the ranked total."""
    totals = {}
    for part in parts:
        for line in part.splitlines():
            word, count = line.split(" ")
            totals[word] = totals.get(word, 0) + int(count)
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    return "".join("%s %d\n" % item for item in ranked)


def _params():
    given = globals().get("PARAMS")
    return given if given is not None else json.loads(sys.argv[1])


if __name__ == "__main__":
    parts = []
    for path in _params()["inputs"]:
        with open(path, encoding="utf-8") as f:
            parts.append(f.read())
    sys.stdout.write(merge_counts(parts))
