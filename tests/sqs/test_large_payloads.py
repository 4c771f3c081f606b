"""Large MCP payloads through the S3 claim-check, end to end: real SDK clients and servers, moto SQS/SNS/S3.

A tool returning 10 MiB and a request carrying 2 MiB work in both protocol eras over SQS and
SNS+SQS with a payload bucket set (each far over a queue's 1 MiB and a topic's 256 KiB); a large
progress notification travels too, and a pointer inside an SNS envelope; a request whose pointer
names a bucket outside the allowlist is answered with a JSON-RPC error naming the bucket, and
the worker goes on serving.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import boto3
import pytest
from mcp import Client
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import MCPError

from asyncmcp.channels.claim_check import ATTR_PAYLOAD_SIZE, POINTER_CLASS
from asyncmcp.channels.config import ClientSettings
from asyncmcp.channels.sns_sqs.config import SnsSqsServerConfig
from asyncmcp.codec import ATTR_CLIENT_ID, ATTR_REPLY_TO
from asyncmcp.connecting import connect
from asyncmcp.serving import Worker
from tests.client_answers import text_of
from tests.conftest import Queues
from tests.deployments import SnsSqsDeployment, SqsDeployment, provision_topology
from tests.servers import build_server

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024
HANG_GUARD = 60
"""Seconds after which a stuck test fails instead of hanging; never a timing assertion."""


@pytest.fixture(params=["sqs", "sns_sqs"])
async def deployment(request: pytest.FixtureRequest, queues: Queues) -> SqsDeployment | SnsSqsDeployment:
    if request.param == "sqs":
        return SqsDeployment(queues.request, queues.reply)
    return SnsSqsDeployment(await provision_topology())


@asynccontextmanager
async def client_of(era: str, config: ClientSettings) -> AsyncIterator[Client]:
    async with Client(connect(config), mode="legacy" if era == "legacy" else "auto") as client:
        assert client.protocol_version == ("2025-11-25" if era == "legacy" else "2026-07-28")
        yield client


def s3_calls(worker: Any) -> int:
    assert worker.binding is not None
    return sum(count for name, count in worker.binding.channel.calls.items() if "Object" in name)


@pytest.mark.parametrize("era", ["modern", "legacy"])
async def test_a_10_mib_result_and_a_2_mib_request_pass_through_s3(
    deployment: SqsDeployment | SnsSqsDeployment, queues: Queues, era: str
) -> None:
    bucket = {"payload_bucket": queues.payload_bucket}
    async with deployment.serving(**bucket) as worker:
        with anyio.fail_after(HANG_GUARD):
            async with client_of(era, deployment.client_config(**bucket)) as client:
                result = text_of(await client.call_tool("big", {"size": 10 * MIB}))
                assert len(result) == 10 * MIB
                assert set(result) == {"x"}
                carried = "r" * (2 * MIB)
                assert text_of(await client.call_tool("echo", {"text": carried})) == carried
        assert s3_calls(worker) > 0


async def test_a_large_progress_notification_passes_through_s3(
    deployment: SqsDeployment | SnsSqsDeployment, queues: Queues
) -> None:
    server = MCPServer("loud")
    note = "p" * (2 * MIB)

    @server.tool()
    async def loud(ctx: Context) -> str:
        await ctx.report_progress(1, 2, note)
        return "done"

    seen: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(message)

    bucket = {"payload_bucket": queues.payload_bucket}
    async with deployment.serving(server, **bucket):
        with anyio.fail_after(HANG_GUARD):
            async with client_of("modern", deployment.client_config(**bucket)) as client:
                assert text_of(await client.call_tool("loud", {}, progress_callback=on_progress)) == "done"
    assert seen == [note]


async def test_a_pointer_to_a_bucket_outside_the_allowlist_is_answered_with_an_error(queues: Queues) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="not-allowed")
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo"}}
    s3.put_object(Bucket="not-allowed", Key="request", Body=json.dumps(request).encode())
    sqs = boto3.client("sqs")
    deployment = SqsDeployment(queues.request, queues.reply)
    async with deployment.serving(payload_bucket=queues.payload_bucket):
        sqs.send_message(
            QueueUrl=queues.request,
            MessageBody=json.dumps([POINTER_CLASS, {"s3BucketName": "not-allowed", "s3Key": "request"}]),
            MessageAttributes={
                ATTR_PAYLOAD_SIZE: {"DataType": "Number", "StringValue": "80"},
                ATTR_REPLY_TO: {"DataType": "String", "StringValue": queues.reply},
                ATTR_CLIENT_ID: {"DataType": "String", "StringValue": "mallory"},
            },
        )
        with anyio.fail_after(HANG_GUARD):
            answer: dict[str, Any] | None = None
            while answer is None:
                got = await anyio.to_thread.run_sync(
                    lambda: sqs.receive_message(QueueUrl=queues.reply, WaitTimeSeconds=1).get("Messages", [])
                )
                answer = json.loads(got[0]["Body"]) if got else None
            assert "S3 bucket 'not-allowed'" in answer["error"]["message"]
            assert "does not read" in answer["error"]["message"]
            # The worker goes on serving.
            async with client_of("modern", deployment.client_config()) as client:
                assert text_of(await client.call_tool("echo", {"text": "still here"})) == "still here"


async def test_a_pointer_inside_an_sns_envelope_is_resolved(queues: Queues) -> None:
    """A subscription without raw delivery wraps the pointer and its size attribute in the envelope."""
    deployment = SnsSqsDeployment(await provision_topology())
    sqs, sns = boto3.client("sqs"), boto3.client("sns")
    enveloped = sqs.create_queue(QueueName="enveloped-payloads")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=enveloped, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=deployment.topology.request_topic_arn, Protocol="sqs", Endpoint=arn)  # no raw delivery
    server_config = SnsSqsServerConfig(
        sqs_queue_url=enveloped,
        sns_topic_arn=deployment.topology.reply_topic_arn,
        payload_bucket=queues.payload_bucket,
        keep_payloads=True,  # the topology's raw-delivery server queue got the same pointer
    )
    carried = "w" * (2 * MIB)
    with anyio.fail_after(HANG_GUARD):
        async with (
            Worker(build_server(), server_config) as worker,
            client_of("modern", deployment.client_config(payload_bucket=queues.payload_bucket)) as client,
        ):
            assert text_of(await client.call_tool("echo", {"text": carried})) == carried
            assert worker.binding is not None
            assert worker.binding.channel.calls["GetObject"] == 1


async def test_a_client_whose_bucket_the_worker_does_not_read_is_told_why(
    queues: Queues, caplog: pytest.LogCaptureFixture
) -> None:
    boto3.client("s3").create_bucket(Bucket="client-only")
    deployment = SqsDeployment(queues.request, queues.reply)
    config = deployment.client_config(payload_bucket="client-only", transport_timeout_seconds=3)
    async with deployment.serving(payload_bucket=queues.payload_bucket):
        with anyio.fail_after(HANG_GUARD):
            async with client_of("modern", config) as client:
                with pytest.raises(MCPError):
                    await client.call_tool("echo", {"text": "q" * (2 * MIB)})
    refusals = [r.getMessage() for r in caplog.records if "the server refused a message" in r.getMessage()]
    assert refusals and "S3 bucket 'client-only', which this side does not read" in refusals[0]
