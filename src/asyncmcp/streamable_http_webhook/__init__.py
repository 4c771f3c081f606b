"""Streamable HTTP + webhook: quick tools answered inline, chosen long tools answered by webhook.

- `streamable_http_webhook_app(server, config)`: the server as a Starlette app (its lifespan runs
  everything); `mount_streamable_http_webhook(app, server, config)` adds it to your app (enter it in
  your lifespan); `serve_streamable_http_webhook(server, config)` runs it on `config.port`.
  `asyncmcp serve --transport hybrid --port N module:server` runs one.
- `webhook_tools={...}` in the config, or `@webhook_tool` on an `MCPServer` tool, chooses the tools
  answered by webhook; `tools/list` marks them (`_meta["dev.asyncmcp/webhook"]`).
- `streamable_http_webhook_client(config)`: the client transport for `mcp.Client` /
  `ClientSession`; `call_tool` returns a webhook tool's result exactly as an inline one's.

A client that names no webhook URL (any standard Streamable HTTP client) gets every tool inline.
docs/transports/streamable-http-webhook.md describes routing, the wire, security and failures.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from asyncmcp.channels.webhook.signing import generate_secret
from asyncmcp.streamable_http_webhook.config import StreamableHTTPWebhookClientConfig, StreamableHTTPWebhookConfig
from asyncmcp.streamable_http_webhook.tools import webhook_tool
from asyncmcp.streamable_http_webhook.wire import WEBHOOK_TOOL_META_KEY

if TYPE_CHECKING:
    from asyncmcp.streamable_http_webhook.client import streamable_http_webhook_client
    from asyncmcp.streamable_http_webhook.server import HybridServer

_LAZY = {
    "HybridServer": "asyncmcp.streamable_http_webhook.server",
    "streamable_http_webhook_client": "asyncmcp.streamable_http_webhook.client",
}
"""Loaded on first use, so registering the transport (`asyncmcp --help`) imports no web server."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "WEBHOOK_TOOL_META_KEY",
    "HybridServer",
    "StreamableHTTPWebhookClientConfig",
    "StreamableHTTPWebhookConfig",
    "generate_secret",
    "mount_streamable_http_webhook",
    "serve_streamable_http_webhook",
    "streamable_http_webhook_app",
    "streamable_http_webhook_client",
    "webhook_tool",
]


@asynccontextmanager
async def mount_streamable_http_webhook(
    app: Any, server: Any, config: StreamableHTTPWebhookConfig
) -> AsyncIterator[HybridServer]:
    """Serve `server` at `config.path` of `app` (Starlette or FastAPI) for the block; enter it in your
    app's lifespan (Starlette runs no lifespan of a mounted sub-app)."""
    from asyncmcp.channels.webhook.transport import mount_route
    from asyncmcp.streamable_http_webhook.server import HybridServer

    hybrid = HybridServer(server, config)
    mount_route(app, config.path, hybrid, methods=None)
    async with hybrid.running():
        yield hybrid


def streamable_http_webhook_app(server: Any, config: StreamableHTTPWebhookConfig) -> Any:
    """A Starlette app serving `server` at `config.path`; its lifespan runs the session manager and
    the webhook calls."""
    from starlette.applications import Starlette

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with mount_streamable_http_webhook(app, server, config):
            yield

    return Starlette(lifespan=lifespan)


async def serve_streamable_http_webhook(
    server: Any,
    config: StreamableHTTPWebhookConfig,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `server` on its own HTTP server (`config.port`) until cancelled."""
    from asyncmcp.serving import serve

    await serve(server, config, task_status=task_status)
