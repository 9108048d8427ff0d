"""The original design's test scenario: two files and a job that prints them.

``python3 -m computecloud [<port>|<host> <port>]`` (or ``python3 client.py …``)
runs it against that server (default localhost 11111).
"""

import sys
from typing import List, Optional

from .cloud import ComputeCloud
from .errors import CloudError, JobFailed

#: The job of the scenario: print both inputs.
SCENARIO_CODE = 'for path in ["/net/name1", "/net/name2"]:\n    print(open(path, "r").read())\n'


def scenario(cloud: ComputeCloud, timeout: float = 600.0) -> str:
    """Runs the scenario on ``cloud``, printing as it goes; returns the job's output."""
    f = cloud.add_string("name1", "contents")
    g = cloud.add_string("name2", "more contents\n")
    print(f.get())
    job, out = cloud.add_job("jobname", SCENARIO_CODE, "outputname", [f, g])
    print("name1 %s\nname2 %s\njob %s output %s" % (f.hash, g.hash, job.hash, out.hash))
    output = out.get(timeout=timeout)
    sys.stdout.write(output)
    sys.stdout.flush()
    return output


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the scenario for ``[<port>|<host> <port>]``; returns the exit status:
    0 done, 1 the job failed, 2 bad usage, 3 no server reachable."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 2 or any(arg.startswith("-") for arg in args):
        print("usage: client.py [<port>|<host> <port>]", file=sys.stderr)
        return 2
    host = args[0] if len(args) == 2 else "localhost"
    port_text = args[-1] if args else "11111"
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        print("client.py: invalid port %r" % port_text, file=sys.stderr)
        return 2
    try:
        with ComputeCloud(host, int(port_text)) as cloud:
            scenario(cloud)
    except JobFailed as error:
        print("client.py: %s" % error, file=sys.stderr)
        return 1
    except ConnectionError as error:
        print("client.py: %s" % error, file=sys.stderr)
        return 3
    except CloudError as error:
        print("client.py: %s" % error, file=sys.stderr)
        return 1
    return 0
