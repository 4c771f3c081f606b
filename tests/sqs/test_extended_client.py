"""Interoperability with the AWS SQS extended client (`amazon-sqs-extended-client`, boto3-based).

The extended client sends a large MCP request (its S3 pointer); an asyncmcp worker with a payload
bucket reads it and answers with a large result, which the extended client reads back from the
reply queue through asyncmcp's pointer. The extended client is synchronous, so it runs on a thread.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import boto3
import boto3.session
import pytest
from mcp_types import CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY, PROTOCOL_VERSION_META_KEY

from asyncmcp.codec import ATTR_CLIENT_ID, ATTR_REPLY_TO
from tests.conftest import Queues
from tests.deployments import SqsDeployment

pytestmark = pytest.mark.anyio

HANG_GUARD = 60
"""Seconds after which a stuck test fails instead of hanging; never a timing assertion."""

TEXT_BYTES = 1_500_000
"""Over SQS's 1 MiB, so each direction must go through S3 (the extended client offloads above 256 KiB)."""


def _extended_client_session() -> Any:
    """The extended client's session class, without the patch its import applies to boto3 as a whole
    (it replaces `boto3.Session` and the default session, which would turn every other test's boto3
    client into an extended client)."""
    saved = (boto3.session.Session, boto3.Session, boto3.DEFAULT_SESSION)
    try:
        from sqs_extended_client import SQSExtendedClientSession  # pyright: ignore[reportMissingTypeStubs]
    finally:
        boto3.session.Session, boto3.Session, boto3.DEFAULT_SESSION = saved
    return SQSExtendedClientSession


def extended_client(bucket: str) -> Any:
    client: Any = _extended_client_session()().client("sqs")
    client.large_payload_support = bucket
    client.delete_payload_from_s3 = True
    return client


def string(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


async def test_the_extended_client_and_asyncmcp_read_each_others_large_messages(queues: Queues) -> None:
    sqs = extended_client(queues.payload_bucket)
    text = "e" * TEXT_BYTES
    request = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {
            "name": "echo",
            "arguments": {"text": text},
            "_meta": {
                PROTOCOL_VERSION_META_KEY: "2026-07-28",
                CLIENT_CAPABILITIES_META_KEY: {},
                CLIENT_INFO_META_KEY: {"name": "extended-client", "version": "1"},
            },
        },
    }
    async with SqsDeployment(queues.request, queues.reply).serving(payload_bucket=queues.payload_bucket) as worker:
        await anyio.to_thread.run_sync(
            lambda: sqs.send_message(
                QueueUrl=queues.request,
                MessageBody=json.dumps(request),
                MessageAttributes={ATTR_REPLY_TO: string(queues.reply), ATTR_CLIENT_ID: string("ext")},
            )
        )
        with anyio.fail_after(HANG_GUARD):
            messages: list[dict[str, Any]] = []
            while not messages:
                messages = await anyio.to_thread.run_sync(
                    lambda: sqs.receive_message(
                        QueueUrl=queues.reply, MessageAttributeNames=["All"], WaitTimeSeconds=1
                    ).get("Messages", [])
                )
        reply = json.loads(messages[0]["Body"])  # the extended client resolved asyncmcp's pointer
        assert reply["id"] == 7
        assert reply["result"]["content"][0]["text"] == text
        assert messages[0]["MessageAttributes"][ATTR_CLIENT_ID]["StringValue"] == "ext"
        assert worker.binding is not None
        assert worker.binding.channel.calls["GetObject"] == 1  # asyncmcp read the extended client's pointer
        assert worker.binding.channel.calls["PutObject"] == 1  # and offloaded its answer
