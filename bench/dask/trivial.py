"""Dask peer of the trivial-jobs scenario: tasks/s for a batch, and per-task latency.

Usage: trivial.py WORKERS TASKS RUNS LATENCY_SAMPLES
Each run submits TASKS trivial tasks one client.submit() at a time and gathers
them (throughput = TASKS / (first submit .. all results gathered)); then it
submits LATENCY_SAMPLES tasks one after another, each timed from submit() to
its result in the client. Prints {"runs": [{"tasksPerSecond", "p50Ms", "p99Ms", ...}]}.
"""

import sys

from common import exit_on_sigterm, local_cluster, log, now, percentile, report, versions


def trivial(i):
    """The Dask twin of the cloud job `print(1)`: return what it would print."""
    return "1\n"


def _throughput(client, tasks):
    start = now()
    futures = [client.submit(trivial, i, pure=False) for i in range(tasks)]
    results = client.gather(futures)
    elapsed = now() - start
    assert results.count("1\n") == tasks, "trivial tasks returned wrong results"
    del futures
    return tasks / elapsed, elapsed


def _latencies(client, samples):
    latencies = []
    for i in range(samples):
        start = now()
        client.submit(trivial, i, pure=False).result()
        latencies.append((now() - start) * 1000.0)
    latencies.sort()
    return latencies


def main(workers, tasks, runs, samples):
    from distributed import Client

    exit_on_sigterm()
    started = now()
    with local_cluster(workers) as cluster, Client(cluster) as client:
        log("cluster of %d workers up in %.2f s" % (workers, now() - started))
        _latencies(client, 5)  # warm the workers' imports and connections
        results = []
        for run in range(runs):
            tasks_per_second, elapsed = _throughput(client, tasks)
            latencies = _latencies(client, samples)
            results.append({
                "tasksPerSecond": tasks_per_second,
                "batchSeconds": elapsed,
                "p50Ms": percentile(latencies, 0.50),
                "p99Ms": percentile(latencies, 0.99),
            })
            log("run %d: %.0f tasks/s, p50 %.2f ms" % (run, tasks_per_second, results[-1]["p50Ms"]))
    report({"workers": workers, "tasks": tasks, "latencySamples": samples, "runs": results, "versions": versions()})


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:5]))
