"""Helpers for tests that talk to the moto endpoint directly: raw boto3 sends and receives, a
worker running in a task group, and bounded waits for a condition."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import boto3

from asyncmcp.sqs import SqsServerConfig, SqsWorker
from tests.waiting import wait_for

__all__ = ["wait_for"]


def sqs() -> Any:
    """A boto3 SQS client for the endpoint in the environment (set by the `endpoint` fixture)."""
    return boto3.client("sqs")


def attrs(**values: str) -> dict[str, dict[str, str]]:
    """SQS MessageAttributes from keyword arguments; `mcp_reply_to=` becomes `mcp-reply-to`."""
    return {name.replace("_", "-"): {"DataType": "String", "StringValue": value} for name, value in values.items()}


async def send_raw(queue_url: str, body: str, attributes: Mapping[str, str] | None = None, **extra: Any) -> None:
    """Send one message with boto3 (on a thread, so the event loop keeps serving)."""
    message_attributes = {k: {"DataType": "String", "StringValue": v} for k, v in (attributes or {}).items()}

    def call() -> None:
        kwargs: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": body, **extra}
        if message_attributes:
            kwargs["MessageAttributes"] = message_attributes
        sqs().send_message(**kwargs)

    await anyio.to_thread.run_sync(call)


@dataclass
class Received:
    body: str
    attributes: dict[str, str]

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def _receive_batch(queue_url: str, wait: int) -> list[Received]:
    client = sqs()
    response = client.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait, MessageAttributeNames=["All"]
    )
    out: list[Received] = []
    for message in response.get("Messages", []):
        attributes = {k: v["StringValue"] for k, v in message.get("MessageAttributes", {}).items()}
        out.append(Received(message["Body"], attributes))
        client.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return out


async def receive_raw(queue_url: str, count: int, *, within: float = 15.0) -> list[Received]:
    """Receive (and delete) messages until `count` arrived; fails after `within` seconds."""
    got: list[Received] = []
    with anyio.fail_after(within):
        while len(got) < count:
            got.extend(await anyio.to_thread.run_sync(_receive_batch, queue_url, 1))
    return got


async def drain_raw(queue_url: str) -> list[Received]:
    """Everything visible on `queue_url` now (moto's short poll sees every visible message)."""
    got: list[Received] = []
    while batch := await anyio.to_thread.run_sync(_receive_batch, queue_url, 0):
        got.extend(batch)
    return got


def queue_counts(queue_url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    attributes = sqs().get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def visible_bodies(queue_url: str) -> list[str]:
    """Bodies of the messages visible now, peeked without hiding them (VisibilityTimeout=0)."""
    response = sqs().receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [message["Body"] for message in response.get("Messages", [])]


async def wait_for_async(condition: Callable[[], Any], *, within: float = 15.0, interval: float = 0.05) -> Any:
    """`wait_for` for a blocking condition (run on a thread)."""
    deadline = time.monotonic() + within
    while True:
        value = await anyio.to_thread.run_sync(condition)
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {within} s")
        await anyio.sleep(interval)


def running_worker(server: Any, config: SqsServerConfig, **options: Any) -> SqsWorker:
    """An `SqsWorker` to serve in the background: `async with running_worker(...) as worker`."""
    return SqsWorker(server, config, **options)


@asynccontextmanager
async def serving(queues: Any, server: Any = None, **config: Any) -> AsyncIterator[Any]:
    """Serve `server` (default: the test server) on the request queue for the body of the block."""
    from tests.servers import build_server

    server = server or build_server()
    async with SqsWorker(server, SqsServerConfig(read_queue_url=queues.request, **config)):
        yield server
