"""`asyncmcp bench`: measure latency, throughput and AWS cost on the embedded endpoint."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("bench", help="benchmark the transports on the embedded endpoint")
    parser.add_argument("--output", default=None, help="write the markdown report here (e.g. docs/benchmarks.md)")
    parser.add_argument("--quick", action="store_true", help="fewer samples, for a smoke run")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from asyncmcp.bench import main

    return main(output=args.output, quick=args.quick)
