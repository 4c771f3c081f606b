"""What happens to a webhook tool's answer when the client's receiver fails: retried while it
recovers, kept and fetched by the client when it does not; never run twice, never lost."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from starlette.applications import Starlette

from asyncmcp.channels.http_server import serve_asgi
from asyncmcp.streamable_http_webhook import streamable_http_webhook_client
from tests.client_answers import text_of
from tests.servers import CALLS
from tests.streamable_http_webhook.harness import Running, hybrid_server
from tests.waiting import wait_for

pytestmark = pytest.mark.anyio

HANG_GUARD = 30


class FailingAnswers:
    """In front of a receiver: answers 503 to the first `failures` webhooks that carry an answer."""

    def __init__(self, app: Any, failures: int) -> None:
        self.app = app
        self.failures = failures
        self.refused = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.refused >= self.failures:
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        if b'"result"' in body:
            self.refused += 1
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        given = False

        async def replay() -> Any:
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


@asynccontextmanager
async def flaky_receiver(failures: int) -> AsyncIterator[tuple[Starlette, str, FailingAnswers]]:
    app = Starlette()
    front = FailingAnswers(app, failures)
    async with serve_asgi(front, "127.0.0.1", 0) as port:
        yield app, f"http://127.0.0.1:{port}/webhook", front


def client_of(running: Running, app: Starlette, url: str, **fields: Any) -> Any:
    return streamable_http_webhook_client(running.client_config(webhook_url=url, **fields), app)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_receiver_that_fails_and_recovers_gets_the_answer_by_webhook(mode: Any) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with (
            hybrid_server(retry_delays=(0.05, 0.05, 0.05)) as running,
            flaky_receiver(failures=2) as (app, url, front),
            Client(client_of(running, app, url), mode=mode) as client,
        ):
            assert text_of(await client.call_tool("slow", {"steps": 1})) == "done 1"
            assert front.refused == 2
            await wait_for(lambda: running.hybrid.sender.stats["delivered"] == 1)  # on its third try


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_an_answer_whose_webhook_never_got_through_is_fetched_not_lost(mode: Any) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with (
            hybrid_server(retry_delays=(0.05,)) as running,
            flaky_receiver(failures=1000) as (app, url, _),
            Client(client_of(running, app, url, fetch_seconds=0.2), mode=mode) as client,
        ):
            before = CALLS.count("slow")
            assert text_of(await client.call_tool("slow", {"steps": 1})) == "done 1"
            await wait_for(lambda: running.hybrid.sender.stats["undelivered"] == 1)
            assert CALLS.count("slow") == before + 1  # fetched, not run again
            (call,) = [call for call in running.hybrid.calls._calls.values()]  # pyright: ignore[reportPrivateUsage]
            assert call.answer is not None and not call.delivered


async def test_a_resent_request_gets_the_kept_answer_and_a_fetch_of_an_unknown_call_gets_404() -> None:
    """The server side of the fetch, on the wire: the same POST again is answered from what was kept."""
    with anyio.fail_after(HANG_GUARD):
        async with (
            hybrid_server(retry_delays=(0.05,)) as running,
            flaky_receiver(failures=1000) as (app, url, _),
        ):
            async with Client(client_of(running, app, url, fetch_seconds=0.2)) as client:
                assert text_of(await client.call_tool("slow", {"steps": 1})) == "done 1"
                (call,) = [call for call in running.hybrid.calls._calls.values()]  # pyright: ignore[reportPrivateUsage]
                assert call.answer is not None
            body = (
                '{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"slow","arguments":{"steps":1},'
                '"_meta":{"webhookUrl":"%s"}}}'
            )
            async with httpx2.AsyncClient() as http:
                headers = {
                    "mcp-client-id": call.key[0],
                    "content-type": "application/json",
                    "accept": "application/json, text/event-stream",
                    "mcp-protocol-version": "2026-07-28",
                }
                again = await http.post(running.url, content=body % (call.key[2], url), headers=headers)
                assert again.status_code == 200
                assert again.json() == json.loads(call.answer)
                unknown = await http.post(
                    running.url, content=body % (999, url), headers={**headers, "asyncmcp-fetch": "result"}
                )
                assert unknown.status_code == 404
                assert "knows no webhook call 999" in unknown.json()["error"]["message"]
