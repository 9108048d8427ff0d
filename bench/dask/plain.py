"""Single-process baseline of the DAG workloads: the same step functions, called in a loop.

Usage: plain.py RUNS wordcount CORPUS_DIR
       plain.py RUNS nbody JOBS STEPS
Runs under CPython or PyPy (it imports no Dask). The shards are read into
memory first (not timed, reported as loadSeconds); a run's wall time covers
every map/kernel step and the reduce/combine step.
"""

import os
import sys
import time

WORKLOADS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "workloads")
sys.path.insert(0, WORKLOADS_DIR)

import hashlib  # noqa: E402
import json  # noqa: E402

from nbody import simulate  # noqa: E402
from nbody_combine import combine  # noqa: E402
from wc_map import count_words  # noqa: E402
from wc_reduce import merge_counts  # noqa: E402
from workloads_io import read_shards  # noqa: E402


def main(argv):
    runs, workload = int(argv[0]), argv[1]
    load_seconds = 0.0
    if workload == "wordcount":
        start = time.perf_counter()
        shards = read_shards(argv[2])
        load_seconds = time.perf_counter() - start
        run_once = lambda: merge_counts([count_words(shard) for shard in shards])  # noqa: E731
    else:
        jobs, steps = int(argv[2]), int(argv[3])
        run_once = lambda: combine([simulate(index, steps) for index in range(jobs)])  # noqa: E731
    results = []
    for _ in range(runs):
        start = time.perf_counter()
        output = run_once()
        wall = time.perf_counter() - start
        results.append({
            "wallSeconds": wall,
            "digest": hashlib.sha256(output.encode("utf-8")).hexdigest(),
            "outputBytes": len(output),
        })
        sys.stderr.write("[plain.py] %s: %.2f s\n" % (workload, wall))
    implementation = sys.implementation.name
    version = sys.version.split()[0]
    sys.stdout.write(json.dumps({"workload": workload, "loadSeconds": load_seconds, "runs": results,
                                 "versions": {implementation: version}}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
