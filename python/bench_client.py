#!/usr/bin/env python3
"""Measures the Python client against a running ring; prints one JSON object.

    bench_client.py objects HOST PORT [--seconds S] [--size BYTES]
        ADD of a fresh object per operation, then GET of preloaded objects,
        one connection, closed loop: ops/s and latency percentiles.
    bench_client.py jobs HOST PORT [--count N]
        Trivial jobs (``print(1)``, fresh each) one after another: the time
        from add_job() to the output's result(), median and percentiles.

Driven by bench/python_client.ts, which starts the server and runner and
compares with the TypeScript client; it can also be run by hand.
"""

import argparse
import json
import os
import statistics
import sys
import time
from typing import Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from computecloud import ComputeCloud  # noqa: E402


def percentiles(samples: List[float]) -> Dict[str, float]:
    """p50, p90 and p99 of ``samples`` (seconds), in milliseconds."""
    ordered = sorted(samples)

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000

    return {"p50_ms": at(0.5), "p90_ms": at(0.9), "p99_ms": at(0.99)}


def objects(cloud: ComputeCloud, seconds: float, size: int) -> Dict[str, object]:
    """ADD then GET of ``size``-byte objects for ``seconds`` each, one connection."""
    tag = os.urandom(4).hex()
    body = os.urandom(size)
    latencies = []  # type: List[float]
    count = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        data = count.to_bytes(8, "big") + body[8:]
        begin = time.perf_counter()
        cloud.add_bytes("w-%s-%d" % (tag, count), data)
        latencies.append(time.perf_counter() - begin)
        count += 1
    add = dict(ops_per_s=count / (time.perf_counter() - started), ops=count, **percentiles(latencies))
    preloaded = [cloud.add_bytes("pre-%s-%d" % (tag, i), i.to_bytes(8, "big") + body[8:]) for i in range(100)]
    latencies = []
    count = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        begin = time.perf_counter()
        data = preloaded[count % len(preloaded)].get_bytes()
        latencies.append(time.perf_counter() - begin)
        if len(data) != size:
            raise AssertionError("GET returned %d bytes, expected %d" % (len(data), size))
        count += 1
    get = dict(ops_per_s=count / (time.perf_counter() - started), ops=count, **percentiles(latencies))
    return {"add": add, "get": get}


def jobs(cloud: ComputeCloud, count: int) -> Dict[str, object]:
    """``count`` trivial jobs one after another: submit-to-result latency."""
    warm = cloud.submit("print(1)\n", [], "bench-warm", fresh=True)
    warm.result(timeout=120)
    latencies = []  # type: List[float]
    for _ in range(count):
        begin = time.perf_counter()
        out = cloud.submit("print(1)\n", [], "bench-trivial", fresh=True)
        result = out.result(timeout=120)
        latencies.append(time.perf_counter() - begin)
        if result != "1\n":
            raise AssertionError("unexpected output %r" % result)
    return dict(count=count, median_ms=statistics.median(latencies) * 1000, **percentiles(latencies))


def main() -> int:
    """Parses the arguments, runs one measurement, prints JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["objects", "jobs"])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--count", type=int, default=50)
    args = parser.parse_args()
    with ComputeCloud(args.host, args.port, connections=1, parallel=1) as cloud:
        result = objects(cloud, args.seconds, args.size) if args.what == "objects" else jobs(cloud, args.count)
    result["python"] = "%s %s" % (sys.implementation.name, sys.version.split()[0])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
