"""The hybrid as a registered transport (`hybrid`): served and connected as MCP over HTTP itself.

Its server is not a consumer of frames on a channel but the SDK's Streamable HTTP app with webhook
calls on the side, so it declares `serves_mcp` and the generic assembly asks it to serve
(`serve_mcp`: its own HTTP server on `config.port`, or mounted into the app passed as the client
named `app`) and to connect (`connect_mcp`: the hybrid client transport) instead of opening a
channel. `asyncmcp serve --transport hybrid` and `asyncmcp proxy --backend hybrid` come through here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from asyncmcp.channels.base import ChannelTransport, ClientBinding, Option, ServerBinding
from asyncmcp.streamable_http_webhook.config import StreamableHTTPWebhookClientConfig, StreamableHTTPWebhookConfig

__all__ = ["HybridTransport"]


def _names(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


_SERVER_OPTIONS = (
    Option("--port", "port", "port the Streamable HTTP server listens on (0: a free one)",
           env=("ASYNCMCP_HYBRID_PORT",), parse=int, metavar="PORT"),
    Option("--host", "host", "address to bind (default 127.0.0.1)", metavar="HOST"),
    Option("--path", "path", "the Streamable HTTP endpoint (default /mcp)", metavar="PATH"),
    Option("--public-url", "public_url", "the URL clients use, as they see it", metavar="URL"),
    Option("--webhook-tools", "webhook_tools", "comma-separated tools answered by webhook",
           env=("ASYNCMCP_WEBHOOK_TOOLS",), parse=_names, metavar="NAMES"),
    Option("--allow-webhook-url", "allowed_webhook_urls", "webhook URL glob answers may go to (repeatable)",
           repeat=True, metavar="GLOB"),
    Option("--allow-loopback", "allow_loopback", "allow webhook URLs on 127.0.0.1 (local development)", switch=True),
    Option("--allow-http", "allow_http", "allow plain-http webhook URLs", switch=True),
    Option("--allowed-host", "allowed_hosts", "Host header accepted (repeatable; host:* for any port)",
           repeat=True, metavar="HOST"),
)  # fmt: skip

_CLIENT_OPTIONS = (
    Option("--server-url", "server_url", "the hybrid server's Streamable HTTP URL",
           env=("ASYNCMCP_HYBRID_SERVER_URL",), metavar="URL"),
    Option("--receiver-port", "receiver_port", "port of the webhook receiver (default: a free one)", parse=int,
           metavar="PORT"),
)  # fmt: skip


class HybridTransport(ChannelTransport):
    """`hybrid`: Streamable HTTP, with chosen tools answered by signed webhook."""

    name = "hybrid"
    summary = "Streamable HTTP + webhook: quick tools inline, chosen long tools answered by signed webhook"
    server_config = StreamableHTTPWebhookConfig
    client_config = StreamableHTTPWebhookClientConfig
    client_names = ()
    """No `app`: a proxy opens one client per 2025 session (and one for 2026 requests), each with a
    receiver of its own on 127.0.0.1; mounted into the proxy's app they would share one route."""
    server_options = _SERVER_OPTIONS
    client_options = _CLIENT_OPTIONS
    serves_mcp = True

    @asynccontextmanager
    async def serve_mcp(
        self, server: Any, config: StreamableHTTPWebhookConfig, clients: Mapping[str, Any]
    ) -> AsyncIterator[str]:
        from asyncmcp.streamable_http_webhook import mount_streamable_http_webhook

        app = clients.get("app")
        if app is not None:
            async with mount_streamable_http_webhook(app, server, config):
                yield config.request_address
            return
        if config.port is None:
            raise ValueError(
                "a hybrid server needs a port (--port / port=) or an app to mount into "
                "(asyncmcp.streamable_http_webhook.streamable_http_webhook_app)"
            )
        from starlette.applications import Starlette

        from asyncmcp.channels.http_server import serve_asgi

        own = Starlette()
        async with (
            mount_streamable_http_webhook(own, server, config),
            serve_asgi(own, config.host, config.port) as port,
        ):
            yield config.public_url or f"http://{config.host}:{port}{config.path}"

    def connect_mcp(
        self, config: StreamableHTTPWebhookClientConfig, clients: Mapping[str, Any]
    ) -> AbstractAsyncContextManager[tuple[Any, Any]]:
        from asyncmcp.streamable_http_webhook.client import streamable_http_webhook_client

        return streamable_http_webhook_client(config, clients.get("app"), clients.get("app_url"))

    def open_server(self, config: Any, clients: Mapping[str, Any]) -> AbstractAsyncContextManager[ServerBinding]:
        raise TypeError("the hybrid transport serves MCP itself: use serving.Worker or asyncmcp serve")

    def open_client(
        self, config: Any, clients: Mapping[str, Any], *, purpose: str = "reply"
    ) -> AbstractAsyncContextManager[ClientBinding]:
        raise TypeError("the hybrid transport connects by itself: use streamable_http_webhook_client")
