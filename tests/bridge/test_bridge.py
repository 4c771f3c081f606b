"""The bridge over SQS (moto over HTTP): a third-party stdio server (`@modelcontextprotocol/server-
everything` from npm) and a Streamable HTTP server served behind a queue to clients of both eras."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import pytest
from mcp import Client
from mcp.client import ClientRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import (
    CreateMessageRequestParams,
    CreateMessageResult,
    ElicitRequestParams,
    ElicitResult,
    TextContent,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse

from asyncmcp import SqsClientConfig, SqsServerConfig
from asyncmcp.bridge import HttpUpstream, StdioUpstream, Upstream, bridge_server
from asyncmcp.bridge.pool import UpstreamPool
from asyncmcp.channels.http_server import serve_asgi
from asyncmcp.serving import Worker
from asyncmcp.sqs import sqs_client
from tests.client_answers import text_of
from tests.servers import CALLS, build_server
from tests.waiting import wait_for

pytestmark = pytest.mark.anyio

HANG_GUARD = 60
ERAS = {"2025": "legacy", "2026": "2026-07-28"}


@asynccontextmanager
async def bridged(queues: Any, upstream: Upstream, **options: Any) -> AsyncIterator[Worker]:
    config = SqsServerConfig(read_queue_url=queues.request, visibility_timeout_seconds=30)
    async with Worker(bridge_server(upstream, **options), config) as worker:
        yield worker


def client_of(queues: Any, mode: str, **callbacks: Any) -> Client:
    config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)
    return Client(sqs_client(config), mode=mode, **callbacks)  # pyright: ignore[reportArgumentType]


def pool_of(worker: Worker) -> UpstreamPool:
    assert worker.engine is not None
    pool = worker.engine.lifespan_state
    assert isinstance(pool, UpstreamPool)
    return pool


async def sample(context: ClientRequestContext, params: CreateMessageRequestParams) -> CreateMessageResult:
    return CreateMessageResult(role="assistant", content=TextContent(type="text", text="sampled here"), model="m")


async def elicit(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
    return ElicitResult(action="decline")


# -- 1. a stdio server nobody here wrote, to both eras -------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_a_stdio_server_serves_tools_progress_resources_and_prompts_to_both_eras(queues, everything, era):
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async with bridged(queues, StdioUpstream(everything)):
        with anyio.fail_after(HANG_GUARD):
            async with client_of(queues, ERAS[era]) as client:
                assert client.protocol_version == ("2025-11-25" if era == "2025" else "2026-07-28")
                names = {tool.name for tool in (await client.list_tools()).tools}
                assert {"echo", "get-sum", "trigger-long-running-operation"} <= names
                assert text_of(await client.call_tool("echo", {"message": era})) == f"Echo: {era}"
                done = await client.call_tool(
                    "trigger-long-running-operation", {"duration": 0.3, "steps": 3}, progress_callback=on_progress
                )
                assert "completed" in text_of(done)
                assert progress == [1, 2, 3]
                resources = (await client.list_resources()).resources
                read = await client.read_resource(str(resources[0].uri))
                assert read.contents
                prompts = {prompt.name for prompt in (await client.list_prompts()).prompts}
                assert "simple-prompt" in prompts
                got = await client.get_prompt("args-prompt", {"city": "Paris"})
                assert "Paris" in str(got.messages[0].content)


async def test_sampling_and_elicitation_reach_a_2025_client_and_its_answers_come_back(queues, everything):
    async with bridged(queues, StdioUpstream(everything)):
        with anyio.fail_after(HANG_GUARD):
            async with client_of(queues, "legacy", sampling_callback=sample, elicitation_callback=elicit) as client:
                sampled = await client.call_tool("trigger-sampling-request", {"prompt": "hi", "maxTokens": 5})
                assert "sampled here" in text_of(sampled)
                elicited = await client.call_tool("trigger-elicitation-request", {})
                assert "decline" in text_of(elicited).lower()


# -- 2. children: crashes, start-up, environment ----------------------------------------------------


async def test_a_child_killed_mid_call_fails_the_call_at_once_and_is_restarted(queues, everything, caplog):
    caplog.set_level(logging.WARNING, logger="asyncmcp.bridge.pool")
    started = anyio.Event()

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        started.set()

    async with bridged(queues, StdioUpstream(everything)) as worker:
        pool = pool_of(worker)
        (first,) = pool.pids
        with anyio.fail_after(HANG_GUARD):
            async with client_of(queues, "legacy") as client, anyio.create_task_group() as tg:
                failure: list[MCPError] = []

                async def call() -> None:
                    try:
                        await client.call_tool(
                            "trigger-long-running-operation",
                            {"duration": 30, "steps": 30},
                            progress_callback=on_progress,
                        )
                    except MCPError as exc:
                        failure.append(exc)

                tg.start_soon(call)
                await started.wait()
                os.kill(first, signal.SIGKILL)
            (error,) = failure
            assert "node" in error.error.message and "killed by SIGKILL" in error.error.message
            await wait_for(lambda: pool.pids and pool.pids[0] != first)
            async with client_of(queues, "legacy") as client:
                assert text_of(await client.call_tool("echo", {"message": "back"})) == "Echo: back"
    logged = [record.getMessage() for record in caplog.records]
    assert any("killed by SIGKILL; restarting in" in line and "the last lines of its stderr" in line for line in logged)


async def test_requests_go_to_the_least_busy_child_of_a_pool(queues, everything):
    async with bridged(queues, StdioUpstream(everything, pool=2)) as worker:
        assert len(pool_of(worker).pids) == 2
        with anyio.fail_after(HANG_GUARD):
            async with client_of(queues, "2026-07-28") as client, anyio.create_task_group() as tg:
                for _ in range(2):
                    tg.start_soon(client.call_tool, "trigger-long-running-operation", {"duration": 0.5, "steps": 1})
        # both ran at once, one per child: nothing hung, and both children are still there
        assert len(pool_of(worker).pids) == 2


async def test_a_command_that_cannot_start_fails_the_worker_at_start_up(queues):
    failing = StdioUpstream(["sh", "-c", "echo 'no such thing' >&2; exit 3"])
    with anyio.fail_after(HANG_GUARD), pytest.raises(Exception) as raised:
        async with bridged(queues, failing):
            pass
    from asyncmcp.cli.errors import root_cause

    message = str(root_cause(raised.value))
    assert "`sh -c" in message and "exited with status 3" in message and "no such thing" in message


async def test_children_get_no_secrets_they_were_not_given(queues, everything, monkeypatch):
    monkeypatch.setenv("ASYNCMCP_STATE_KEY", "worker-secret")
    monkeypatch.setenv("SHARED_WITH_CHILD", "passed")
    upstream = StdioUpstream(everything, env={"GIVEN": "given"}, pass_env=["SHARED_WITH_CHILD"])
    async with bridged(queues, upstream):
        with anyio.fail_after(HANG_GUARD):
            async with client_of(queues, "legacy") as client:
                seen = text_of(await client.call_tool("get-env", {}))
    assert "GIVEN" in seen and "passed" in seen
    assert "worker-secret" not in seen and "AWS_SECRET_ACCESS_KEY" not in seen and "AWS_ENDPOINT_URL" not in seen


# -- 3. a Streamable HTTP upstream (a 2026-capable SDK server), with a header ---------------------


@asynccontextmanager
async def http_upstream(token: str) -> AsyncIterator[str]:
    inner = build_server("http-upstream").streamable_http_app()

    async def guarded(scope: Mapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and Request(scope).headers.get("authorization") != f"Bearer {token}":
            await PlainTextResponse("no token", status_code=401)(scope, receive, send)
            return
        await inner(scope, receive, send)

    app = Starlette(lifespan=lambda _: inner.router.lifespan_context(inner))
    app.mount("/", guarded)
    async with serve_asgi(app, "127.0.0.1", 0, lifespan=True) as port:
        yield f"http://127.0.0.1:{port}/mcp"


@pytest.mark.parametrize("era", ERAS)
async def test_a_streamable_http_server_is_served_to_both_eras_with_its_header(queues, era):
    with anyio.fail_after(HANG_GUARD):
        async with http_upstream("sesame") as url:
            upstream = HttpUpstream(url, headers={"Authorization": "Bearer sesame"})
            async with bridged(queues, upstream), client_of(queues, ERAS[era], sampling_callback=sample) as client:
                assert text_of(await client.call_tool("echo", {"text": era})) == era
                assert text_of(await client.call_tool("slow", {"steps": 2})) == "done 2"
                sampled = await client.call_tool("sample_resolved", {"topic": "queues"})
                assert "sampled here" in text_of(sampled)


async def test_an_http_upstream_refusing_the_header_fails_the_worker_at_start_up(queues):
    with anyio.fail_after(HANG_GUARD):
        async with http_upstream("sesame") as url:
            with pytest.raises(Exception) as raised:
                async with bridged(queues, HttpUpstream(url, headers={"Authorization": "Bearer wrong"})):
                    pass
    from asyncmcp.cli.errors import root_cause

    assert f"the upstream `{url}` failed its handshake" in str(root_cause(raised.value))


# -- 4. per-session upstream sessions, cancellation, and what a 2026 caller cannot be asked ---------


async def test_per_session_mode_gives_each_2025_session_its_own_upstream_session(queues, everything):
    def answering(text: str) -> Any:
        async def sample_as(context: ClientRequestContext, params: CreateMessageRequestParams) -> CreateMessageResult:
            return CreateMessageResult(role="assistant", content=TextContent(type="text", text=text), model="m")

        return sample_as

    async with bridged(queues, StdioUpstream(everything), session_mode="per-session") as worker:
        with anyio.fail_after(HANG_GUARD):
            async with (
                client_of(queues, "legacy", sampling_callback=answering("from one")) as one,
                client_of(queues, "legacy", sampling_callback=answering("from two")) as two,
            ):
                seen: dict[str, str] = {}

                async def ask(name: str, client: Client) -> None:
                    result = await client.call_tool("trigger-sampling-request", {"prompt": name, "maxTokens": 5})
                    seen[name] = text_of(result)

                async with anyio.create_task_group() as tg:  # at once: each session's child knows its caller
                    tg.start_soon(ask, "one", one)
                    tg.start_soon(ask, "two", two)
                assert "from one" in seen["one"] and "from two" in seen["two"]
                assert pool_of(worker).open_sessions == 2


async def test_per_session_mode_serves_a_2026_caller_from_the_shared_pool(queues, everything):
    async with bridged(queues, StdioUpstream(everything), session_mode="per-session") as worker:
        pool = pool_of(worker)
        children = pool.pids
        with anyio.fail_after(HANG_GUARD):
            async with client_of(queues, "2026-07-28") as client:  # no session: nothing to give a child to
                for text in ("one", "two"):
                    assert text_of(await client.call_tool("echo", {"message": text})) == f"Echo: {text}"
        assert pool.open_sessions == 0
        assert pool.pids == children


async def test_a_2026_caller_of_a_2025_upstream_is_never_asked_and_the_upstream_is_told(queues, everything):
    async with bridged(queues, StdioUpstream(everything)):
        with anyio.fail_after(HANG_GUARD):
            async with client_of(queues, "2026-07-28", sampling_callback=sample) as client:
                try:
                    result = await client.call_tool("trigger-sampling-request", {"prompt": "hi", "maxTokens": 5})
                    said = str(result.content)
                except MCPError as exc:
                    said = exc.error.message
    assert "cannot reach a client" in said and "2026-07-28" in said


async def test_a_cancelled_call_cancels_the_upstream_request(queues):
    with anyio.fail_after(HANG_GUARD):
        async with http_upstream("sesame") as url:
            upstream = HttpUpstream(url, headers={"Authorization": "Bearer sesame"})
            async with bridged(queues, upstream), client_of(queues, "legacy") as client:
                marker = f"bridge-{id(client)}"
                with pytest.raises(MCPError):
                    await client.call_tool("block", {"marker": marker}, read_timeout_seconds=1)
                await wait_for(lambda: f"block-ended:{marker}" in CALLS)


# -- 5. every registered transport, and log lines within a request -------------------------------


async def test_the_bridge_serves_on_every_registered_transport(deployment, everything):
    from asyncmcp.connecting import connect

    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async with deployment.serving(bridge_server(StdioUpstream(everything))):
        with anyio.fail_after(HANG_GUARD):
            for mode in ERAS.values():
                async with Client(connect(deployment.client_config()), mode=mode) as client:
                    assert text_of(await client.call_tool("echo", {"message": mode})) == f"Echo: {mode}"
                    await client.call_tool(
                        "trigger-long-running-operation", {"duration": 0.2, "steps": 2}, progress_callback=on_progress
                    )
    assert progress == [1, 2, 1, 2]


async def test_log_lines_of_a_call_reach_a_2026_client(queues):
    lines: list[Any] = []

    async def on_log(params: Any) -> None:
        lines.append(params.data)

    with anyio.fail_after(HANG_GUARD):
        async with http_upstream("sesame") as url:
            upstream = HttpUpstream(url, headers={"Authorization": "Bearer sesame"})
            config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)
            async with (
                bridged(queues, upstream),
                Client(sqs_client(config), mode="2026-07-28", log_level="debug", logging_callback=on_log) as client,
            ):
                assert text_of(await client.call_tool("chatty", {})) == "logged"
    assert "an info line" in lines and {"detail": "a warning"} in lines


async def test_an_http_upstream_that_goes_away_fails_calls_and_not_the_worker(queues):
    stop, gone = anyio.Event(), anyio.Event()

    async def run_upstream(*, task_status: anyio.abc.TaskStatus[str]) -> None:
        async with http_upstream("sesame") as url:
            task_status.started(url)
            await stop.wait()
        gone.set()  # uvicorn shut down (a cancelled uvicorn would keep its open connections)

    with anyio.fail_after(HANG_GUARD):
        async with anyio.create_task_group() as tg:
            url = await tg.start(run_upstream)
            upstream = HttpUpstream(url, headers={"Authorization": "Bearer sesame"})
            async with bridged(queues, upstream), client_of(queues, "2026-07-28") as client:
                assert text_of(await client.call_tool("echo", {"text": "up"})) == "up"
                stop.set()
                await gone.wait()  # the HTTP server is gone
                for _ in range(2):  # answered each time: the worker lives on, and says why
                    with pytest.raises(MCPError) as failed:
                        await client.call_tool("echo", {"text": "down"})
                    assert "upstream" in failed.value.error.message, failed.value.error.message
