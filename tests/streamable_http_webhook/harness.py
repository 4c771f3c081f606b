"""A hybrid server on 127.0.0.1 for the tests: the test server with `slow` and `block` as webhook tools."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette

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


@dataclass
class Running:
    url: str
    hybrid: HybridServer
    posts: InFlight
    """POSTs (and DELETEs) whose answer has not finished: a held request shows in `posts.count`."""

    def client_config(self, **fields: Any) -> StreamableHTTPWebhookClientConfig:
        return StreamableHTTPWebhookClientConfig(server_url=self.url, signing_secrets=(SECRET,), **fields)


@asynccontextmanager
async def hybrid_server(server: Any = None, **fields: Any) -> AsyncIterator[Running]:
    values: dict[str, Any] = {"signing_secrets": (SECRET,), "allow_loopback": True, "webhook_tools": WEBHOOK_TOOLS}
    config = StreamableHTTPWebhookConfig(**{**values, **fields})
    app = Starlette()
    posts = InFlight(app)
    async with (
        mount_streamable_http_webhook(app, server if server is not None else build_server(), config) as hybrid,
        serve_asgi(posts, "127.0.0.1", 0) as port,
    ):
        yield Running(f"http://127.0.0.1:{port}/mcp", hybrid, posts)
