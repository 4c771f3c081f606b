"""The proxy's edges: a graceful stop finishes in-flight calls, oversize bodies are refused, and a
missing backend queue is a clear error rather than a hang."""

from __future__ import annotations

import json
import os
import signal
import sys

import anyio
import httpx2
import pytest
from mcp import Client

from asyncmcp import SqsClientConfig
from asyncmcp.proxy import create_proxy_server
from tests.proxy.test_proxy import (
    HANG_GUARD,
    RAW_HEADERS,
    TS_CLIENT_DIR,
    backend,
    free_port,
    initialize_body,
    proxied,
    rpc_messages,
    stack,
    temporary_proxy_queues,
    text_of,
    ts_client_script,  # noqa: F401 (a fixture: it installs the TypeScript SDK)
)

pytestmark = pytest.mark.anyio

TS_STOP_SCRIPT = """
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
const client = new Client({ name: "ts-stop", version: "1.0.0" });
await client.connect(new StreamableHTTPClientTransport(new URL(process.argv[2])));
let told = false;
const result = await client.callTool({ name: "slow", arguments: { steps: 4, delay: 0.25 } }, undefined, {
  timeout: 30000,
  onprogress: () => { if (!told) { told = true; console.log("started"); } },
});
console.log(JSON.stringify(result));
await client.close();
"""
"""A TypeScript SDK client whose slow call is under way when the proxy is told to stop."""


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_stopping_the_proxy_lets_an_in_flight_call_finish(queues, mode):
    with anyio.fail_after(HANG_GUARD):
        async with backend(queues), proxied(queues) as proxy, Client(proxy.url, mode=mode) as client:
            outcome: list[str] = []
            started = anyio.Event()

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                started.set()

            async def call() -> None:
                result = await client.call_tool("slow", {"steps": 4, "delay": 0.25}, progress_callback=on_progress)
                outcome.append(text_of(result))

            await client.list_tools()  # the client checks results against the listed tools: list before stopping
            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                await started.wait()
                proxy.stop()  # graceful: the running call is allowed to finish
            assert outcome == ["done 4"]


async def test_a_body_over_the_limit_is_refused_with_413(queues):
    with anyio.fail_after(HANG_GUARD):
        async with stack(queues, max_body_bytes=2048) as proxy, httpx2.AsyncClient() as http:
            body = initialize_body()
            body["params"]["clientInfo"]["name"] = "x" * 4096
            response = await http.post(proxy.url, json=body, headers=RAW_HEADERS)
            assert response.status_code == 413
            small = await http.post(proxy.url, json=initialize_body(), headers=RAW_HEADERS)
            assert small.status_code == 200


async def test_a_missing_backend_queue_is_a_clear_error_that_names_it_only_in_the_log(queues, caplog):
    """The front client is told what is wrong, not where the backend lives (its queue URLs and
    cloud account); the operator's log names the queue."""
    missing = queues.request.rsplit("/", 1)[0] + "/no-such-queue"
    config = SqsClientConfig(read_queue_url=missing, response_queue_url=queues.reply)
    proxy = create_proxy_server(backend_transport="sqs", backend_config=config, port=0)
    with anyio.fail_after(HANG_GUARD):
        async with anyio.create_task_group() as tg, httpx2.AsyncClient() as http:
            await tg.start(proxy.run)
            try:
                response = await http.post(proxy.url, json=initialize_body(), headers=RAW_HEADERS)
                error = rpc_messages(response)[0]["error"]
                assert "does not exist" in error["message"]
                assert "no-such-queue" not in json.dumps(error)
                assert "123456789012" not in json.dumps(error)
                assert "<backend address>" in error["message"]
            finally:
                proxy.stop()
    assert any("no-such-queue" in record.getMessage() for record in caplog.records)


async def test_bound_beyond_loopback_without_allowlists_browser_origins_are_refused(queues):
    # 127.0.0.2 is still this machine, but not a name the proxy treats as loopback: it takes the
    # "real address, no allowlists" path, as 0.0.0.0 in a container would.
    async with backend(queues), proxied(queues, host="127.0.0.2", auth_token="t") as proxy:
        url = proxy.url
        headers = {**RAW_HEADERS, "Authorization": "Bearer t"}
        with anyio.fail_after(HANG_GUARD):
            async with httpx2.AsyncClient() as http:
                browser = await http.post(
                    url, json=initialize_body(), headers={**headers, "Origin": "http://evil.example"}
                )
                assert browser.status_code == 403
                tool = await http.post(url, json=initialize_body(), headers=headers)
                assert tool.status_code == 200


