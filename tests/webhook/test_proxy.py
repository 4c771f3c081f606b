"""Standard MCP clients reach a webhook server through the proxy (`backend_transport="webhook"`).

The proxy receives its webhooks on a route of its own HTTP server (`/webhook`, signed), not on a
port of its own; its stdio front, having no HTTP server, runs a receiver on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters

from asyncmcp.proxy import ProxyServer, create_proxy_server
from asyncmcp.webhook import WebhookClientConfig
from tests.client_answers import text_of
from tests.deployments import WEBHOOK_SECRET, WebhookDeployment
from tests.proxy.test_proxy import TS_CLIENT_DIR, ts_client_script
from tests.servers import build_server

pytestmark = pytest.mark.anyio

__all__ = ["ts_client_script"]  # the fixture, imported for this module's tests

HANG_GUARD = 60


@asynccontextmanager
async def webhook_stack() -> AsyncIterator[tuple[ProxyServer, WebhookDeployment]]:
    """A webhook server on its own port and a proxy whose backend POSTs to it."""
    deployment = WebhookDeployment()
    async with deployment.serving(build_server()), anyio.create_task_group() as tg:
        assert deployment.url is not None
        backend = WebhookClientConfig(server_url=deployment.url, signing_secrets=(WEBHOOK_SECRET,))
        proxy = create_proxy_server(backend_transport="webhook", backend_config=backend, port=0)
        await tg.start(proxy.run)
        try:
            yield proxy, deployment
        finally:
            proxy.stop()


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_streamable_http_client_reaches_a_webhook_server_through_the_proxy(mode: Any) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with webhook_stack() as (proxy, _), Client(proxy.url, mode=mode) as client:
            assert "echo" in {tool.name for tool in (await client.list_tools()).tools}
            assert text_of(await client.call_tool("echo", {"text": "via webhooks"})) == "via webhooks"
            progress: list[float] = []

            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                progress.append(value)

            result = await client.call_tool("slow", {"steps": 3}, progress_callback=on_progress)
            assert text_of(result) == "done 3" and len(progress) == 3


async def test_the_proxy_receives_its_webhooks_on_its_own_port_and_refuses_unsigned_ones() -> None:
    with anyio.fail_after(HANG_GUARD):
        async with webhook_stack() as (proxy, _), Client(proxy.url) as client:
            assert text_of(await client.call_tool("echo", {"text": "x"})) == "x"
            hook = proxy.url.removesuffix("/mcp") + "/webhook"
            async with httpx2.AsyncClient() as http:
                forged = await http.post(hook, content=b'{"jsonrpc":"2.0","id":1,"result":{}}')
            assert forged.status_code == 401
            assert "signature" in forged.text.lower()


async def test_the_typescript_sdk_client_reaches_a_webhook_server_through_the_proxy(ts_client_script: Any) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with webhook_stack() as (proxy, _):
            done = await anyio.run_process(
                ["node", str(ts_client_script), proxy.url, "typescript via webhooks"], cwd=TS_CLIENT_DIR, check=False
            )
    assert done.returncode == 0, done.stderr.decode()
    out = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert out["result"]["content"] == [{"type": "text", "text": "typescript via webhooks"}]


async def test_the_stdio_proxy_reaches_a_webhook_server_with_a_receiver_of_its_own() -> None:
    deployment = WebhookDeployment()
    with anyio.fail_after(HANG_GUARD):
        async with deployment.serving(build_server()):
            assert deployment.url is not None
            params = StdioServerParameters(
                command=sys.executable,
                args=["-m", "asyncmcp", "proxy", "--stdio", "--backend", "webhook", "--server-url", deployment.url],
                env={**os.environ, "ASYNCMCP_WEBHOOK_SECRETS": WEBHOOK_SECRET},
            )
            async with Client(params) as client:
                assert text_of(await client.call_tool("echo", {"text": "stdio"})) == "stdio"
