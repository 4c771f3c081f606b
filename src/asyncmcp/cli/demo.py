"""`asyncmcp demo`: endpoint, server process and client process, end to end, then clean up.

Everything binds 127.0.0.1 and every process started here is stopped before it returns, also
when the demo fails or is interrupted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import Any

from asyncmcp.cli.local import create_demo_queues
from asyncmcp.local.endpoint import LocalEndpoint

__all__ = ["add_parser"]

SERVER_STOP_TIMEOUT = 15.0


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("demo", help="run a server and a client over the embedded SQS endpoint")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    print("starting the embedded SQS endpoint on 127.0.0.1 ...", flush=True)
    with LocalEndpoint.subprocess() as endpoint:
        request, reply = create_demo_queues(endpoint, "demo")
        env = {
            **os.environ,
            **endpoint.environment(),
            "ASYNCMCP_REQUEST_QUEUE_URL": request,
            "ASYNCMCP_REPLY_QUEUE_URL": reply,
        }
        print(f"request queue: {request}\nreply queue:   {reply}", flush=True)
        server = subprocess.Popen(
            [sys.executable, "-m", "asyncmcp", "serve", "asyncmcp.demo.server:server", "--request-queue-url", request],
            env=env,
        )
        try:
            print(f"server process {server.pid} started; running the client ...", flush=True)
            client = subprocess.run([sys.executable, "-m", "asyncmcp.demo.client"], env=env, check=False)
        finally:
            server.terminate()
            try:
                server.wait(timeout=SERVER_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        if client.returncode != 0:
            print("demo failed: the client did not complete", file=sys.stderr)
            return 1
    print("demo finished; the endpoint and the server have stopped.", flush=True)
    return 0
