"""The `asyncmcp` command: serve, proxy, local, demo, bench.

Each subcommand lives in its own module; this one only parses arguments and dispatches.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    from asyncmcp.cli import bench, demo, local, proxy, serve

    parser = argparse.ArgumentParser(prog="asyncmcp", description="MCP over asynchronous channels")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    commands = parser.add_subparsers(dest="command", required=True)
    serve.add_parser(commands)
    local.add_parser(commands)
    demo.add_parser(commands)
    bench.add_parser(commands)
    proxy.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    return int(args.run(args) or 0)
