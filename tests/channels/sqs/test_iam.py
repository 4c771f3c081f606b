"""The IAM policies documented in docs/transports/sqs.md are what the code needs: each side runs
through an endpoint in front of moto that allows only its documented statements (moto enforces no
IAM), and every call it makes is allowed.

The policies are read from the page itself, so the documentation cannot drift from the code.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import boto3
import httpx2
import pytest
from mcp import Client

from asyncmcp import SqsClientConfig, SqsServerConfig
from asyncmcp.proxy import create_proxy_server
from asyncmcp.sqs import SqsWorker, sqs_client
from tests.client_answers import text_of
from tests.faults import ACCESS_DENIED, FaultyForwarder, sqs_behind_faults
from tests.servers import build_server
from tests.sqs_rules import IamPolicy

pytestmark = pytest.mark.anyio

WITHIN = 30.0

SQS_PAGE = Path(__file__).parents[3] / "docs" / "transports" / "sqs.md"


def documented_policy(side: str) -> IamPolicy:
    """The JSON block under `### <side>` in the IAM section of the SQS page."""
    page = SQS_PAGE.read_text()
    section = page[page.index("## IAM policy") :]
    found = re.search(rf"### {side}\b.*?```json\n(.*?)```", section, re.DOTALL)
    assert found is not None, f"no {side} policy in {SQS_PAGE}"
    return IamPolicy.from_json(found.group(1))


@asynccontextmanager
async def under_policy(endpoint: Any, side: str) -> AsyncIterator[tuple[Any, FaultyForwarder]]:
    """An SQS client allowed only what the documented policy of `side` allows."""
    policy = documented_policy(side)
    async with sqs_behind_faults(endpoint.url, policy.denies, ACCESS_DENIED) as (client, shim):
        yield client, shim


def documented_queues() -> tuple[str, str]:
    sqs = boto3.client("sqs")
    request = sqs.create_queue(QueueName="mcp-requests")["QueueUrl"]
    replies = sqs.create_queue(QueueName=f"mcp-replies-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    return request, replies


@pytest.mark.parametrize("reply_queue", ["shared", "temporary"])
async def test_a_worker_and_a_client_need_only_their_documented_policies(
    endpoint: Any, queues: Any, reply_queue: str
) -> None:
    request, replies = documented_queues()
    server_config = SqsServerConfig(read_queue_url=request, wait_time_seconds=1)
    client_config = SqsClientConfig(
        read_queue_url=request, response_queue_url=replies if reply_queue == "shared" else None, wait_time_seconds=1
    )
    with anyio.fail_after(WITHIN):
        async with (
            under_policy(endpoint, "Server") as (server_sqs, server_shim),
            under_policy(endpoint, "Client") as (client_sqs, client_shim),
        ):
            async with SqsWorker(build_server(), server_config, server_sqs):
                for era in ("auto", "legacy"):
                    async with Client(sqs_client(client_config, client_sqs), mode=era) as client:
                        assert text_of(await client.call_tool("echo", {"text": era})) == era
            assert server_shim.failed == []  # wake frames on stopping included
            assert client_shim.failed == []


async def test_the_proxy_needs_only_its_documented_policy(endpoint: Any, queues: Any) -> None:
    request, _ = documented_queues()
    server_config = SqsServerConfig(read_queue_url=request, wait_time_seconds=1)
    backend_config = SqsClientConfig(read_queue_url=request, wait_time_seconds=1)  # a temporary reply queue
    with anyio.fail_after(WITHIN):
        async with (
            under_policy(endpoint, "Server") as (server_sqs, server_shim),
            under_policy(endpoint, "Proxy") as (proxy_sqs, proxy_shim),
            SqsWorker(build_server(), server_config, server_sqs),
            anyio.create_task_group() as tg,
        ):
            proxy = create_proxy_server("sqs", backend_config, {"sqs_client": proxy_sqs}, port=0)
            await tg.start(proxy.run)
            try:
                async with Client(proxy.url) as client:
                    assert text_of(await client.call_tool("echo", {"text": "proxied"})) == "proxied"
                async with httpx2.AsyncClient(trust_env=False) as http:
                    ready = await http.get(proxy.url.replace("/mcp", "/readyz"))
                    assert ready.status_code == 200
            finally:
                proxy.stop()
        assert server_shim.failed == []
        assert proxy_shim.failed == []
