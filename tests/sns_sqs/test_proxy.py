"""Standard MCP clients reach an SNS+SQS server through the proxy (`backend_transport="sns_sqs"`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp import Client

from asyncmcp.proxy import ProxyServer, create_proxy_server
from asyncmcp.sns_sqs import SnsSqsClientConfig, SnsSqsServerConfig, SnsSqsWorker
from tests.client_answers import text_of
from tests.deployments import provision_topology
from tests.proxy.test_proxy import TS_CLIENT_DIR, ts_client_script
from tests.servers import build_server

pytestmark = pytest.mark.anyio

__all__ = ["ts_client_script"]  # the fixture, imported for this module's tests

HANG_GUARD = 60


@asynccontextmanager
async def sns_stack(endpoint: Any) -> AsyncIterator[ProxyServer]:
    """An SNS+SQS worker and a proxy whose backend is a temporary SNS+SQS reply topology."""
    endpoint.reset()
    topology = await provision_topology(())
    server_config = SnsSqsServerConfig(sqs_queue_url=topology.server_queue_url, sns_topic_arn=topology.reply_topic_arn)
    backend = SnsSqsClientConfig(sns_topic_arn=topology.request_topic_arn)
    proxy = create_proxy_server(backend_transport="sns_sqs", backend_config=backend, port=0)
    async with SnsSqsWorker(build_server(), server_config), anyio.create_task_group() as tg:
        await tg.start(proxy.run)
        try:
            yield proxy
        finally:
            proxy.stop()


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_streamable_http_client_reaches_an_sns_sqs_server_through_the_proxy(endpoint: Any, mode: Any) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with sns_stack(endpoint) as proxy, Client(proxy.url, mode=mode) as client:
            assert "echo" in {tool.name for tool in (await client.list_tools()).tools}
            assert text_of(await client.call_tool("echo", {"text": "via sns"})) == "via sns"


async def test_the_typescript_sdk_client_reaches_an_sns_sqs_server_through_the_proxy(
    endpoint: Any, ts_client_script: Any
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with sns_stack(endpoint) as proxy:
            done = await anyio.run_process(
                ["node", str(ts_client_script), proxy.url, "typescript via sns"], cwd=TS_CLIENT_DIR, check=False
            )
    assert done.returncode == 0, done.stderr.decode()
    out = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert out["result"]["content"] == [{"type": "text", "text": "typescript via sns"}]


def test_the_proxy_names_the_backend_config_it_needs() -> None:
    with pytest.raises(TypeError, match="SnsSqsClientConfig"):
        create_proxy_server(backend_transport="sns_sqs", backend_config=object())
