"""The raw pipeline's worker: `python -m benchmarks.raw_worker REQUEST_QUEUE_URL --concurrency K --seconds S`.

No MCP: it long-polls the request queue (up to ten messages), holds at most K requests at once,
sleeps S seconds for each (the same service time as the `work` tool), sends the body back to the
queue its `mcp-reply-to` attribute names, and deletes the request. It prints one line once it
polls. This is the floor the throughput figure judges an `asyncmcp serve` worker against.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import anyio

from asyncmcp.channels.sqs.api import create_sqs_client
from asyncmcp.codec import ATTR_CLIENT_ID, ATTR_REPLY_TO


async def _serve(request_url: str, concurrency: int, seconds: float) -> None:
    slots = anyio.Semaphore(concurrency)
    async with create_sqs_client() as sqs, anyio.create_task_group() as tg:

        async def handle(message: Any) -> None:
            try:
                await anyio.sleep(seconds)
                attributes = message.get("MessageAttributes", {})
                reply_to = attributes[ATTR_REPLY_TO]["StringValue"]
                await sqs.send_message(
                    QueueUrl=reply_to,
                    MessageBody=message["Body"],
                    MessageAttributes={ATTR_CLIENT_ID: attributes[ATTR_CLIENT_ID]},
                )
                await sqs.delete_message(QueueUrl=request_url, ReceiptHandle=message["ReceiptHandle"])
            finally:
                slots.release()

        sys.stdout.write("raw worker polling\n")
        sys.stdout.flush()
        while True:
            await slots.acquire()
            free = 1
            while free < min(10, concurrency) and slots.value > 0:
                await slots.acquire()
                free += 1
            response = await sqs.receive_message(
                QueueUrl=request_url, MaxNumberOfMessages=free, WaitTimeSeconds=20, MessageAttributeNames=["All"]
            )
            messages = response.get("Messages", [])
            for message in messages:
                tg.start_soon(handle, message)
            for _ in range(free - len(messages)):
                slots.release()


def main() -> None:
    parser = argparse.ArgumentParser(description="asyncmcp bench: the raw pipeline's worker")
    parser.add_argument("request_url")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=0.05)
    args = parser.parse_args()
    anyio.run(_serve, args.request_url, args.concurrency, args.seconds)


if __name__ == "__main__":
    main()
