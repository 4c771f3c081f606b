"""MCP protocol features end to end over every transport: a real moto endpoint, real SDK clients.

Each test runs once per transport (the `deployment` fixture: SQS, SNS+SQS), through the generic
assembly every face uses (`asyncmcp.serving`, `asyncmcp.connecting`).

Eras: "modern" is `Client(transport)` (2026-07-28), "legacy" is `Client(transport, mode="legacy")`
(2025-11-25) and "raw" is a v1-style `ClientSession(read, write)` + `initialize()` (2025-11-25).
Where a server handler and a client callback must meet, they meet on an `anyio.Event` (server
and client share this process), never on a sleep.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp import Client, ClientSession
from mcp.client import ClientRequestContext
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ToolsListChanged
from mcp.types import (
    ElicitRequestParams,
    ElicitResult,
    LoggingMessageNotificationParams,
)

from asyncmcp.channels.config import ClientSettings
from asyncmcp.connecting import connect as connect_transport
from asyncmcp.tasks import CreateTaskResult, TasksClient, start_task, wait_for_task
from tests.client_answers import elicit_blue, sample_hello, text_of
from tests.servers import CALLS, ProgressProbe, build_server
from tests.tasks.servers import task_server

pytestmark = [
    pytest.mark.anyio,
    # Logging and sampling are deprecated at 2026-07-28 but still part of the protocol we carry.
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

ERAS = ["modern", "legacy", "raw"]
"""Every way a client can talk to the server."""

PROTOCOL = {"modern": "2026-07-28", "legacy": "2025-11-25", "raw": "2025-11-25"}

HANG_GUARD = 30
"""Seconds after which a stuck test fails instead of hanging; never a timing assertion."""


# -- helpers ---------------------------------------------------------------------------------


@asynccontextmanager
async def connect(era: str, config: ClientSettings, *, replies: Any = None, **callbacks: Any) -> AsyncIterator[Any]:
    """A connected client of `era`: a `Client`, or an initialized `ClientSession` for "raw"."""
    transport = connect_transport(config, replies=replies)
    if era == "raw":
        async with transport as (read, write), ClientSession(read, write, **callbacks) as session:
            await session.initialize()
            yield session
        return
    mode = "legacy" if era == "legacy" else "auto"
    async with Client(transport, mode=mode, **callbacks) as client:
        assert client.protocol_version == PROTOCOL[era]
        yield client


async def wait_until(condition: Callable[[], bool], step: float = 0.02) -> None:
    """Poll for a condition the test cannot be told about (the caller bounds it with fail_after)."""
    while not condition():  # noqa: ASYNC110 - the condition lives in tests.servers.CALLS, not an Event
        await anyio.sleep(step)


# -- 1. tools, resources, prompts ----------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_tools_list_and_call_work_in_every_era(deployment, era):
    async with deployment.serving():
        with anyio.fail_after(HANG_GUARD):
            async with connect(era, deployment.client_config()) as client:
                names = {tool.name for tool in (await client.list_tools()).tools}
                assert {"echo", "slow", "block", "whoami", "big"} <= names
                assert text_of(await client.call_tool("echo", {"text": f"hi {era}"})) == f"hi {era}"


@pytest.mark.parametrize("era", ERAS)
async def test_resources_list_and_read_work_in_every_era(deployment, era):
    async with deployment.serving():
        with anyio.fail_after(HANG_GUARD):
            async with connect(era, deployment.client_config()) as client:
                listed = await client.list_resources()
                assert [str(resource.uri) for resource in listed.resources] == ["memo://greeting"]
                read = await client.read_resource("memo://greeting")
                assert [content.text for content in read.contents] == ["hello from a resource"]


@pytest.mark.parametrize("era", ERAS)
async def test_prompts_list_and_get_work_in_every_era(deployment, era):
    async with deployment.serving():
        with anyio.fail_after(HANG_GUARD):
            async with connect(era, deployment.client_config()) as client:
                prompts = (await client.list_prompts()).prompts
                assert [prompt.name for prompt in prompts] == ["review"]
                assert [argument.name for argument in prompts[0].arguments or []] == ["code"]
                got = await client.get_prompt("review", {"code": "x = 1"})
                assert len(got.messages) == 1
                assert got.messages[0].content.text == "Please review: x = 1"


# -- 2. progress ------------------------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_progress_notifications_reach_the_client_in_every_era(deployment, era):
    probe = ProgressProbe()
    async with deployment.serving(probe.server):
        with anyio.fail_after(HANG_GUARD):
            async with connect(era, deployment.client_config()) as client:
                result = await client.call_tool("counted", {}, progress_callback=probe.on_progress)
                assert text_of(result) == "counted"
    assert sorted(probe.seen) == probe.expected  # each step exactly once, in whatever order


@pytest.mark.parametrize("era", ERAS)
async def test_progress_of_the_stock_slow_tool_arrives_before_its_result(deployment, era):
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async with deployment.serving():
        with anyio.fail_after(HANG_GUARD):
            async with connect(era, deployment.client_config()) as client:
                result = await client.call_tool("slow", {"steps": 3, "delay": 0}, progress_callback=on_progress)
                assert text_of(result) == "done 3"
    # Frames may be reordered past the result on a standard queue; those that arrived are valid steps.
    assert set(seen) <= {1, 2, 3}


# -- 3. cancellation --------------------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_cancelling_a_client_call_ends_the_server_handler_in_every_era(deployment, era):
    marker = f"{era}-{uuid.uuid4().hex[:8]}"
    async with deployment.serving():
        with anyio.fail_after(HANG_GUARD):
            async with connect(era, deployment.client_config()) as client:
                outcome: list[str] = []

                async def call_block() -> None:
                    await client.call_tool("block", {"marker": marker})
                    outcome.append("returned")  # never reached: the call is cancelled

                async with anyio.create_task_group() as tg:
                    tg.start_soon(call_block)
                    await wait_until(lambda: f"block:{marker}" in CALLS)
                    tg.cancel_scope.cancel()
                assert outcome == []
                await wait_until(lambda: f"block-ended:{marker}" in CALLS)
                # The connection survives the cancellation.
                assert text_of(await client.call_tool("echo", {"text": "still here"})) == "still here"


@pytest.mark.parametrize("era", ERAS)
async def test_a_client_read_timeout_cancels_the_server_handler(deployment, era):
    marker = f"timeout-{era}-{uuid.uuid4().hex[:8]}"
    started = anyio.Event()
    server = build_server()

    @server.tool()
    async def block_signalled(marker: str) -> str:
        """Like `block`, but tells the test it started so the timeout surely hits a running handler."""
        CALLS.append(f"block:{marker}")
        started.set()
        try:
            await anyio.sleep(3600)
        finally:
            CALLS.append(f"block-ended:{marker}")
        return "unreachable"

    async with deployment.serving(server):
        with anyio.fail_after(HANG_GUARD):
            async with connect(era, deployment.client_config()) as client:
                # A generous read timeout: the request must reach the handler before it fires, and
                # the handler waits there forever, so the timeout, not a race, ends the call.
                with pytest.raises(MCPError) as raised:
                    await client.call_tool("block_signalled", {"marker": marker}, read_timeout_seconds=3)
                assert started.is_set()
                assert raised.value.error.code == -32001
                await wait_until(lambda: f"block-ended:{marker}" in CALLS)


# -- 4. logging -------------------------------------------------------------------------------


def logging_tool(server: MCPServer, expected: int) -> tuple[list[LoggingMessageNotificationParams], Any]:
    """Add a `chat` tool that logs at three levels and answers once the client got `expected` of them."""
    received: list[LoggingMessageNotificationParams] = []
    enough = anyio.Event()

    @server.tool()
    async def chat(ctx: Context) -> str:
        await ctx.debug("a debug line")
        await ctx.info("an info line")
        await ctx.log("warning", {"detail": "a warning"}, logger_name="tests")
        await enough.wait()
        return "chatted"

    async def on_log(params: LoggingMessageNotificationParams) -> None:
        received.append(params)
        if len(received) >= expected:
            enough.set()

    return received, on_log


@pytest.mark.parametrize("era", ["legacy", "raw"])
async def test_log_messages_reach_the_logging_callback_in_the_2025_era(deployment, era):
    server = build_server()
    received, on_log = logging_tool(server, expected=3)  # 2025: the server sends every level
    async with deployment.serving(server):
        with anyio.fail_after(HANG_GUARD):
            async with connect(era, deployment.client_config(), logging_callback=on_log) as client:
                assert text_of(await client.call_tool("chat", {})) == "chatted"
    by_level = {params.level: params for params in received}
    assert set(by_level) == {"debug", "info", "warning"}
    assert by_level["info"].data == "an info line"
    assert by_level["warning"].data == {"detail": "a warning"}
    assert by_level["warning"].logger == "tests"


async def test_log_messages_reach_a_modern_client_that_opted_in_at_or_above_its_level(deployment):
    server = build_server()
    received, on_log = logging_tool(server, expected=2)  # info and warning; debug is below the opt-in
    async with deployment.serving(server):
        with anyio.fail_after(HANG_GUARD):
            async with connect(
                "modern", deployment.client_config(), logging_callback=on_log, log_level="info"
            ) as client:
                assert text_of(await client.call_tool("chat", {})) == "chatted"
    assert sorted(params.level for params in received) == ["info", "warning"]
    assert {params.level: params.data for params in received}["info"] == "an info line"


async def test_a_modern_client_that_did_not_opt_in_gets_no_log_messages(deployment):
    received: list[LoggingMessageNotificationParams] = []

    async def on_log(params: LoggingMessageNotificationParams) -> None:
        received.append(params)

    async with deployment.serving():
        with anyio.fail_after(HANG_GUARD):
            async with connect("modern", deployment.client_config(), logging_callback=on_log) as client:
                assert text_of(await client.call_tool("chatty", {})) == "logged"
    assert received == []  # the server never sends them (SDK: no opt-in, no levels)


# -- 5. sampling and elicitation ----------------------------------------------------------------


@pytest.mark.parametrize("era", ["legacy", "raw"])
async def test_push_elicitation_returns_the_users_answer_in_the_2025_era(deployment, era):
    async with deployment.serving():
        with anyio.fail_after(HANG_GUARD):
            async with connect(era, deployment.client_config(), elicitation_callback=elicit_blue) as client:
                assert text_of(await client.call_tool("ask_push", {})) == "accept:blue"


@pytest.mark.parametrize("era", ["legacy", "raw"])
async def test_push_sampling_returns_the_models_answer_in_the_2025_era(deployment, era):
    async with deployment.serving():
        with anyio.fail_after(HANG_GUARD):
            async with connect(era, deployment.client_config(), sampling_callback=sample_hello) as client:
                result = await client.call_tool("sample_push", {"topic": "hi"})
                assert text_of(result) == "model said hello (say hi)"


@pytest.mark.parametrize("era", ["modern", "legacy"])
async def test_resolved_elicitation_returns_the_users_answer_in_both_eras(deployment, era):
    """2026: an `input_required` result and a retry; 2025: a pushed `elicitation/create`."""
    asked: list[str] = []

    async def on_elicit(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return await elicit_blue(context, params)

    async with deployment.serving():
        with anyio.fail_after(HANG_GUARD):
            async with connect(era, deployment.client_config(), elicitation_callback=on_elicit) as client:
                assert text_of(await client.call_tool("ask_resolved", {})) == "colour blue"
    assert asked == ["Which colour?"]


@pytest.mark.parametrize("era", ["modern", "legacy"])
async def test_resolved_sampling_returns_the_models_answer_in_both_eras(deployment, era):
    async with deployment.serving():
        with anyio.fail_after(HANG_GUARD):
            async with connect(era, deployment.client_config(), sampling_callback=sample_hello) as client:
                result = await client.call_tool("sample_resolved", {"topic": "hi"})
                assert text_of(result) == "model said hello (say hi) about hi"


async def test_modern_input_required_round_trip_is_visible_on_the_raw_session(deployment):
    """The 2026 flow by hand: the first answer asks for input; the retry with the answer completes."""
    async with deployment.serving():
        with anyio.fail_after(HANG_GUARD):
            async with connect("modern", deployment.client_config(), elicitation_callback=elicit_blue) as client:
                first = await client.session.call_tool("ask_resolved", {}, allow_input_required=True)
                assert first.result_type == "input_required"
                assert len(first.input_requests) == 1
                (key,) = first.input_requests
                answer = ElicitResult(action="accept", content={"colour": "green"})
                final = await client.session.call_tool(
                    "ask_resolved", {}, input_responses={key: answer}, request_state=first.request_state
                )
                assert text_of(final) == "colour green"


# -- 6. subscriptions/listen ----------------------------------------------------------------------


async def test_listen_receives_tools_list_changed_when_another_client_adds_a_tool(deployment):
    async with deployment.serving():
        with anyio.fail_after(HANG_GUARD):
            async with (
                connect("modern", deployment.client_config()) as listener,
                connect("legacy", deployment.client_config(private=True)) as actor,
            ):
                assert "fresh" not in {tool.name for tool in (await listener.list_tools()).tools}
                async with listener.listen(tools_list_changed=True) as subscription:
                    assert text_of(await actor.call_tool("grow", {"name": "fresh"})) == "added fresh"
                    event = await subscription.__anext__()
                    assert isinstance(event, ToolsListChanged)
                # The listen stream closed cleanly; the listener sees the new tool and can call it.
                assert "fresh" in {tool.name for tool in (await listener.list_tools()).tools}
                assert text_of(await listener.call_tool("fresh", {})) == "I am fresh"


# -- tasks (SEP-2663) ------------------------------------------------------------------------


async def test_a_task_tool_returns_its_final_result_through_call_tool(deployment):
    async with deployment.serving(task_server()):
        with anyio.fail_after(HANG_GUARD):
            transport = connect_transport(deployment.client_config())
            async with Client(transport, mode="2026-07-28", extensions=[TasksClient()]) as client:
                assert text_of(await client.call_tool("slow", {"seconds": 0.1, "label": "queued"})) == "slow queued"
                created = await start_task(client, "slow", {"seconds": 0})
                assert isinstance(created, CreateTaskResult)
                assert text_of(await wait_for_task(client, created.task_id)) == "slow done"
