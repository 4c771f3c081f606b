"""A hybrid client gets inline and webhook tools' results through the same `call_tool`, both eras."""

from __future__ import annotations

import anyio
import pytest
from mcp import Client

from asyncmcp.streamable_http_webhook import streamable_http_webhook_client
from tests.client_answers import text_of
from tests.streamable_http_webhook.harness import hybrid_server

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_inline_and_webhook_tools_answer_through_call_tool(mode: str) -> None:
    with anyio.fail_after(30):
        async with hybrid_server() as running:
            async with Client(streamable_http_webhook_client(running.client_config()), mode=mode) as client:
                assert text_of(await client.call_tool("echo", {"text": "inline"})) == "inline"
                progress: list[float] = []

                async def on_progress(value: float, total: float | None, message: str | None) -> None:
                    progress.append(value)

                result = await client.call_tool("slow", {"steps": 3}, progress_callback=on_progress)
                assert text_of(result) == "done 3"
                assert progress == [1, 2, 3]
            assert running.hybrid.sender.stats["delivered"] >= 4  # three progress, one answer
