"""What the SDK's own Streamable HTTP front does that the proxy must do too, found by the MCP
conformance suite (tests/conformance): a 2026 `initialize` is not found, a `subscriptions/listen`
stream and a call's log lines reach the front request, `Mcp-Param-*` headers are checked against
the backend's tool schemas, and 2025 SSE streams say when to reconnect and close when the backend
handler closes its own (SEP-1699 polling).

Requests are raw HTTP, as the suite sends them, so each test sees the exact status, headers and
stream order the front client gets. `anyio.fail_after` is only a hang guard.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.prompts.base import Prompt
from mcp.shared.inbound import encode_header_value
from mcp.shared.subscriptions import SUBSCRIPTION_ID_META_KEY
from mcp_types import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    HEADER_MISMATCH,
    LOG_LEVEL_META_KEY,
    METHOD_NOT_FOUND,
    PROTOCOL_VERSION_META_KEY,
)
from pydantic import Field

from asyncmcp.proxy.events import SSE_RETRY_MILLISECONDS
from tests.proxy.test_proxy import HANG_GUARD, RAW_HEADERS, initialize_body, proxied, rpc_messages
from tests.servers import build_server
from tests.sqs_helpers import serving

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")]

MODERN = "2026-07-28"
LEGACY = "2025-11-25"
MODERN_META: dict[str, Any] = {
    PROTOCOL_VERSION_META_KEY: MODERN,
    CLIENT_CAPABILITIES_META_KEY: {},
    CLIENT_INFO_META_KEY: {"name": "raw", "version": "0"},
}

REGION = Field(description="Mirrored into Mcp-Param-Region", json_schema_extra={"x-mcp-header": "Region"})


def fixture_server() -> MCPServer:
    """The test server plus tools that change the prompt list, narrate a call, and take a header."""
    server = build_server()

    @server.tool()
    async def new_prompt(name: str, ctx: Context) -> str:
        """Add a prompt named `name` and tell `subscriptions/listen` subscribers the prompt list changed."""

        def added() -> str:
            return f"I am {name}"

        server.add_prompt(Prompt.from_function(added, name=name))
        await ctx.notify_prompts_changed()
        return f"added {name}"

    @server.tool()
    async def narrate(steps: int, ctx: Context) -> str:
        """Log a line and report progress for each step."""
        for step in range(1, steps + 1):
            await ctx.info(f"step {step}")
            await ctx.report_progress(step, steps)
        return f"narrated {steps}"

    @server.tool()
    async def regional(region: Annotated[str, REGION]) -> str:
        """Answer with the region the body named."""
        return f"region {region}"

    return server


def modern(method: str, request_id: int | str, **params: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """A 2026-07-28 request body and the headers the SDK's client sends with it."""
    meta = {**MODERN_META, **params.pop("_meta", {})}
    body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {**params, "_meta": meta}}
    headers = {**RAW_HEADERS, "MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    if method == "tools/call":
        headers["Mcp-Name"] = params["name"]
    return body, headers


async def sse_messages(response: httpx2.Response) -> AsyncIterator[dict[str, Any]]:
    """The JSON-RPC messages of an SSE response, as they arrive."""
    async for line in response.aiter_lines():
        if line.startswith("data:") and line[5:].strip():
            yield json.loads(line[5:])


@dataclass
class Front:
    """The proxy's URL, an HTTP client for raw requests, and the server behind the queue."""

    url: str
    http: httpx2.AsyncClient
    server: MCPServer


@asynccontextmanager
async def stack(queues: Any) -> AsyncIterator[Front]:
    """The fixture server behind the proxy, for the body of the block (hang-guarded)."""
    server = fixture_server()
    with anyio.fail_after(HANG_GUARD):
        async with serving(queues, server), proxied(queues) as proxy, httpx2.AsyncClient(timeout=HANG_GUARD) as http:
            yield Front(proxy.url, http, server)


# -- initialize at 2026-07-28 ------------------------------------------------------------------------


async def test_initialize_on_a_2026_request_is_not_found_as_on_the_sdk_front(queues):
    async with stack(queues) as front:
        body, headers = modern("initialize", 7)
        response = await front.http.post(front.url, json=body, headers=headers)
    assert response.status_code == 404
    answer = response.json()
    assert answer["id"] == 7
    assert answer["error"]["code"] == METHOD_NOT_FOUND


# -- subscriptions/listen ------------------------------------------------------------------------------


async def test_a_listen_stream_is_acknowledged_first_then_carries_changes_under_the_front_id(queues):
    async with stack(queues) as front, Client(front.url) as trigger:
        body, headers = modern("subscriptions/listen", "listen-1", notifications={"toolsListChanged": True})
        async with front.http.stream("POST", front.url, json=body, headers=headers) as stream:
            messages = sse_messages(stream)
            ack = await anext(messages)
            assert ack["method"] == "notifications/subscriptions/acknowledged"
            assert ack["params"]["_meta"][SUBSCRIPTION_ID_META_KEY] == "listen-1"
            await trigger.call_tool("grow", {"name": "sprout"})
            change = await anext(messages)
    assert change["method"] == "notifications/tools/list_changed"
    assert change["params"]["_meta"][SUBSCRIPTION_ID_META_KEY] == "listen-1"


async def test_a_listen_stream_gets_only_the_changes_it_asked_for(queues):
    async with stack(queues) as front, Client(front.url) as trigger:
        body, headers = modern("subscriptions/listen", 42, notifications={"promptsListChanged": True})
        async with front.http.stream("POST", front.url, json=body, headers=headers) as stream:
            messages = sse_messages(stream)
            assert (await anext(messages))["method"] == "notifications/subscriptions/acknowledged"
            await trigger.call_tool("grow", {"name": "sprout"})  # a tool change this stream did not ask for
            await trigger.call_tool("new_prompt", {"name": "shoot"})
            change = await anext(messages)
    assert change["method"] == "notifications/prompts/list_changed"
    assert change["params"]["_meta"][SUBSCRIPTION_ID_META_KEY] == 42


# -- what a call sends before its answer ---------------------------------------------------------------


async def test_a_2026_call_streams_its_log_lines_and_progress_in_order_before_its_answer(queues):
    async with stack(queues) as front:
        meta = {LOG_LEVEL_META_KEY: "info", "progressToken": "front-token"}
        body, headers = modern("tools/call", 3, name="narrate", arguments={"steps": 3}, _meta=meta)
        async with front.http.stream("POST", front.url, json=body, headers=headers) as stream:
            messages = [message async for message in sse_messages(stream)]
    seen = [
        ("log", m["params"]["data"])
        if m.get("method") == "notifications/message"
        else ("progress", m["params"]["progressToken"], m["params"]["progress"])
        if m.get("method") == "notifications/progress"
        else ("answer", m["id"])
        for m in messages
    ]
    steps = [entry for n in (1, 2, 3) for entry in (("log", f"step {n}"), ("progress", "front-token", n))]
    assert seen == [*steps, ("answer", 3)]


async def legacy_session(front: Front) -> dict[str, str]:
    """Open a 2025-11-25 session through the proxy; the headers its later requests carry."""
    opened = await front.http.post(front.url, json=initialize_body(), headers=RAW_HEADERS)
    session = {**RAW_HEADERS, "Mcp-Session-Id": opened.headers["mcp-session-id"], "MCP-Protocol-Version": LEGACY}
    await front.http.post(front.url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)
    return session


def legacy_call(request_id: int, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }


async def test_a_2025_call_streams_its_log_lines_on_its_own_response_before_its_answer(queues):
    async with stack(queues) as front:
        session = await legacy_session(front)
        response = await front.http.post(front.url, json=legacy_call(2, "narrate", {"steps": 2}), headers=session)
    messages = rpc_messages(response)
    assert [m.get("method") or m.get("id") for m in messages] == ["notifications/message"] * 2 + [2]
    assert [m["params"]["data"] for m in messages[:2]] == ["step 1", "step 2"]


async def test_a_2025_handler_that_closes_its_stream_lets_the_front_client_resume_for_the_answer(queues):
    released = anyio.Event()

    async def polls(ctx: Context) -> str:
        """Close the SSE stream (SEP-1699 polling), answer once the test says so."""
        await ctx.close_sse_stream()
        await released.wait()
        return "resumed"

    async with stack(queues) as front:
        front.server.add_tool(polls, name="polls")
        session = await legacy_session(front)
        event_ids: list[str] = []
        messages: list[dict[str, Any]] = []
        async with front.http.stream("POST", front.url, json=legacy_call(2, "polls", {}), headers=session) as stream:
            async for line in stream.aiter_lines():
                if line.startswith("id:"):
                    event_ids.append(line[3:].strip())
                elif line.startswith("data:") and line[5:].strip():
                    messages.append(json.loads(line[5:]))
        assert messages == [], "the stream should have ended before the answer"
        released.set()
        resume = {**session, "Accept": "text/event-stream", "Last-Event-ID": event_ids[-1]}
        async with front.http.stream("GET", front.url, headers=resume) as stream:
            answer = await anext(sse_messages(stream))
    assert answer["id"] == 2
    assert answer["result"]["content"][0]["text"] == "resumed"


# -- Mcp-Param-* headers (SEP-2243) -------------------------------------------------------------------------


def regional_call(request_id: int, region: str | None, header: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    arguments = {} if region is None else {"region": region}
    body, headers = modern("tools/call", request_id, name="regional", arguments=arguments)
    if header is not None:
        headers["Mcp-Param-Region"] = header
    return body, headers


HEADER_CASES = [
    pytest.param("eu-west-1", encode_header_value("eu-west-1"), 200, id="matching"),
    pytest.param("Hello", "=?base64?SGVsbG8?=", 400, id="bad-base64-padding"),
    pytest.param("Hello", "=?base64?SGVs!!!bG8=?=", 400, id="not-base64"),
    pytest.param("eu-west-1", None, 400, id="header-missing"),
    pytest.param("eu-west-1", "us-east-1", 400, id="header-disagrees"),
    pytest.param(None, "eu-west-1", 400, id="argument-missing"),
]


@pytest.mark.parametrize("listed_first", [True, False], ids=["schema-learned", "schema-fetched"])
async def test_mcp_param_headers_that_disagree_with_the_body_are_refused(queues, listed_first):
    async with stack(queues) as front:
        if listed_first:
            body, headers = modern("tools/list", 1)
            assert "regional" in {
                tool["name"]
                for tool in (await front.http.post(front.url, json=body, headers=headers)).json()["result"]["tools"]
            }
        outcomes = []
        for number, case in enumerate(HEADER_CASES, start=2):
            region, header, _ = case.values
            body, headers = regional_call(number, region, header)
            response = await front.http.post(front.url, json=body, headers=headers)
            outcomes.append((case.id, response.status_code, rpc_messages(response)[0]))
    for case_id, status, answer in outcomes:
        expected = next(case.values[2] for case in HEADER_CASES if case.id == case_id)
        assert status == expected, (case_id, answer)
        if expected == 400:
            assert answer["error"]["code"] == HEADER_MISMATCH, (case_id, answer)
        else:
            assert answer["result"]["content"][0]["text"] == "region eu-west-1"


async def test_a_schema_that_changed_since_it_was_listed_does_not_refuse_a_call_that_follows_the_new_one(queues):
    async with stack(queues) as front:
        body, headers = modern("tools/list", 1)
        await front.http.post(front.url, json=body, headers=headers)  # the proxy learns: region is mirrored in a header

        # A redeploy: the same tool, its argument no longer mirrored.
        async def regional(region: str) -> str:
            return f"plain {region}"

        front.server.remove_tool("regional")
        front.server.add_tool(regional, name="regional")
        body, headers = regional_call(2, "eu-west-1", None)
        response = await front.http.post(front.url, json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert rpc_messages(response)[0]["result"]["content"][0]["text"] == "plain eu-west-1"


# -- 2025 SSE streams -----------------------------------------------------------------------------------------


async def test_a_2025_sse_stream_tells_the_client_when_to_reconnect(queues):
    async with stack(queues) as front:
        response = await front.http.post(front.url, json=initialize_body(), headers=RAW_HEADERS)
    assert response.headers["content-type"].startswith("text/event-stream")
    assert f"retry: {SSE_RETRY_MILLISECONDS}" in response.text.splitlines()
