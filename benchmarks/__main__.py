"""`python -m benchmarks [--output docs/benchmarks.md] [--quick]` (what `make bench` runs), from the repository root."""

from __future__ import annotations

import argparse
import sys

from benchmarks.run import main


def cli() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--output", default=None, help="write the markdown report here (e.g. docs/benchmarks.md)")
    parser.add_argument("--quick", action="store_true", help="fewer samples, for a smoke run")
    args = parser.parse_args()
    return main(output=args.output, quick=args.quick)


if __name__ == "__main__":
    sys.exit(cli())
