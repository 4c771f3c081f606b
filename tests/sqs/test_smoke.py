from __future__ import annotations

import anyio
import pytest
from mcp import Client, ClientSession

from asyncmcp import SqsClientConfig, SqsServerConfig
from asyncmcp.sqs import serve_sqs, sqs_client
from tests.servers import build_server

pytestmark = pytest.mark.anyio


async def test_modern_client_calls_tool(queues):
    server = build_server()
    async with anyio.create_task_group() as tg:
        await tg.start(serve_sqs, server, SqsServerConfig(read_queue_url=queues.request))
        config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)
        with anyio.fail_after(30):
            async with Client(sqs_client(config)) as client:
                result = await client.call_tool("echo", {"text": "hi"})
                assert result.content[0].text == "hi"
                assert client.protocol_version == "2026-07-28"
        tg.cancel_scope.cancel()


async def test_legacy_client_calls_tool(queues):
    server = build_server()
    async with anyio.create_task_group() as tg:
        await tg.start(serve_sqs, server, SqsServerConfig(read_queue_url=queues.request))
        config = SqsClientConfig(read_queue_url=queues.request)
        with anyio.fail_after(30):
            async with Client(sqs_client(config), mode="legacy") as client:
                result = await client.call_tool("echo", {"text": "hi"})
                assert result.content[0].text == "hi"
                assert client.protocol_version == "2025-11-25"
        tg.cancel_scope.cancel()


async def test_raw_session(queues):
    server = build_server()
    async with anyio.create_task_group() as tg:
        await tg.start(serve_sqs, server, SqsServerConfig(read_queue_url=queues.request))
        config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)
        with anyio.fail_after(30):
            async with sqs_client(config) as (read, write), ClientSession(read, write) as session:
                init = await session.initialize()
                assert init.protocol_version == "2025-11-25"
                result = await session.call_tool("echo", {"text": "raw"})
                assert result.content[0].text == "raw"
        tg.cancel_scope.cancel()
