"""Configuration of the Streamable HTTP + webhook hybrid, server and client.

The server is a Streamable HTTP MCP server (its own on `host:port`, or an ASGI app to mount) that
answers the tools named in `webhook_tools` (or marked `@webhook_tool`) by webhook to clients that
named a webhook URL; the client is the SDK's Streamable HTTP client plus a verifying webhook
receiver. Both sides hold the webhook transport's signing secrets (ASYNCMCP_WEBHOOK_SECRETS by
default) and the server applies its SSRF rules to every webhook URL a client names.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from asyncmcp.channels.config import ClientSettings, ServerSettings
from asyncmcp.channels.webhook.config import (
    EgressSettings,
    HttpServerSettings,
    ReceiverSettings,
    ServerUrlSettings,
    SignedSettings,
)

__all__ = ["StreamableHTTPWebhookClientConfig", "StreamableHTTPWebhookConfig"]

DEFAULT_RESULT_TTL_SECONDS = 600.0
"""How long a webhook call's answer is kept for a client that fetches it: longer than the client's
whole retry schedule and its default timeout."""

DEFAULT_MAX_KEPT_RESULTS = 1000
"""Answers kept at most (1 MiB each at worst): a bound on the memory an unreachable webhook costs."""

DEFAULT_FETCH_SECONDS = 10.0
"""How often a client asks the server for a webhook call's answer that has not arrived: the
server's 202 then also says the call is still running."""


class StreamableHTTPWebhookConfig(HttpServerSettings, ServerSettings, SignedSettings, EgressSettings):
    """A Streamable HTTP server whose `webhook_tools` answer by webhook (both protocol eras)."""

    transport: ClassVar[str] = "hybrid"

    webhook_tools: frozenset[str] = frozenset()
    """Tools answered by webhook to a client that named a webhook URL (`"*"`: every tool;
    `@webhook_tool` marks more)."""
    allowed_hosts: tuple[str, ...] | None = None
    """Host header values accepted (DNS-rebinding protection; `host:*` for any port). None: loopback
    names when bound to loopback, no check otherwise."""
    allowed_origins: tuple[str, ...] | None = None
    """Origin header values accepted. None: loopback origins when bound to loopback."""
    result_ttl_seconds: float = Field(default=DEFAULT_RESULT_TTL_SECONDS, gt=0)
    """How long a webhook call's answer is kept for a resend or a fetch after it finished."""
    max_kept_results: int = Field(default=DEFAULT_MAX_KEPT_RESULTS, ge=1)
    """Finished webhook calls' answers kept at most (the oldest go first)."""


class StreamableHTTPWebhookClientConfig(ServerUrlSettings, ClientSettings, SignedSettings, ReceiverSettings):
    """A client of a hybrid server: Streamable HTTP for everything, webhook tools' answers by webhook."""

    transport: ClassVar[str] = "hybrid"

    fetch_seconds: float = Field(default=DEFAULT_FETCH_SECONDS, gt=0)
    """How often to ask the server for a webhook call's answer that has not arrived by webhook."""
