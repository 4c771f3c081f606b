from __future__ import annotations

import anyio
import pytest
from mcp import Client

from asyncmcp import SqsClientConfig, SqsServerConfig
from asyncmcp.proxy import create_proxy_server
from asyncmcp.sqs import serve_sqs
from tests.servers import build_server

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_client_through_proxy(queues, mode):
    async with anyio.create_task_group() as tg:
        await tg.start(serve_sqs, build_server(), SqsServerConfig(read_queue_url=queues.request))
        proxy = create_proxy_server(
            backend_transport="sqs",
            backend_config=SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply),
            port=0,
        )
        url = await tg.start(proxy.run)
        progress: list[float] = []

        async def on_progress(p: float, total: float | None, message: str | None) -> None:
            progress.append(p)

        with anyio.fail_after(30):
            async with Client(url, mode=mode) as client:
                tools = await client.list_tools()
                assert "echo" in [t.name for t in tools.tools]
                result = await client.call_tool("slow", {"steps": 3, "delay": 0.01}, progress_callback=on_progress)
                assert result.content[0].text == "done 3"
                assert progress == [1, 2, 3]
        proxy.stop()
        tg.cancel_scope.cancel()