async def test_each_session_resumes_only_its_own_events():
    from mcp.types import JSONRPCNotification

    from asyncmcp.proxy.events import EventBudget, MemoryEventStore
    from asyncmcp.proxy.forwarding import build_proxy_server
    from asyncmcp.proxy.sessions import BoundedSessions

    manager = BoundedSessions(app=build_proxy_server(None), max_sessions_per_client=None, event_budget=EventBudget())  # type: ignore[arg-type]
    first, second = manager._admit_session(None), manager._admit_session(None)
    assert first is not None and second is not None
    stores = [first._event_store, second._event_store]
    assert all(isinstance(store, MemoryEventStore) for store in stores)
    assert stores[0] is not stores[1]

    def note(text: str) -> JSONRPCNotification:
        return JSONRPCNotification(jsonrpc="2.0", method="notifications/message", params={"data": text})

    # Both sessions name a stream "2" (the request id); each replays only its own events.
    mine = await stores[0].store_event("2", note("a1"))
    await stores[0].store_event("2", note("a2"))
    await stores[1].store_event("2", note("b1"))
    replayed: list[object] = []

    async def collect(event: object) -> None:
        replayed.append(event.message.params["data"])  # type: ignore[attr-defined]

    assert await stores[0].replay_events_after(mine, collect) == "2"
    assert replayed == ["a2"]
    assert await stores[1].replay_events_after(mine, collect) is None


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_the_stdio_proxy_stops_on_a_signal_and_deletes_its_temporary_queue(queues, endpoint, signum):
    # The TypeScript SDK stops a stdio server with SIGTERM (on every connect in auto mode); a person
    # presses Ctrl-C. Either must stop the proxy at once, stdin still open, and delete its queue.
    args = [sys.executable, "-m", "asyncmcp", "proxy", "--stdio", "--request-queue-url", queues.request]
    env = {**os.environ, **endpoint.environment()}
    with anyio.fail_after(HANG_GUARD):
        async with backend(queues), await anyio.open_process(args, env=env) as proc:
            assert proc.stdin is not None and proc.stdout is not None
            await proc.stdin.send((json.dumps(initialize_body()) + "\n").encode())
            answer = json.loads(await proc.stdout.receive())
            assert answer["id"] == 1 and "result" in answer
            assert len(await anyio.to_thread.run_sync(temporary_proxy_queues)) == 1
            proc.send_signal(signum)
            assert await proc.wait() == 0
    assert await anyio.to_thread.run_sync(temporary_proxy_queues) == []


async def test_sigterm_to_the_proxy_process_lets_a_2025_call_finish(queues, endpoint):
    port = free_port()
    args = [sys.executable, "-m", "asyncmcp", "proxy", "--port", str(port), "--request-queue-url", queues.request]
    env = {**os.environ, **endpoint.environment(), "PYTHONUNBUFFERED": "1"}
    with anyio.fail_after(HANG_GUARD):
        async with backend(queues), await anyio.open_process(args, env=env) as proc:
            assert proc.stdout is not None
            announced = await proc.stdout.receive()
            assert b"asyncmcp proxy:" in announced
            started = anyio.Event()

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                started.set()

            async with Client(f"http://127.0.0.1:{port}/mcp", mode="legacy") as client:
                await client.list_tools()
                async with anyio.create_task_group() as tg:
                    outcome: list[str] = []

                    async def call() -> None:
                        result = await client.call_tool(
                            "slow", {"steps": 4, "delay": 0.25}, progress_callback=on_progress
                        )
                        outcome.append(text_of(result))

                    tg.start_soon(call)
                    await started.wait()
                    proc.send_signal(signal.SIGTERM)
                assert outcome == ["done 4"]
            assert await proc.wait() == 0


async def test_sigterm_to_the_proxy_lets_a_typescript_sdk_call_finish(queues, endpoint, ts_client_script):  # noqa: F811
    """The TypeScript SDK 1.x client once hung when the proxy stopped under its call (issue 9, item 4)."""
    script = TS_CLIENT_DIR / f"stop.{os.getpid()}.mjs"
    script.write_text(TS_STOP_SCRIPT)
    port = free_port()
    args = [sys.executable, "-m", "asyncmcp", "proxy", "--port", str(port), "--request-queue-url", queues.request]
    env = {**os.environ, **endpoint.environment(), "PYTHONUNBUFFERED": "1"}
    try:
        with anyio.fail_after(HANG_GUARD):
            async with backend(queues), await anyio.open_process(args, env=env) as proc:
                assert proc.stdout is not None
                assert b"asyncmcp proxy:" in await proc.stdout.receive()
                node = ["node", str(script), f"http://127.0.0.1:{port}/mcp"]
                async with await anyio.open_process(node, cwd=TS_CLIENT_DIR) as client:
                    assert client.stdout is not None
                    lines = b""
                    async for chunk in client.stdout:
                        lines += chunk
                        if b"started" in lines and proc.returncode is None:
                            proc.send_signal(signal.SIGTERM)
                            break
                    async for chunk in client.stdout:
                        lines += chunk
                    assert await client.wait() == 0
                result = json.loads(lines.decode().strip().splitlines()[-1])
                assert result["content"] == [{"type": "text", "text": "done 4"}]
                assert await proc.wait() == 0
    finally:
        script.unlink(missing_ok=True)
