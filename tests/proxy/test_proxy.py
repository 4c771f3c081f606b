"""The proxy end to end: standard MCP clients (Streamable HTTP, stdio, the TypeScript SDK) reach a
server that lives behind a real SQS queue (moto on 127.0.0.1).

Every test runs the backend with `serve_sqs` and the proxy with `ProxyServer.run` in its own task
group, and stops the proxy gracefully (`stop()`, then waits for `run` to return) so uvicorn's
lifespan, and with it the proxy's backend, is closed before the test ends. Eras: "modern" is
`Client(url)` (2026-07-28), "legacy" is `Client(url, mode="legacy")` (2025-11-25, `Mcp-Session-Id`).
`anyio.fail_after` is only a hang guard; no test asserts on timing.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import boto3
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import (
    ElicitRequestParams,
    ElicitResult,
)

from asyncmcp import SqsClientConfig, SqsServerConfig
from asyncmcp.proxy import ProxyServer, create_proxy_server
from asyncmcp.sqs import serve_sqs
from tests.client_answers import elicit_blue, sample_hello, text_of
from tests.npm import npm_install
from tests.servers import CALLS, ProgressProbe, build_server
from tests.sqs_helpers import serving, wait_for

pytestmark = [
    pytest.mark.anyio,
    # Sampling is deprecated at 2026-07-28 but still part of the protocol the proxy carries.
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

ERAS = ["modern", "legacy"]
MODE = {"modern": "auto", "legacy": "legacy"}
PROTOCOL = {"modern": "2026-07-28", "legacy": "2025-11-25"}

HANG_GUARD = 30
"""Seconds after which a stuck test fails instead of hanging; never a timing assertion."""

RAW_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
"""What a Streamable HTTP POST must carry."""

TS_CLIENT_DIR = Path("/tmp/asyncmcp-ts-client")


# -- helpers ---------------------------------------------------------------------------------


backend = serving
"""Serve the test server on the request queue for the body of the block."""


@asynccontextmanager
async def proxied(queues: Any, *, backend_timeout: float | None = None, **options: Any) -> AsyncIterator[ProxyServer]:
    """A proxy in front of the request queue, on a free port, stopped gracefully on exit."""
    config = SqsClientConfig(
        read_queue_url=queues.request, response_queue_url=queues.reply, transport_timeout_seconds=backend_timeout
    )
    proxy = create_proxy_server(backend_transport="sqs", backend_config=config, port=0, **options)
    async with anyio.create_task_group() as tg:
        await tg.start(proxy.run)
        try:
            yield proxy
        finally:
            proxy.stop()


@asynccontextmanager
async def stack(queues: Any, **options: Any) -> AsyncIterator[ProxyServer]:
    """Backend server plus proxy; yields the proxy."""
    async with backend(queues), proxied(queues, **options) as proxy:
        yield proxy


def initialize_body(request_id: int = 1) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
    }


def rpc_messages(response: httpx2.Response) -> list[dict[str, Any]]:
    """The JSON-RPC messages of a Streamable HTTP answer (a JSON body or an SSE stream)."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        return [
            json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:") and line[5:].strip()
        ]
    return [response.json()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def queue_urls() -> set[str]:
    return set(boto3.client("sqs").list_queues().get("QueueUrls", []))


# -- 1. the SDK's Streamable HTTP client in both eras ------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_front_client_negotiates_its_era_through_the_proxy(queues, era):
    async with stack(queues) as proxy:
        with anyio.fail_after(HANG_GUARD):
            async with Client(proxy.url, mode=MODE[era]) as client:
                assert client.protocol_version == PROTOCOL[era]
                # The backend's own identity comes through unchanged.
                assert client.server_info.name == "test-server"


@pytest.mark.parametrize("era", ERAS)
async def test_tools_list_and_call_through_the_proxy(queues, era):
    async with stack(queues) as proxy:
        with anyio.fail_after(HANG_GUARD):
            async with Client(proxy.url, mode=MODE[era]) as client:
                names = {tool.name for tool in (await client.list_tools()).tools}
                assert {"echo", "slow", "block", "whoami", "big"} <= names
                assert text_of(await client.call_tool("echo", {"text": f"via proxy {era}"})) == f"via proxy {era}"


@pytest.mark.parametrize("era", ERAS)
async def test_resources_list_and_read_through_the_proxy(queues, era):
    async with stack(queues) as proxy:
        with anyio.fail_after(HANG_GUARD):
            async with Client(proxy.url, mode=MODE[era]) as client:
                listed = await client.list_resources()
                assert [str(resource.uri) for resource in listed.resources] == ["memo://greeting"]
                read = await client.read_resource("memo://greeting")
                assert [content.text for content in read.contents] == ["hello from a resource"]


@pytest.mark.parametrize("era", ERAS)
async def test_prompts_list_and_get_through_the_proxy(queues, era):
    async with stack(queues) as proxy:
        with anyio.fail_after(HANG_GUARD):
            async with Client(proxy.url, mode=MODE[era]) as client:
                prompts = (await client.list_prompts()).prompts
                assert [prompt.name for prompt in prompts] == ["review"]
                got = await client.get_prompt("review", {"code": "x = 1"})
                assert [message.content.text for message in got.messages] == ["Please review: x = 1"]


@pytest.mark.parametrize("era", ERAS)
async def test_progress_reaches_the_front_client_through_the_proxy(queues, era):
    probe = ProgressProbe()
    async with backend(queues, probe.server), proxied(queues) as proxy:
        with anyio.fail_after(HANG_GUARD):
            async with Client(proxy.url, mode=MODE[era]) as client:
                result = await client.call_tool("counted", {}, progress_callback=probe.on_progress)
                assert text_of(result) == "counted"
    assert sorted(probe.seen) == probe.expected  # each step exactly once, in whatever order


@pytest.mark.parametrize("era", ERAS)
async def test_backend_errors_reach_the_front_client_unchanged(queues, era):
    async with stack(queues) as proxy:
        with anyio.fail_after(HANG_GUARD):
            async with Client(proxy.url, mode=MODE[era]) as client:
                result = await client.call_tool("no_such_tool", {})
                assert result.is_error
                assert "no_such_tool" in result.content[0].text


# -- 2. legacy session specifics ---------------------------------------------------------------


async def test_legacy_responses_carry_the_session_id_the_client_then_sends(queues):
    seen: list[tuple[str, str | None, str | None]] = []  # (method, request's session id, response's)

    async def record(response: httpx2.Response) -> None:
        request = response.request
        seen.append((request.method, request.headers.get("mcp-session-id"), response.headers.get("mcp-session-id")))

    async with stack(queues) as proxy:
        with anyio.fail_after(HANG_GUARD):
            async with (
                httpx2.AsyncClient(event_hooks={"response": [record]}) as http,
                Client(streamable_http_client(proxy.url, http_client=http), mode="legacy") as client,
            ):
                assert text_of(await client.call_tool("echo", {"text": "s"})) == "s"
    first_method, first_sent, session_id = seen[0]
    assert (first_method, first_sent) == ("POST", None)  # initialize opens the session ...
    assert session_id  # ... and its answer names it
    later = [sent for method, sent, _ in seen[1:] if method == "POST"]
    assert later and set(later) == {session_id}
    assert ("DELETE", session_id) in [(method, sent) for method, sent, _ in seen]


async def test_delete_ends_a_legacy_session(queues):
    async with stack(queues) as proxy:
        with anyio.fail_after(HANG_GUARD):
            async with httpx2.AsyncClient(headers=RAW_HEADERS, timeout=HANG_GUARD) as http:
                opened = await http.post(proxy.url, json=initialize_body())
                assert opened.status_code == 200
                session_id = opened.headers["mcp-session-id"]
                assert rpc_messages(opened)[0]["result"]["serverInfo"]["name"] == "test-server"
                session = {"mcp-session-id": session_id, "mcp-protocol-version": "2025-11-25"}
                initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
                assert (await http.post(proxy.url, json=initialized, headers=session)).status_code == 202
                listed = await http.post(
                    proxy.url, json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers=session
                )
                assert listed.status_code == 200
                assert "echo" in {tool["name"] for tool in rpc_messages(listed)[0]["result"]["tools"]}

                assert (await http.delete(proxy.url, headers=session)).status_code in (200, 204)
                after = await http.post(
                    proxy.url, json={"jsonrpc": "2.0", "id": 3, "method": "tools/list"}, headers=session
                )
                assert after.status_code == 404


async def test_unknown_session_id_gets_404(queues):
    async with stack(queues) as proxy:
        with anyio.fail_after(HANG_GUARD):
            async with httpx2.AsyncClient(headers=RAW_HEADERS, timeout=HANG_GUARD) as http:
                response = await http.post(
                    proxy.url,
                    json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                    headers={"mcp-session-id": uuid.uuid4().hex, "mcp-protocol-version": "2025-11-25"},
                )
                assert response.status_code == 404


# -- 3. cancellation ---------------------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_cancelling_a_front_call_ends_the_backend_handler(queues, era):
    marker = f"proxy-{era}-{uuid.uuid4().hex[:8]}"
    async with stack(queues) as proxy:
        with anyio.fail_after(HANG_GUARD):
            async with Client(proxy.url, mode=MODE[era]) as client:
                outcome: list[str] = []

                async def call_block() -> None:
                    await client.call_tool("block", {"marker": marker})
                    outcome.append("returned")  # never reached: the call is cancelled

                async with anyio.create_task_group() as tg:
                    tg.start_soon(call_block)
                    await wait_for(lambda: f"block:{marker}" in CALLS)
                    tg.cancel_scope.cancel()
                assert outcome == []
                await wait_for(lambda: f"block-ended:{marker}" in CALLS)
                # The front session survives the cancellation.
                assert text_of(await client.call_tool("echo", {"text": "still here"})) == "still here"


# -- 4. sampling and elicitation -----------------------------------------------------------------


async def test_backend_elicitation_reaches_the_legacy_front_client(queues):
    async with stack(queues) as proxy:
        with anyio.fail_after(HANG_GUARD):
            async with Client(proxy.url, mode="legacy", elicitation_callback=elicit_blue) as client:
                assert text_of(await client.call_tool("ask_push", {})) == "accept:blue"


async def test_backend_sampling_reaches_the_legacy_front_client(queues):
    async with stack(queues) as proxy:
        with anyio.fail_after(HANG_GUARD):
            async with Client(proxy.url, mode="legacy", sampling_callback=sample_hello) as client:
                result = await client.call_tool("sample_push", {"topic": "hi"})
                assert text_of(result) == "model said hello (say hi)"


@pytest.mark.parametrize("era", ERAS)
async def test_resolved_elicitation_through_the_proxy_in_both_eras(queues, era):
    """2026: `input_required` passes through and the front client retries; 2025: a pushed request."""
    asked: list[str] = []

    async def on_elicit(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return await elicit_blue(context, params)

    async with stack(queues) as proxy:
        with anyio.fail_after(HANG_GUARD):
            async with Client(proxy.url, mode=MODE[era], elicitation_callback=on_elicit) as client:
                assert text_of(await client.call_tool("ask_resolved", {})) == "colour blue"
    assert asked == ["Which colour?"]


async def test_modern_input_required_round_trip_passes_through_the_proxy(queues):
    async with stack(queues) as proxy:
        with anyio.fail_after(HANG_GUARD):
            async with Client(proxy.url, elicitation_callback=elicit_blue) as client:
                first = await client.session.call_tool("ask_resolved", {}, allow_input_required=True)
                assert first.result_type == "input_required"
                (key,) = first.input_requests
                answer = ElicitResult(action="accept", content={"colour": "green"})
                final = await client.session.call_tool(
                    "ask_resolved", {}, input_responses={key: answer}, request_state=first.request_state
                )
                assert text_of(final) == "colour green"


# -- 5. many sessions through one proxy ----------------------------------------------------------


async def test_fifty_concurrent_sessions_of_mixed_eras_each_get_their_own_answers(queues):
    count = 50
    answers: dict[int, tuple[str, str]] = {}

    async def one_session(index: int, url: str) -> None:
        era = ERAS[index % 2]
        async with Client(url, mode=MODE[era]) as client:
            text = f"session-{index}-{uuid.uuid4().hex}"
            answers[index] = (text, text_of(await client.call_tool("echo", {"text": text})))
            assert client.protocol_version == PROTOCOL[era]

    async with stack(queues) as proxy:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for index in range(count):
                    tg.start_soon(one_session, index, proxy.url)
        # One backend reply queue for all of them: the proxy created no queue per session.
        assert await anyio.to_thread.run_sync(queue_urls) == {queues.request, queues.reply}
    assert sorted(answers) == list(range(count))
    assert all(sent == got for sent, got in answers.values())


# -- 6. auth and health ---------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "secret", "Basic c2VjcmV0"])
async def test_requests_without_the_right_token_get_401(queues, authorization):
    headers = dict(RAW_HEADERS)
    if authorization is not None:
        headers["Authorization"] = authorization
    async with stack(queues, auth_token="secret") as proxy:
        with anyio.fail_after(HANG_GUARD):
            async with httpx2.AsyncClient(timeout=HANG_GUARD) as http:
                response = await http.post(proxy.url, json=initialize_body(), headers=headers)
                assert response.status_code == 401
                assert response.headers["www-authenticate"].startswith("Bearer")
                assert "mcp-session-id" not in response.headers


@pytest.mark.parametrize("era", ERAS)
async def test_the_right_bearer_token_lets_the_sdk_client_in(queues, era):
    async with stack(queues, auth_token="secret") as proxy:
        with anyio.fail_after(HANG_GUARD):
            async with (
                httpx2.AsyncClient(headers={"Authorization": "Bearer secret"}) as http,
                Client(streamable_http_client(proxy.url, http_client=http), mode=MODE[era]) as client,
            ):
                assert text_of(await client.call_tool("echo", {"text": "authorised"})) == "authorised"


async def test_healthz_answers_without_a_token_and_reveals_nothing(queues):
    async with stack(queues, auth_token="secret") as proxy:
        with anyio.fail_after(HANG_GUARD):
            async with httpx2.AsyncClient(timeout=HANG_GUARD) as http:
                response = await http.get(proxy.url.removesuffix("/mcp") + "/healthz")
    assert response.status_code == 200
    assert response.text == "ok"
    for secret_or_detail in ("secret", queues.request, queues.reply, "sqs", "amazonaws", "127.0.0.1"):
        assert secret_or_detail not in response.text
        assert all(secret_or_detail not in value for value in response.headers.values())


async def test_readyz_is_200_when_the_request_queue_exists(queues):
    async with stack(queues, auth_token="secret") as proxy:
        with anyio.fail_after(HANG_GUARD):
            async with httpx2.AsyncClient(timeout=HANG_GUARD) as http:
                response = await http.get(proxy.url.removesuffix("/mcp") + "/readyz")
    assert response.status_code == 200
    assert response.json() == {"ready": True}


@pytest.mark.parametrize("gone", ["request", "reply"])
async def test_readyz_is_503_at_once_when_a_queue_is_gone(queues, gone):
    # A deleted reply queue is noticed at once too, not when its receiver's 20 s long poll ends.
    async with proxied(queues) as proxy:
        with anyio.fail_after(HANG_GUARD):
            url = queues.request if gone == "request" else queues.reply
            await anyio.to_thread.run_sync(lambda: boto3.client("sqs").delete_queue(QueueUrl=url))
            async with httpx2.AsyncClient(timeout=HANG_GUARD) as http:
                response = await http.get(proxy.url.removesuffix("/mcp") + "/readyz")
    assert response.status_code == 503
    assert response.json() == {"ready": False}


# -- 7. Origin and Host checks --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "value", "statuses"),
    [("Origin", "http://evil.example", (403, 400)), ("Host", "evil.example", (421, 400))],
)
async def test_a_foreign_origin_or_host_is_rejected_on_loopback(queues, header, value, statuses):
    async with stack(queues) as proxy:
        with anyio.fail_after(HANG_GUARD):
            async with httpx2.AsyncClient(headers=RAW_HEADERS, timeout=HANG_GUARD) as http:
                response = await http.post(proxy.url, json=initialize_body(), headers={header: value})
                assert response.status_code in statuses
                assert "mcp-session-id" not in response.headers


@pytest.mark.parametrize(
    ("header", "value"),
    [("Origin", "http://127.0.0.1:{port}"), ("Origin", "http://localhost:{port}"), ("Host", "localhost:{port}")],
)
async def test_a_loopback_origin_or_host_is_accepted(queues, header, value):
    async with stack(queues) as proxy:
        with anyio.fail_after(HANG_GUARD):
            async with httpx2.AsyncClient(headers=RAW_HEADERS, timeout=HANG_GUARD) as http:
                response = await http.post(
                    proxy.url, json=initialize_body(), headers={header: value.format(port=proxy.port)}
                )
                assert response.status_code == 200
                assert rpc_messages(response)[0]["result"]["protocolVersion"] == "2025-11-25"
                await http.delete(proxy.url, headers={"mcp-session-id": response.headers["mcp-session-id"]})


async def test_an_allowlisted_origin_is_accepted_and_others_rejected(queues):
    async with stack(queues, allowed_origins=["https://app.example"]) as proxy:
        with anyio.fail_after(HANG_GUARD):
            async with httpx2.AsyncClient(headers=RAW_HEADERS, timeout=HANG_GUARD) as http:
                allowed = await http.post(proxy.url, json=initialize_body(), headers={"Origin": "https://app.example"})
                assert allowed.status_code == 200
                await http.delete(proxy.url, headers={"mcp-session-id": allowed.headers["mcp-session-id"]})
                other = await http.post(proxy.url, json=initialize_body(), headers={"Origin": "http://evil.example"})
                assert other.status_code in (403, 400)


# -- 8. backend restart ---------------------------------------------------------------------------


class RestartableBackend:
    """The test server on the request queue, which a test can stop and start again."""

    def __init__(self, queues: Any, tg: anyio.abc.TaskGroup) -> None:
        self.queues, self.tg = queues, tg
        # The key a fleet shares (ASYNCMCP_STATE_KEY), so 2025 session ids outlive a restart.
        self.state_key = uuid.uuid4().hex
        self._scope: anyio.CancelScope | None = None
        self._stopped = anyio.Event()

    async def start(self) -> None:
        await self.tg.start(self._run)

    async def stop(self) -> None:
        assert self._scope is not None
        self._scope.cancel()
        await self._stopped.wait()

    async def _run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self._stopped = anyio.Event()
        try:
            with anyio.CancelScope() as self._scope:
                # A short long poll, so the stopped server's last poll is over before it comes back.
                config = SqsServerConfig(
                    read_queue_url=self.queues.request, wait_time_seconds=1, state_key=self.state_key
                )
                await serve_sqs(build_server(), config, task_status=task_status)
        finally:
            self._stopped.set()


@pytest.mark.parametrize("era", ERAS)
async def test_backend_restart_fails_calls_clearly_then_recovers_without_restarting_the_proxy(queues, era):
    async with proxied(queues, backend_timeout=2) as proxy, anyio.create_task_group() as tg:
        with anyio.fail_after(HANG_GUARD):
            server = RestartableBackend(queues, tg)
            await server.start()
            async with Client(proxy.url, mode=MODE[era]) as client:
                assert text_of(await client.call_tool("echo", {"text": "before"})) == "before"
                await server.stop()
                # The backend is down: the call fails with a clear error (naming the queue only in the log).
                with pytest.raises(MCPError) as raised:
                    await client.call_tool("echo", {"text": "while down"})
                assert "No worker answered" in str(raised.value)
                assert queues.request not in str(raised.value)
                await server.start()
                # The same front session and a new one both work again.
                assert text_of(await client.call_tool("echo", {"text": "after"})) == "after"
                async with Client(proxy.url, mode=MODE[era]) as fresh:
                    assert text_of(await fresh.call_tool("echo", {"text": "fresh"})) == "fresh"
            await server.stop()


# -- 8b. proxy lifecycle ---------------------------------------------------------------------------


def temporary_proxy_queues() -> list[str]:
    return [url for url in queue_urls() if "/asyncmcp-proxy-" in url]


async def test_stop_closes_the_backend_and_deletes_the_temporary_reply_queue(queues):
    proxy = create_proxy_server("sqs", SqsClientConfig(read_queue_url=queues.request), port=0)
    async with backend(queues):
        with anyio.fail_after(HANG_GUARD):
            async with anyio.create_task_group() as tg:
                url = await tg.start(proxy.run)
                async with Client(url) as client:
                    assert text_of(await client.call_tool("echo", {"text": "temp"})) == "temp"
                assert len(await anyio.to_thread.run_sync(temporary_proxy_queues)) == 1
                proxy.stop()
    assert await anyio.to_thread.run_sync(temporary_proxy_queues) == []


async def test_cancelling_run_closes_the_backend_and_deletes_the_temporary_reply_queue(queues):
    proxy = create_proxy_server("sqs", SqsClientConfig(read_queue_url=queues.request), port=0)
    with anyio.fail_after(HANG_GUARD):
        async with anyio.create_task_group() as tg:
            await tg.start(proxy.run)
            assert len(await anyio.to_thread.run_sync(temporary_proxy_queues)) == 1
            tg.cancel_scope.cancel()  # how a host application's task group ends the proxy
    assert await anyio.to_thread.run_sync(temporary_proxy_queues) == []


# -- 9. stdio front --------------------------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_stdio_front_serves_the_sdk_stdio_client(queues, endpoint, era):
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m",
            "asyncmcp.proxy",
            "--stdio",
            "--request-queue-url",
            queues.request,
            "--response-queue-url",
            queues.reply,
        ],
        env=endpoint.environment(),
    )
    async with backend(queues):
        with anyio.fail_after(HANG_GUARD):
            async with Client(params, mode=MODE[era]) as client:
                assert client.protocol_version == PROTOCOL[era]
                assert "echo" in {tool.name for tool in (await client.list_tools()).tools}
                assert text_of(await client.call_tool("echo", {"text": "over stdio"})) == "over stdio"


