"""The child process of the client memory figure: `python -m benchmarks.client_child URL URL`.

A module of its own, not imported by the package, so `-m` runs it without importing it twice and
the process holds nothing but the client side it measures. Its one line of stdout is the result.
"""

from __future__ import annotations

import argparse
import json
import sys

import anyio

from benchmarks.memory import client_child

__all__ = ["main"]


def main() -> None:
    parser = argparse.ArgumentParser(description="asyncmcp bench: client memory child")
    parser.add_argument("request_url")
    parser.add_argument("reply_url")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    report = anyio.run(client_child, args.request_url, args.reply_url, args.calls, args.clients, args.seconds)
    sys.stdout.write(json.dumps(report.__dict__) + "\n")


if __name__ == "__main__":
    main()
