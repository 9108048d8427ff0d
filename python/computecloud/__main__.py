"""``python3 -m computecloud [<port>|<host> <port>]``: the original test scenario."""

import sys

from .scenario import main

sys.exit(main())
