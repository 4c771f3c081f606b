"""`python -m asyncmcp.proxy --backend sqs --port 8080 [--auth-token T] ...`"""

from __future__ import annotations

import argparse
import logging
import sys

from asyncmcp.cli.proxy import add_arguments, run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m asyncmcp.proxy", description="MCP proxy to a queue-backed server")
    add_arguments(parser)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
