"""The proxy's MCP face: a lowlevel `Server` whose only logic is one forwarding middleware.

The SDK does the front protocol work (Streamable HTTP sessions, SSE, event ids, both eras, stdio),
and calls server middleware for every inbound message before any handler. The middleware here
short-circuits every request to the backend and returns the backend's raw result, so the front
client sees exactly what the backend server said: its `initialize` / `server/discover` answer,
capabilities, tools, errors, `input_required` results. Nothing is re-modelled, so methods the
proxy has never heard of pass through too.

Era handling:
- 2026-07-28 requests go over the backend's shared link; progress is relayed with
  `ctx.session.report_progress`; a client that disconnects or cancels cancels the handler, and
  the link then sends `notifications/cancelled` downstream.
- 2025-11-25: `initialize` opens a dedicated backend link for the front session (kept in the
  front connection's state and closed with it); requests of that session use it; the backend's
  sampling/elicitation requests and notifications go to the front client on the session's
  standalone channel and the client's answers come back as the link's reply.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from mcp.server import Server, ServerRequestContext
from mcp.server.connection import Connection
from mcp.server.context import CallNext, HandlerResult

from asyncmcp.codec import has_modern_envelope
from asyncmcp.proxy.backend import Backend, BackendLink, BackendOpener

__all__ = ["build_proxy_server"]

logger = logging.getLogger(__name__)

_LINK_KEY = "asyncmcp.proxy.backend_link"
"""Where a 2025 front session keeps its backend link, in `Connection.state`."""

_LOCAL_NOTIFICATIONS = frozenset({"notifications/cancelled", "notifications/progress"})
"""Handled by the SDK on the front side (the cancel reaches the backend as the link's own cancel)."""


def _front_connection(ctx: ServerRequestContext[Any, Any]) -> Connection:
    # The SDK exposes the per-connection state only through the session proxy; mcp is pinned to 2.3.x.
    return ctx.session._connection  # pyright: ignore[reportPrivateUsage]


class ForwardingMiddleware:
    """Sends every front request to the backend and returns its raw answer."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        backend: Backend = ctx.lifespan_context
        if ctx.request_id is None:
            await self._forward_notification(ctx, backend)
            return None
        link = await self._link_for(ctx, backend)

        async def relay_progress(progress: float, total: float | None, message: str | None) -> None:
            await ctx.session.report_progress(progress, total, message)

        return await link.request(ctx.method, ctx.params, on_progress=relay_progress)

    async def _link_for(self, ctx: ServerRequestContext[Any, Any], backend: Backend) -> BackendLink:
        if ctx.method != "initialize" and has_modern_envelope(ctx.params):
            return backend.shared
        connection = _front_connection(ctx)
        link = connection.state.get(_LINK_KEY)
        if isinstance(link, BackendLink):
            return link
        if ctx.method != "initialize":
            return backend.shared  # a stateless 2025 client (no initialize): served per request

        async def to_front(method: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
            return await connection.outbound.send_raw_request(method, params)

        async def notify_front(method: str, params: Mapping[str, Any] | None) -> None:
            await connection.outbound.notify(method, params)

        link = await backend.open_link(on_server_request=to_front, on_notification=notify_front)
        connection.state[_LINK_KEY] = link
        connection.exit_stack.push_async_callback(link.close)
        return link

    async def _forward_notification(self, ctx: ServerRequestContext[Any, Any], backend: Backend) -> None:
        if ctx.method in _LOCAL_NOTIFICATIONS:
            return
        link = _front_connection(ctx).state.get(_LINK_KEY)
        if isinstance(link, BackendLink):
            await link.notify(ctx.method, ctx.params)


def build_proxy_server(opener: BackendOpener, *, name: str = "asyncmcp-proxy") -> Server[Backend]:
    """The proxy as an MCP lowlevel `Server`; its lifespan opens the backend once."""

    @asynccontextmanager
    async def lifespan(_: Server[Backend]) -> AsyncIterator[Backend]:
        async with Backend(opener).running() as backend:
            yield backend

    server: Server[Backend] = Server(name, lifespan=lifespan)
    server.middleware.append(ForwardingMiddleware())
    return server