# -- 10. the official TypeScript SDK client ----------------------------------------------------------

TS_SCRIPT = """
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, text] = process.argv.slice(2);
const client = new Client({ name: "asyncmcp-ts-test", version: "1.0.0" });
const transport = new StreamableHTTPClientTransport(new URL(url));
await client.connect(transport);
const tools = await client.listTools();
const result = await client.callTool({ name: "echo", arguments: { text } });
const out = {
  server: client.getServerVersion(),
  protocolVersion: transport.protocolVersion,
  sessionId: transport.sessionId ?? null,
  tools: tools.tools.map((tool) => tool.name),
  result,
};
await transport.terminateSession();
await client.close();
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="session")
def ts_client_script() -> Iterator[Path]:
    """The TypeScript SDK installed once under /tmp/asyncmcp-ts-client, and the client script."""
    if not (TS_CLIENT_DIR / "node_modules" / "@modelcontextprotocol" / "sdk" / "package.json").exists():
        npm_install(TS_CLIENT_DIR, ["@modelcontextprotocol/sdk"], module_type=True)
    script = TS_CLIENT_DIR / "client.mjs"
    staged = TS_CLIENT_DIR / f"client.{os.getpid()}.mjs"
    staged.write_text(TS_SCRIPT)
    staged.replace(script)  # atomic: another test worker may be running the script right now
    yield script


async def test_typescript_sdk_client_lists_and_calls_tools_through_the_proxy(queues, ts_client_script):
    async with stack(queues) as proxy:
        with anyio.fail_after(60):
            done = await anyio.run_process(
                ["node", str(ts_client_script), proxy.url, "from typescript"], cwd=TS_CLIENT_DIR, check=False
            )
    assert done.returncode == 0, done.stderr.decode()
    out = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert out["server"]["name"] == "test-server"
    assert out["protocolVersion"] == "2025-11-25"
    assert out["sessionId"]
    assert {"echo", "slow", "block"} <= set(out["tools"])
    assert out["result"]["content"] == [{"type": "text", "text": "from typescript"}]
    assert not out["result"].get("isError")


# -- 11. the command line ----------------------------------------------------------------------------


@asynccontextmanager
async def cli_proxy(command: list[str]) -> AsyncIterator[tuple[anyio.abc.Process, str]]:
    """Run the proxy command; yields it and the URL it printed. Terminated and waited for on exit."""
    process = await anyio.open_process(command, stdout=subprocess.PIPE, stderr=None)
    try:
        assert process.stdout is not None
        buffer = b""
        while b"\n" not in buffer:
            chunk = await process.stdout.receive()
            buffer += chunk
        line = buffer.decode().splitlines()[0]
        assert line.startswith("asyncmcp proxy: http://"), line
        yield process, line.split()[2]
    finally:
        if process.returncode is None:
            process.terminate()
        with anyio.move_on_after(15, shield=True):
            await process.wait()
        if process.returncode is None:
            process.kill()
            with anyio.CancelScope(shield=True):
                await process.wait()
        await process.aclose()


def proxy_command(kind: str) -> list[str]:
    if kind == "module":
        return [sys.executable, "-m", "asyncmcp.proxy"]
    script = Path(sys.executable).parent / "asyncmcp"
    return [str(script), "proxy"] if script.exists() else [sys.executable, "-m", "asyncmcp", "proxy"]


@pytest.mark.parametrize("kind", ["module", "command"])
async def test_cli_proxy_serves_a_client(queues, kind):
    port = free_port()
    command = [*proxy_command(kind), "--backend", "sqs", "--port", str(port), "--request-queue-url", queues.request]
    async with backend(queues):
        with anyio.fail_after(HANG_GUARD):
            async with cli_proxy(command) as (process, url):
                assert url == f"http://127.0.0.1:{port}/mcp"
                async with Client(url) as client:
                    assert text_of(await client.call_tool("echo", {"text": f"cli {kind}"})) == f"cli {kind}"
            assert process.returncode == 0


async def test_cli_proxy_deletes_its_temporary_reply_queue_on_sigterm(queues):
    command = [*proxy_command("module"), "--port", "0", "--request-queue-url", queues.request]
    before = await anyio.to_thread.run_sync(queue_urls)
    async with backend(queues):
        with anyio.fail_after(HANG_GUARD):
            async with cli_proxy(command) as (process, url):
                async with Client(url, mode="legacy") as client:
                    assert text_of(await client.call_tool("echo", {"text": "temp"})) == "temp"
                (temporary,) = await anyio.to_thread.run_sync(queue_urls) - before
                assert "asyncmcp-proxy-" in temporary
    assert process.returncode == 0
    assert await anyio.to_thread.run_sync(queue_urls) == before
