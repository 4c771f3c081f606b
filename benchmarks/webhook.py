"""MCP over webhooks against a direct Streamable HTTP call to the same server, and fan-out with a slow receiver.

Round trips: one in-process `MCPServer` served two ways at once, by webhooks (`asyncmcp serve
--transport webhook` in process: a signed POST in, answered 202, a signed POST back to the client's
receiver) and by the SDK's own Streamable HTTP app on uvicorn (the floor: what a client that can
hold a connection open pays). One client of each era on each path, interleaved call by call, back
to back. Every hop is real HTTP on 127.0.0.1.

Fan-out: 32 clients call back to back, each with its own receiver; in alternate rounds one of them
is a receiver that answers every POST after 2 s. What the other 31 complete per second must not
change: the server's deliveries run per destination, so a slow receiver holds only its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp import Client
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from asyncmcp.channels.http_server import serve_asgi
from asyncmcp.serving import Worker
from asyncmcp.webhook import WebhookClientConfig, WebhookServerConfig, generate_secret, webhook_client
from benchmarks.latency import Figure, RoundTrips, echo, http_server, interleaved
from benchmarks.stats import median

__all__ = ["Fanout", "WebhookStack", "measure_fanout", "measure_webhook_round_trips", "webhook_stack"]

SLOW_RECEIVER_SECONDS = 2.0


@dataclass
class WebhookStack:
    """A webhook worker and the same server on Streamable HTTP, with a client of each era on each."""

    worker: Worker
    url: str
    secret: str
    clients: dict[str, Client]

    def client_config(self, **fields: Any) -> WebhookClientConfig:
        return WebhookClientConfig(server_url=self.url, signing_secrets=(self.secret,), **fields)


@asynccontextmanager
async def webhook_stack(server: Any) -> AsyncIterator[WebhookStack]:
    secret = generate_secret()
    config = WebhookServerConfig(port=0, signing_secrets=(secret,), allow_loopback=True, max_in_flight=64)
    async with AsyncExitStack() as stack:
        worker = await stack.enter_async_context(Worker(server, config))
        assert worker.binding is not None and worker.binding.endpoint is not None
        url = worker.binding.endpoint
        base = await stack.enter_async_context(http_server(server))
        client_config = WebhookClientConfig(server_url=url, signing_secrets=(secret,))
        clients = {
            "webhook-modern": Client(webhook_client(client_config)),
            "webhook-legacy": Client(webhook_client(client_config), mode="legacy"),
            "http-modern": Client(f"{base}/mcp"),
            "http-legacy": Client(f"{base}/mcp", mode="legacy"),
        }
        for client in clients.values():
            await stack.enter_async_context(client)
        yield WebhookStack(worker, url, secret, clients)


async def measure_webhook_round_trips(stack: WebhookStack, *, samples: int, warmup: int) -> RoundTrips:
    """Interleave one sample of each figure per iteration, back to back; `warmup` iterations discarded."""
    figures: list[Figure] = [(name, lambda client=client: echo(client)) for name, client in stack.clients.items()]
    return await interleaved(figures, samples=samples, warmup=warmup)


class _Slow:
    """An ASGI app that answers every request `seconds` late: a receiver under load, far away or stuck."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await anyio.sleep(self.seconds)
        await self.app(scope, receive, send)


@asynccontextmanager
async def _slow_client(stack: WebhookStack) -> AsyncIterator[Client]:
    """A client whose receiver is mounted in an app of its own, served behind a 2 s delay."""
    app = Starlette()
    async with serve_asgi(_Slow(app, SLOW_RECEIVER_SECONDS), "127.0.0.1", 0) as port:
        config = stack.client_config(webhook_url=f"http://127.0.0.1:{port}/webhook")
        async with Client(webhook_client(config, app=app)) as client:
            yield client


@dataclass
class Fanout:
    """Calls per second of the fast clients, round by round, with and without a slow receiver among them."""

    clients: int
    window_seconds: float
    without_slow: list[float] = field(default_factory=list[float])
    with_slow: list[float] = field(default_factory=list[float])
    slow_calls: int = 0

    def ratio(self) -> float:
        return median(self.with_slow) / median(self.without_slow)


async def _round(fast: list[Client], extra: Client, window: float) -> tuple[float, int]:
    """Every client calls back to back for `window` s (after 1 s of warm-up): the fast ones' calls/s
    and the extra client's completed calls."""
    counts = [0] * len(fast)
    extra_calls = 0
    counting = False

    async def run(index: int, client: Client) -> None:
        while True:
            await echo(client)
            if counting:
                counts[index] += 1

    async def run_extra() -> None:
        nonlocal extra_calls
        while True:
            await echo(extra)
            extra_calls += 1

    async with anyio.create_task_group() as tg:
        for index, client in enumerate(fast):
            tg.start_soon(run, index, client)
        tg.start_soon(run_extra)
        await anyio.sleep(1.0)
        counting = True
        await anyio.sleep(window)
        counting = False
        tg.cancel_scope.cancel()
    return sum(counts) / window, extra_calls


async def measure_fanout(stack: WebhookStack, *, clients: int, rounds: int, window: float) -> Fanout:
    """`clients - 1` fast clients plus one more, fast or slow in alternate rounds."""
    out = Fanout(clients, window)
    async with AsyncExitStack() as exits:
        fast = [await exits.enter_async_context(Client(webhook_client(stack.client_config()))) for _ in range(clients)]
        slow = await exits.enter_async_context(_slow_client(stack))
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:  # each client's first call (it lists the tools after)
                for client in [*fast, slow]:
                    tg.start_soon(echo, client)
        for _ in range(rounds):
            rate, _ = await _round(fast[:-1], fast[-1], window)
            out.without_slow.append(rate)
            rate, completed = await _round(fast[:-1], slow, window)
            out.with_slow.append(rate)
            out.slow_calls += completed
    return out
