"""`python -m asyncmcp.proxy --backend sqs --port 8080 [--auth-token T] ...`: the same as `asyncmcp proxy ...`."""

from __future__ import annotations

import sys

from asyncmcp.cli import main

if __name__ == "__main__":
    sys.exit(main(["proxy", *sys.argv[1:]], prog="python -m asyncmcp.proxy"))
