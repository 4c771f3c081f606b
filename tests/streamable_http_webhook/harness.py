"""A hybrid server on 127.0.0.1 for the tests: the test server with `slow` and `block` as webhook tools."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette

from asyncmcp.channels.http_server import serve_asgi
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


class OpenPosts:
    """ASGI wrapper counting the POSTs whose answer has not finished: a held request shows here."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.open = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        self.open += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.open -= 1


@dataclass
class Running:
    url: str
    hybrid: HybridServer
    posts: OpenPosts

    def client_config(self, **fields: Any) -> StreamableHTTPWebhookClientConfig:
        return StreamableHTTPWebhookClientConfig(server_url=self.url, signing_secrets=(SECRET,), **fields)


@asynccontextmanager
async def hybrid_server(server: Any = None, **fields: Any) -> AsyncIterator[Running]:
    values: dict[str, Any] = {"signing_secrets": (SECRET,), "allow_loopback": True, "webhook_tools": WEBHOOK_TOOLS}
    config = StreamableHTTPWebhookConfig(**{**values, **fields})
    app = Starlette()
    posts = OpenPosts(app)
    async with (
        mount_streamable_http_webhook(app, server if server is not None else build_server(), config) as hybrid,
        serve_asgi(posts, "127.0.0.1", 0) as port,
    ):
        yield Running(f"http://127.0.0.1:{port}/mcp", hybrid, posts)
