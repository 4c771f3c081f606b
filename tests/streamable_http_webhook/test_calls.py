"""A hybrid client gets inline and webhook tools' results through the same `call_tool`, in both eras;
a webhook tool's POST is answered at once; standard clients get every tool inline."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.server import MCPServer, Server, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, ListToolsResult, TextContent, Tool

from asyncmcp.streamable_http_webhook import WEBHOOK_TOOL_META_KEY, streamable_http_webhook_client, webhook_tool
from tests.client_answers import text_of
from tests.servers import CALLS
from tests.streamable_http_webhook.harness import hybrid_server
from tests.waiting import wait_for

pytestmark = pytest.mark.anyio

MODES = ["auto", "legacy"]
HANG_GUARD = 30


@pytest.mark.parametrize("mode", MODES)
async def test_inline_and_webhook_tools_answer_through_call_tool(mode: Any) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with hybrid_server() as running:
            async with Client(streamable_http_webhook_client(running.client_config()), mode=mode) as client:
                assert text_of(await client.call_tool("echo", {"text": "inline"})) == "inline"
                progress: list[float] = []

                async def on_progress(value: float, total: float | None, message: str | None) -> None:
                    progress.append(value)

                result = await client.call_tool("slow", {"steps": 3}, progress_callback=on_progress)
                assert text_of(result) == "done 3"
                assert progress == [1, 2, 3]
            await wait_for(lambda: running.hybrid.sender.stats["delivered"] == 4)  # three progress, one answer


async def test_a_webhook_call_leaves_its_connection_to_the_next_call() -> None:
    """At 2026-07-28 every POST of a client goes over one kept-alive connection, a webhook call's 202
    included. (At 2025-11-25 the SDK's client closes each SSE answer before its end, so every POST
    there has a connection of its own, with the SDK's own server too.)"""
    with anyio.fail_after(HANG_GUARD):
        async with (
            hybrid_server() as running,
            Client(streamable_http_webhook_client(running.client_config())) as client,
        ):
            assert text_of(await client.call_tool("slow", {"steps": 1, "delay": 0})) == "done 1"
            assert text_of(await client.call_tool("echo", {"text": "next"})) == "next"
            assert len(set(running.peers.posts)) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_no_post_stays_open_while_a_webhook_tool_runs(mode: Any) -> None:
    marker = f"open-{mode}"
    with anyio.fail_after(HANG_GUARD):
        async with (
            hybrid_server() as running,
            Client(streamable_http_webhook_client(running.client_config()), mode=mode) as client,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(client.call_tool, "block", {"marker": marker})
            await wait_for(lambda: f"block:{marker}" in CALLS)
            await wait_for(lambda: running.posts.count == 0)  # the tool runs; no request is held for it
            assert len(running.hybrid.calls.running()) == 1
            tg.cancel_scope.cancel()


@pytest.mark.parametrize("mode", MODES)
async def test_cancelling_a_webhook_call_cancels_the_tool(mode: Any) -> None:
    marker = f"cancel-{mode}"
    with anyio.fail_after(HANG_GUARD):
        async with (
            hybrid_server() as running,
            Client(streamable_http_webhook_client(running.client_config()), mode=mode) as client,
        ):
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.call_tool, "block", {"marker": marker})
                await wait_for(lambda: f"block:{marker}" in CALLS)
                tg.cancel_scope.cancel()
            await wait_for(lambda: f"block-ended:{marker}" in CALLS)
            await wait_for(lambda: not running.hybrid.calls.running())
            assert text_of(await client.call_tool("echo", {"text": "still fine"})) == "still fine"


@pytest.mark.parametrize("mode", MODES)
async def test_a_standard_client_gets_webhook_tools_inline(mode: Any) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with hybrid_server() as running, Client(running.url, mode=mode) as client:
            assert text_of(await client.call_tool("slow", {"steps": 2})) == "done 2"
            assert running.hybrid.sender.stats["delivered"] == 0
            assert not running.hybrid.calls.running()


@pytest.mark.parametrize("mode", MODES)
async def test_tools_list_marks_webhook_tools_from_the_config_and_the_decorator(mode: Any) -> None:
    server = MCPServer("marked")

    @server.tool()
    @webhook_tool
    async def report(month: str) -> str:
        return f"report {month}"

    @webhook_tool()
    @server.tool()
    async def audit() -> str:
        return "audited"

    @server.tool()
    async def quick() -> str:
        return "quick"

    @server.tool()
    async def named() -> str:
        return "named"

    with anyio.fail_after(HANG_GUARD):
        async with (
            hybrid_server(server, webhook_tools=frozenset({"named"})) as running,
            Client(streamable_http_webhook_client(running.client_config()), mode=mode) as client,
        ):
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            marked = {name for name, tool in tools.items() if (tool.meta or {}).get(WEBHOOK_TOOL_META_KEY) is True}
            assert marked == {"report", "audit", "named"}
            assert text_of(await client.call_tool("report", {"month": "2026-11"})) == "report 2026-11"
            assert text_of(await client.call_tool("quick", {})) == "quick"
            await wait_for(lambda: running.hybrid.sender.stats["delivered"] == 1)  # report's answer; quick inline


async def test_a_lowlevel_server_names_its_webhook_tools_in_the_config() -> None:
    async def list_tools(ctx: ServerRequestContext[Any, Any], params: Any) -> ListToolsResult:
        return ListToolsResult(tools=[Tool(name="crunch", input_schema={"type": "object"})])

    async def call_tool(ctx: ServerRequestContext[Any, Any], params: Any) -> CallToolResult:
        return CallToolResult(content=[TextContent(type="text", text=f"crunched by {params.name}")])

    server = Server("lowlevel", on_list_tools=list_tools, on_call_tool=call_tool)
    with anyio.fail_after(HANG_GUARD):
        async with (
            hybrid_server(server, webhook_tools=frozenset({"crunch"})) as running,
            Client(streamable_http_webhook_client(running.client_config())) as client,
        ):
            (tool,) = (await client.list_tools()).tools
            assert (tool.meta or {}).get(WEBHOOK_TOOL_META_KEY) is True
            assert text_of(await client.call_tool("crunch", {})) == "crunched by crunch"
            await wait_for(lambda: running.hybrid.sender.stats["delivered"] == 1)


async def test_a_webhook_url_the_server_may_not_post_to_fails_the_call_at_once() -> None:
    with anyio.fail_after(HANG_GUARD):
        async with (
            hybrid_server(allow_loopback=False) as running,
            Client(streamable_http_webhook_client(running.client_config())) as client,
        ):
            assert text_of(await client.call_tool("echo", {"text": "inline works"})) == "inline works"
            with pytest.raises(MCPError, match=r"may not answer at http://127\.0\.0\.1"):
                await client.call_tool("slow", {"steps": 1})
