"""Word count, map step: count the words of one shard.

As a cloud job: the source is this file preceded by one line
`PARAMS = {"input": "/net/<shard name>"}`; the counts go to stdout, which
becomes the job's output file. From a shell: `wc_map.py '{"input": "path"}'`.
The Dask driver and the plain baseline import `count_words` instead.
Output: one `word count` line per distinct word, sorted by word.
"""

import collections
import json
import sys


def count_words(text):
    """Return the counts of the whitespace-separated words of `text`, one `word count` line each."""
    counts = collections.Counter(text.split())
    return "".join("%s %d\n" % item for item in sorted(counts.items()))


def _params():
    given = globals().get("PARAMS")
    return given if given is not None else json.loads(sys.argv[1])


if __name__ == "__main__":
    with open(_params()["input"], encoding="utf-8") as f:
        sys.stdout.write(count_words(f.read()))
