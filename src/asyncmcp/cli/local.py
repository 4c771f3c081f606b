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
    import boto3

    env = endpoint.environment()
    sqs = boto3.client(
        "sqs",
        endpoint_url=endpoint.url,
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    request = sqs.create_queue(QueueName=request_name)["QueueUrl"]
    reply = sqs.create_queue(QueueName=reply_name)["QueueUrl"]
    return request, reply


def run(args: argparse.Namespace) -> int:
    with LocalEndpoint.subprocess(port=args.port) as endpoint:
        request, reply = create_demo_queues(endpoint, args.request_queue, args.reply_queue)
        print("Embedded SQS/SNS endpoint is running. In another shell:\n")
        for key, value in endpoint.environment().items():
            print(f"export {key}={value}")
        print(f"export ASYNCMCP_REQUEST_QUEUE_URL={request}")
        print(f"export ASYNCMCP_REPLY_QUEUE_URL={reply}")
        print("\nthen: asyncmcp serve asyncmcp.demo.server:server   (and run a client)\nCtrl-C stops it.", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    return 0
