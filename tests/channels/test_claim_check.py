"""The S3 claim-check on the SQS channel, against moto's SQS and S3 over HTTP.

Frames over the threshold travel as the AWS extended clients' pointer; received pointers are
resolved only from allowed buckets, within bounds, and one that cannot be resolved becomes an
`unreadable` frame (answered with a JSON-RPC error upstream) instead of an exception.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import boto3
import pytest

from asyncmcp.channels.claim_check import (
    ATTR_PAYLOAD_SIZE,
    POINTER_CLASS,
    ClaimCheck,
    S3Api,
)
from asyncmcp.channels.payload_settings import PayloadSettings
from asyncmcp.channels.sqs.api import SqsApi
from asyncmcp.channels.sqs.channel import SqsChannel, SqsDelivery
from asyncmcp.codec import ATTR_CLIENT_ID, Frame
from tests.conftest import Queues
from tests.processes import ROOT
from tests.waiting import wait_for

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def channel_with(bucket: str, **settings: Any) -> AsyncIterator[SqsChannel]:
    async with (
        SqsApi() as api,
        S3Api() as s3,
        SqsChannel(
            api, wait_time_seconds=1, payloads=ClaimCheck(s3, PayloadSettings(payload_bucket=bucket, **settings))
        ) as channel,
    ):
        yield channel


async def receive_one(channel: SqsChannel, queue: str) -> SqsDelivery:
    for _ in range(10):
        deliveries = await channel.receive(queue, 1)
        if deliveries:
            return deliveries[0]
    raise AssertionError(f"nothing arrived on {queue}")


def keys(bucket: str) -> list[str]:
    return [item["Key"] for item in boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])]


def send_pointer(queue: str, bucket: str, key: str, *, size: str = "10", body: str | None = None) -> None:
    """A message as the extended client writes it, sent with plain boto3."""
    boto3.client("sqs").send_message(
        QueueUrl=queue,
        MessageBody=body or json.dumps([POINTER_CLASS, {"s3BucketName": bucket, "s3Key": key}]),
        MessageAttributes={
            ATTR_PAYLOAD_SIZE: {"DataType": "Number", "StringValue": size},
            "mcp-reply-to": {"DataType": "String", "StringValue": queue},
        },
    )


async def test_frame_over_the_queue_limit_travels_as_the_extended_client_pointer(queues: Queues) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "result": {"text": "x" * 1_200_000}})
    async with channel_with(queues.payload_bucket) as channel:
        await channel.send(queues.reply, Frame(body, {ATTR_CLIENT_ID: "alice"}))
        raw = boto3.client("sqs").receive_message(
            QueueUrl=queues.reply, MessageAttributeNames=["All"], VisibilityTimeout=0, WaitTimeSeconds=1
        )["Messages"][0]
        pointer_class, where = json.loads(raw["Body"])
        assert pointer_class == POINTER_CLASS
        assert where["s3BucketName"] == queues.payload_bucket
        assert where["s3Key"].startswith(f"asyncmcp/{queues.reply.rsplit('/', 1)[-1]}/alice/")
        assert raw["MessageAttributes"][ATTR_PAYLOAD_SIZE] == {"DataType": "Number", "StringValue": str(len(body))}

        delivery = await receive_one(channel, queues.reply)
        assert delivery.frame.body == body
        assert delivery.frame.attributes == {ATTR_CLIENT_ID: "alice"}
        assert delivery.frame.unreadable is None
        assert keys(queues.payload_bucket) == [where["s3Key"]]
        delivery.ack()
        await wait_for(lambda: not keys(queues.payload_bucket))  # deleted once the message is


async def test_a_frame_under_the_threshold_is_sent_as_it_is(queues: Queues) -> None:
    async with channel_with(queues.payload_bucket) as channel:
        await channel.send(queues.reply, Frame("{}"))
        delivery = await receive_one(channel, queues.reply)
        assert delivery.frame.body == "{}"
        assert delivery.payload is None
        assert channel.calls["PutObject"] == 0


async def test_a_lower_threshold_offloads_smaller_frames_and_keep_leaves_objects(queues: Queues) -> None:
    async with channel_with(queues.payload_bucket, payload_threshold_bytes=1000, keep_payloads=True) as channel:
        await channel.send(queues.reply, Frame("y" * 2000))
        delivery = await receive_one(channel, queues.reply)
        assert delivery.frame.body == "y" * 2000
        assert delivery.payload is not None
        delivery.ack()
        await wait_for(lambda: channel.calls["DeleteMessage"])
        assert len(keys(queues.payload_bucket)) == 1  # kept for audit
        assert channel.calls["DeleteObject"] == 0


async def test_a_released_message_keeps_its_object_for_the_next_delivery(queues: Queues) -> None:
    async with channel_with(queues.payload_bucket, payload_threshold_bytes=100) as channel:
        await channel.send(queues.reply, Frame("z" * 500))
        (await receive_one(channel, queues.reply)).release(0)
        again = await receive_one(channel, queues.reply)
        assert again.frame.body == "z" * 500
        assert len(keys(queues.payload_bucket)) == 1


def _other_bucket_object() -> tuple[str, str]:
    boto3.client("s3").create_bucket(Bucket="someone-elses")
    boto3.client("s3").put_object(Bucket="someone-elses", Key="k", Body=b"{}")
    return "someone-elses", "k"


REFUSALS: dict[str, tuple[Callable[[Queues], None], str]] = {
    "bucket not allowed": (lambda q: send_pointer(q.reply, *_other_bucket_object()), "does not read"),
    "missing object": (lambda q: send_pointer(q.reply, q.payload_bucket, "asyncmcp/gone"), "does not exist"),
    "key too long": (lambda q: send_pointer(q.reply, q.payload_bucket, "k" * 1025), "longer than 1024"),
    "declared too large": (
        lambda q: send_pointer(q.reply, q.payload_bucket, "k", size=str(10**12)),
        "exceeds",
    ),
    "not a pointer": (lambda q: send_pointer(q.reply, q.payload_bucket, "k", body='{"a": 1}'), "not an S3 pointer"),
    "size not a number": (lambda q: send_pointer(q.reply, q.payload_bucket, "k", size="-1"), "not a byte count"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
async def test_a_pointer_that_cannot_be_resolved_becomes_an_unreadable_frame(queues: Queues, case: str) -> None:
    send, reason = REFUSALS[case]
    send(queues)
    async with channel_with(queues.payload_bucket) as channel:
        delivery = await receive_one(channel, queues.reply)
        assert delivery.frame.unreadable is not None
        assert reason in delivery.frame.unreadable
        assert ATTR_PAYLOAD_SIZE not in delivery.frame.attributes
        assert delivery.frame.attributes["mcp-reply-to"] == queues.reply  # the error can still be answered
        if case != "missing object":
            assert channel.calls["GetObject"] == 0  # refused before anything was read


async def test_an_object_larger_than_the_limit_is_refused_before_its_body_is_read(queues: Queues) -> None:
    boto3.client("s3").put_object(Bucket=queues.payload_bucket, Key="big", Body=b"x" * 5000)
    send_pointer(queues.reply, queues.payload_bucket, "big", size="10")  # the attribute understates it
    async with channel_with(queues.payload_bucket, max_payload_bytes=1000) as channel:
        delivery = await receive_one(channel, queues.reply)
        assert delivery.frame.unreadable is not None
        assert "5000 bytes exceeds the 1000-byte limit" in delivery.frame.unreadable


MEMORY_PAYLOAD_BYTES = 50 * 1024 * 1024
"""The issue's figure: a 50 MiB frame, sent through S3 and received back in a child process."""


def test_a_50_mib_frame_passes_with_at_most_two_copies_in_memory(queues: Queues) -> None:
    """Traced in a child process (tests/channels/payload_memory.py), so the endpoint's and pytest's
    own memory is not counted; sizes, never times, are asserted."""
    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.channels.payload_memory",
            queues.reply,
            queues.payload_bucket,
            str(MEMORY_PAYLOAD_BYTES),
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    measured = json.loads(child.stdout)
    size = measured["size"]
    assert measured["send_peak"] < size / 2  # beyond the frame: one part at a time, never a second copy
    assert measured["receive_peak"] < 2.1 * size  # the read buffer and the text, briefly
    assert measured["received"] < 1.1 * size  # then only the text


async def test_a_pointer_where_no_payload_bucket_is_set_says_what_to_set(queues: Queues) -> None:
    send_pointer(queues.reply, queues.payload_bucket, "k")
    async with SqsApi() as api, SqsChannel(api, wait_time_seconds=1) as channel:
        delivery = await receive_one(channel, queues.reply)
        assert delivery.frame.unreadable is not None
        assert "--payload-bucket" in delivery.frame.unreadable
        assert ATTR_PAYLOAD_SIZE not in delivery.frame.attributes
