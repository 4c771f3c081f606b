"""`asyncmcp local`: run the embedded SQS/SNS endpoint with a request and a reply queue until interrupted."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from asyncmcp.local.endpoint import LocalEndpoint

__all__ = ["add_parser", "create_demo_queues"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("local", help="run an embedded SQS/SNS endpoint on 127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="port to listen on (default: a free one)")
    parser.add_argument("--request-queue", default="mcp-requests")
    parser.add_argument("--reply-queue", default="mcp-replies")
    parser.set_defaults(run=run)


def create_demo_queues(endpoint: LocalEndpoint, request_name: str, reply_name: str) -> tuple[str, str]:
    """Create (idempotently) the request and reply queues on the embedded endpoint; their URLs."""
    import anyio

    from asyncmcp.channels.sqs.api import create_sqs_client

    async def create() -> tuple[str, str]:
        with endpoint.exported():
            async with create_sqs_client() as sqs:
                request = await sqs.create_queue(QueueName=request_name)
                reply = await sqs.create_queue(QueueName=reply_name)
        return request["QueueUrl"], reply["QueueUrl"]

    return anyio.run(create)


def run(args: argparse.Namespace) -> int:
    with LocalEndpoint.subprocess(port=args.port) as endpoint:
        request, reply = create_demo_queues(endpoint, args.request_queue, args.reply_queue)
        print("Embedded SQS/SNS endpoint is running. In another shell:\n")
        for key, value in endpoint.environment().items():
            print(f"export {key}={value}")
        print(f"export ASYNCMCP_REQUEST_QUEUE_URL={request}")
        # Only the demo client reads it; a proxy makes its own reply queue (two proxies on one would
        # hand each other's replies back and forth), so it is not a variable a proxy looks at.
        print(f"export ASYNCMCP_REPLY_QUEUE_URL={reply}   # the demo client's; proxies make their own")
        print("\nthen: asyncmcp serve asyncmcp.demo.server:server   (and run a client)\nCtrl-C stops it.", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    return 0
