"""Large results through the S3 claim-check against the raw floor of the same bytes, and their calls.

A tool returns 1 MiB and 10 MiB (over SQS's 1 MiB, so the result goes through S3). The floor is
what any large answer over SQS must pay with the same client library and no MCP: the small
request (send, long-poll receive, delete), then the result the extended-client way (S3 PutObject
and SQS SendMessage of the pointer; long-poll receive and S3 GetObject; DeleteMessage and
DeleteObject). The figures are interleaved call by call, back to back. The billable calls of the
MCP calls (both sides, long polls included) are counted per round trip, SQS and S3 apart.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio
from mcp import Client

from asyncmcp.channels.aws import create_client
from asyncmcp.channels.claim_check import ATTR_PAYLOAD_SIZE, PayloadPointer, create_payload_bucket
from asyncmcp.client.replies import ReplyRouter
from asyncmcp.codec import ATTR_CLIENT_ID, ATTR_REPLY_TO
from asyncmcp.connecting import connect, shared_replies
from asyncmcp.serving import Worker
from asyncmcp.sqs import SqsClientConfig, SqsServerConfig
from benchmarks.cost import SETTLE_SECONDS
from benchmarks.latency import Figure, RoundTrips, interleaved, long_poll

__all__ = [
    "PAYLOAD_SIZES",
    "PRICE_PER_MILLION_S3_GETS",
    "PRICE_PER_MILLION_S3_PUTS",
    "PayloadStack",
    "PayloadTrips",
    "is_s3_call",
    "measure_payloads",
    "payload_stack",
    "s3_dollars",
]

MIB = 1024 * 1024
PAYLOAD_SIZES = (1 * MIB, 10 * MIB)
"""Result sizes measured: just over SQS's limit (one part) and ten times that."""

PRICE_PER_MILLION_S3_PUTS = 5.00
"""USD per million S3 PUT, POST and multipart requests (S3 Standard, us-east-1)."""
PRICE_PER_MILLION_S3_GETS = 0.40
"""USD per million S3 GET requests; DELETE requests are free."""

_SMALL_REQUEST = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "blob"}})


def is_s3_call(operation: str) -> bool:
    """Whether a counted operation is S3's (the claim-check) rather than SQS's."""
    return "Object" in operation or "Multipart" in operation or operation == "UploadPart"


def s3_dollars(calls: Counter[str]) -> float:
    """What `calls` cost in S3 requests (storage for the seconds an object lives is negligible)."""
    gets = calls["GetObject"]
    puts = sum(count for name, count in calls.items() if is_s3_call(name) and name not in ("GetObject", "DeleteObject"))
    return (puts * PRICE_PER_MILLION_S3_PUTS + gets * PRICE_PER_MILLION_S3_GETS) / 1_000_000


@dataclass
class PayloadStack:
    worker: Worker
    router: ReplyRouter
    client: Client
    bucket: str
    floor: tuple[str, str]
    """(request queue, reply queue) of the raw floor."""

    def calls(self) -> Counter[str]:
        assert self.worker.binding is not None
        return self.worker.binding.channel.calls + self.router.channel.calls


@dataclass
class PayloadTrips:
    trips: RoundTrips = field(default_factory=RoundTrips)
    calls: dict[int, Counter[str]] = field(default_factory=dict[int, Counter[str]])
    """Billable calls of `samples` MCP round trips per result size."""
    samples: int = 0


@asynccontextmanager
async def payload_stack(server: Any, request: str, reply: str, floor: tuple[str, str]) -> AsyncIterator[PayloadStack]:
    """A worker and a client on SQS, both with the payload bucket set."""
    bucket = await create_payload_bucket("bench-payloads", {})
    async with AsyncExitStack() as stack:
        worker = await stack.enter_async_context(
            Worker(server, SqsServerConfig(read_queue_url=request, payload_bucket=bucket))
        )
        config = SqsClientConfig(read_queue_url=request, response_queue_url=reply, payload_bucket=bucket)
        router = await stack.enter_async_context(shared_replies(config))
        client = await stack.enter_async_context(Client(connect(config, replies=router)))
        yield PayloadStack(worker, router, client, bucket, floor)


async def _hop(sqs: Any, queue: str, body: str, attributes: dict[str, Any]) -> list[dict[str, Any]]:
    await sqs.send_message(QueueUrl=queue, MessageBody=body, MessageAttributes=attributes)
    return await long_poll(sqs, queue)


async def raw_payload_round_trip(sqs: Any, s3: Any, floor: tuple[str, str], bucket: str, data: bytes) -> None:
    """The floor: a small request, then `data` through S3 as the extended clients carry it."""
    request_queue, reply_queue = floor
    routing = {
        ATTR_CLIENT_ID: {"DataType": "String", "StringValue": "0" * 32},
        ATTR_REPLY_TO: {"DataType": "String", "StringValue": reply_queue},
    }
    for message in await _hop(sqs, request_queue, _SMALL_REQUEST, routing):
        await sqs.delete_message(QueueUrl=request_queue, ReceiptHandle=message["ReceiptHandle"])
    pointer = PayloadPointer(bucket, "bench/floor")
    await s3.put_object(Bucket=bucket, Key=pointer.key, Body=data)
    sized = {**routing, ATTR_PAYLOAD_SIZE: {"DataType": "Number", "StringValue": str(len(data))}}
    for message in await _hop(sqs, reply_queue, pointer.body(), sized):
        where = json.loads(message["Body"])[1]
        got = await s3.get_object(Bucket=where["s3BucketName"], Key=where["s3Key"])
        async with got["Body"] as stream:
            await stream.read()
        await sqs.delete_message(QueueUrl=reply_queue, ReceiptHandle=message["ReceiptHandle"])
        await s3.delete_object(Bucket=where["s3BucketName"], Key=where["s3Key"])


async def _blob(client: Client, size: int) -> None:
    result = await client.call_tool("blob", {"size": size})
    if result.is_error:
        raise RuntimeError(f"blob failed: {result.content}")


async def measure_payloads(
    stack: PayloadStack,
    *,
    samples: int,
    warmup: int,
    sizes: tuple[int, ...] = PAYLOAD_SIZES,
    settle_seconds: float = SETTLE_SECONDS,
) -> PayloadTrips:
    """Interleave the floor and the MCP call per size, back to back; then count the MCP calls' billable calls
    (after `settle_seconds`, so deletes still waiting for company are counted with the calls they belong to)."""
    out = PayloadTrips(samples=samples)
    async with create_client("sqs") as sqs, create_client("s3") as s3:
        for size in sizes:
            data = b"x" * size
            figures: list[Figure] = [
                (f"payload-raw-{size}", partial(raw_payload_round_trip, sqs, s3, stack.floor, stack.bucket, data)),
                (f"payload-mcp-{size}", partial(_blob, stack.client, size)),
            ]
            await interleaved(figures, samples=samples, warmup=warmup, into=out.trips)
            del data
            await anyio.sleep(settle_seconds)  # earlier deletes flush before counting starts
            before = stack.calls()
            for _ in range(samples):
                await _blob(stack.client, size)
            await anyio.sleep(settle_seconds)  # this batch's deletes (messages, then objects) are counted too
            out.calls[size] = stack.calls() - before
    return out
