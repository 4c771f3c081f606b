"""`asyncmcp local`: run the embedded SQS/SNS/S3 endpoint with an SQS and an SNS+SQS topology until interrupted.

It provisions, with the channels' own provisioning (`asyncmcp provision`), an SQS deployment
(`<name>-requests`, its dead-letter queue, `<name>-replies`) and an SNS+SQS one (`<name>-sns-*`
topics and queues, with a filtered reply queue for the client id `demo`), creates the S3 payload
bucket `<name>-payloads` for frames over a queue's limit and a DynamoDB table for the tasks
extension (`<name>-tasks`, TTL on), and prints the `export` lines that point the AWS SDKs and
asyncmcp at them.
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from asyncmcp.local.endpoint import LocalEndpoint

__all__ = ["DEMO_CLIENT_ID", "add_parser", "create_demo_queues", "provision_local"]

TASK_TABLE_ENV = "ASYNCMCP_TASK_TABLE"
"""Names the tasks table for servers that read it (`DynamoTaskStore(os.environ[...])`; docs/tasks.md)."""

DEMO_CLIENT_ID = "demo"
"""The client id the local SNS+SQS topology makes a filtered reply queue for."""


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("local", help="run an embedded SQS/SNS/S3 endpoint on 127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="port to listen on (default: a free one)")
    parser.add_argument("--name", default="mcp", help="prefix of the queues and topics created (default mcp)")
    parser.set_defaults(run=run)


async def _provision_sqs(name: str) -> list[tuple[str, str]]:
    """The SQS topology `name` (on the endpoint the environment names); its exports."""
    from asyncmcp.channels import registry

    return await registry.get("sqs").provision(name, {}, {})


def provision_local(endpoint: LocalEndpoint, name: str) -> list[tuple[str, str]]:
    """Provision everything `asyncmcp local` offers under `name` on the embedded endpoint: the SQS and
    SNS+SQS topologies, the S3 payload bucket and the tasks table; their exports."""
    import anyio

    from asyncmcp.channels import registry
    from asyncmcp.tasks.dynamodb import create_task_table

    async def provision() -> list[tuple[str, str]]:
        from asyncmcp.channels.claim_check import create_payload_bucket

        with endpoint.exported():
            exports = await _provision_sqs(name)
            exports += await registry.get("sns_sqs").provision(f"{name}-sns", {"client_ids": (DEMO_CLIENT_ID,)}, {})
            exports.append(("ASYNCMCP_PAYLOAD_BUCKET", await create_payload_bucket(f"{name}-payloads", {})))
            await create_task_table(f"{name}-tasks")
        return [*exports, (TASK_TABLE_ENV, f"{name}-tasks")]

    return anyio.run(provision)


def create_demo_queues(endpoint: LocalEndpoint, name: str) -> tuple[str, str]:
    """The request and reply queue URLs of the SQS topology `name` (created if missing); nothing else
    is provisioned (`provision_local` does the rest)."""
    import anyio

    async def provision() -> dict[str, str]:
        with endpoint.exported():
            return dict(await _provision_sqs(name))

    exports = anyio.run(provision)
    return exports["ASYNCMCP_REQUEST_QUEUE_URL"], exports["ASYNCMCP_REPLY_QUEUE_URL"]


def run(args: argparse.Namespace) -> int:
    with LocalEndpoint.subprocess(port=args.port) as endpoint:
        exports = provision_local(endpoint, args.name)
        print("Embedded SQS/SNS/S3/DynamoDB endpoint is running. In another shell:\n")
        for key, value in endpoint.environment().items():
            print(f"export {key}={value}")
        for key, value in exports:
            # Only the demo client reads the reply queue variable; a proxy makes its own reply queue
            # (two proxies on one would hand each other's replies back and forth) and never reads it.
            note = "   # the demo client's; proxies make their own" if key == "ASYNCMCP_REPLY_QUEUE_URL" else ""
            print(f"export {key}={value}{note}")
        print(
            "\nthen: asyncmcp serve asyncmcp.demo.server:server   (SQS; and run a client)"
            '\n  or: asyncmcp serve --transport sns_sqs asyncmcp.demo.server:server   (SNS+SQS; clients use client_id "'
            f'{DEMO_CLIENT_ID}" and ASYNCMCP_SNS_CLIENT_QUEUE_URL_DEMO)\nCtrl-C stops it.',
            flush=True,
        )
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    return 0
