"""A hybrid server on 127.0.0.1 for the tests: the test server with `slow` and `block` as webhook tools."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from asyncmcp.channels.http_server import serve_asgi
from asyncmcp.proxy.http import InFlight
from asyncmcp.streamable_http_webhook import (
    HybridServer,
    StreamableHTTPWebhookClientConfig,
    StreamableHTTPWebhookConfig,
    generate_secret,
    mount_streamable_http_webhook,
)
from tests.servers import build_server

SECRET = generate_secret()

WEBHOOK_TOOLS = frozenset({"slow", "block", "chatty", "ask_push"})


class Peers:
    """ASGI middleware recording the client address and port each POST came from: a new port is a
    new TCP connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.posts: list[tuple[str, int]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") == "POST" and scope.get("client"):
            host, port = scope["client"]
            self.posts.append((str(host), int(port)))
        await self.app(scope, receive, send)


@dataclass
class Running:
    url: str
    hybrid: HybridServer
    posts: InFlight
    """POSTs (and DELETEs) whose answer has not finished: a held request shows in `posts.count`."""
    peers: Peers

    def client_config(self, **fields: Any) -> StreamableHTTPWebhookClientConfig:
        return StreamableHTTPWebhookClientConfig(server_url=self.url, signing_secrets=(SECRET,), **fields)


@asynccontextmanager
async def hybrid_server(server: Any = None, **fields: Any) -> AsyncIterator[Running]:
    values: dict[str, Any] = {"signing_secrets": (SECRET,), "allow_loopback": True, "webhook_tools": WEBHOOK_TOOLS}
    config = StreamableHTTPWebhookConfig(**{**values, **fields})
    app = Starlette()
    posts = InFlight(app)
    peers = Peers(posts)
    async with (
        mount_streamable_http_webhook(app, server if server is not None else build_server(), config) as hybrid,
        serve_asgi(peers, "127.0.0.1", 0) as port,
    ):
        yield Running(f"http://127.0.0.1:{port}/mcp", hybrid, posts, peers)
