"""Dask peer of the DAG workloads: the very step functions of bench/workloads/.

Usage: dag.py WORKERS RUNS wordcount CORPUS_DIR
       dag.py WORKERS RUNS nbody JOBS STEPS
wordcount: the shards are read and scattered to the workers first (not timed,
reported as loadSeconds), then each run submits one count_words task per shard
and one merge_counts task over their results. nbody: one simulate task per
index, then one combine task. A run's wall time is from the first submit to
the final output in the client. Prints {"runs": [{"wallSeconds", "digest"}], ...}.
"""

import sys

from common import digest, exit_on_sigterm, local_cluster, log, now, report, versions
from workloads_io import read_shards


def _import_steps():
    import nbody  # noqa: F401
    import nbody_combine  # noqa: F401
    import wc_map  # noqa: F401
    import wc_reduce  # noqa: F401


def _wordcount_run(client, shard_futures):
    from wc_map import count_words
    from wc_reduce import merge_counts

    start = now()
    counts = [client.submit(count_words, shard, pure=False) for shard in shard_futures]
    output = client.submit(merge_counts, counts, pure=False).result()
    return now() - start, output


def _nbody_run(client, jobs, steps):
    from nbody import simulate
    from nbody_combine import combine

    start = now()
    parts = [client.submit(simulate, index, steps, pure=False) for index in range(jobs)]
    output = client.submit(combine, parts, pure=False).result()
    return now() - start, output


def main(argv):
    from distributed import Client

    exit_on_sigterm()
    workers, runs, workload = int(argv[0]), int(argv[1]), argv[2]
    with local_cluster(workers) as cluster, Client(cluster) as client:
        client.run(_import_steps)
        load_seconds = 0.0
        if workload == "wordcount":
            start = now()
            shards = read_shards(argv[3])
            shard_futures = client.scatter(shards)
            load_seconds = now() - start
            run_once = lambda: _wordcount_run(client, shard_futures)  # noqa: E731
        else:
            jobs, steps = int(argv[3]), int(argv[4])
            run_once = lambda: _nbody_run(client, jobs, steps)  # noqa: E731
        results = []
        for run in range(runs):
            wall, output = run_once()
            results.append({"wallSeconds": wall, "digest": digest(output), "outputBytes": len(output)})
            log("%s run %d: %.2f s" % (workload, run, wall))
    report({"workload": workload, "workers": workers, "loadSeconds": load_seconds, "runs": results,
            "versions": versions()})


if __name__ == "__main__":
    main(sys.argv[1:])
