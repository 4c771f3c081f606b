"""The proxy's MCP face: a lowlevel `Server` whose only logic is one forwarding middleware.

The SDK does the front protocol work (Streamable HTTP sessions, SSE, event ids, both eras, stdio),
and calls server middleware for every inbound message before any handler. The middleware here
short-circuits every request to the backend and returns the backend's raw result, so the front
client sees exactly what the backend server said: its `initialize` / `server/discover` answer,
capabilities, tools, errors, `input_required` results. Nothing is re-modelled, so methods the
proxy has never heard of pass through too.

Every forwarded request takes what the backend sends within it back to the front request:
progress through `ctx.session.report_progress` (the front client's own token), other notifications
(2026 log lines, a `subscriptions/listen` stream's acknowledgement and events, 2025 log lines of a
call) onto the front request's own stream, in arrival order and before its answer; a 2025 backend
handler that closes its SSE stream closes the front request's (`ctx.close_sse_stream`, offered by
the SDK when the session can resume).

Era handling:
- 2026-07-28 requests go over the backend's shared link; a client that disconnects or cancels
  cancels the handler, and the link then sends `notifications/cancelled` downstream. What the SDK's
  own HTTP front checks before dispatch but cannot check here without the server's tools is
  checked here: `Mcp-Param-*` headers against the backend's tool schemas (`param_headers.py`), the
  `Mcp-Name` of `tasks/*` requests against their task id (`tasks/routing.py`); an
  `initialize` is refused by the SDK itself (404, `-32601`: the 2026 protocol has no handshake).
- 2025-11-25: `initialize` opens a dedicated backend link for the front session (kept in the
  front connection's state and closed with it); requests of that session use it; the backend's
  sampling/elicitation requests and notifications that belong to no request go to the front
  client on the session's standalone channel and the client's answers come back as the link's reply.

Errors relayed to the front say what went wrong but not where the backend lives (`redaction.py`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from mcp.server import Server, ServerRequestContext
from mcp.server.context import CallNext, HandlerResult
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from asyncmcp.codec import as_mapping, has_modern_envelope
from asyncmcp.proxy.backend import Backend, BackendLink, BackendOpener
from asyncmcp.proxy.param_headers import ToolSchemas, check_param_headers
from asyncmcp.proxy.redaction import redacted_error, strings_of
from asyncmcp.relay import front_connection, front_request
from asyncmcp.tasks.routing import check_task_name_header

__all__ = ["build_proxy_server"]

logger = logging.getLogger(__name__)

_LINK_KEY = "asyncmcp.proxy.backend_link"
"""Where a 2025 front session keeps its backend link, in `Connection.state`."""

_LOCAL_NOTIFICATIONS = frozenset({"notifications/cancelled", "notifications/progress"})
"""Handled by the SDK on the front side (the cancel reaches the backend as the link's own cancel)."""


class ForwardingMiddleware:
    """Sends every front request to the backend and returns its raw answer."""

    def __init__(self) -> None:
        self.tool_schemas = ToolSchemas()

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        backend: Backend = ctx.lifespan_context
        if ctx.request_id is None:
            await self._forward_notification(ctx, backend)
            return None
        modern = ctx.protocol_version in MODERN_PROTOCOL_VERSIONS
        if modern and ctx.method == "initialize":
            return await call_next(ctx)  # the SDK's own answer: no such method at 2026-07-28
        link = await self._link_for(ctx, backend)
        headers = as_mapping(getattr(ctx.request, "headers", None))
        if modern and ctx.method == "tools/call" and headers is not None:

            async def list_tools(params: Mapping[str, Any]) -> dict[str, Any]:
                return await link.request("tools/list", params)

            await check_param_headers(ctx.params, headers, self.tool_schemas, list_tools)
        if modern and headers is not None:
            check_task_name_header(ctx.method, ctx.params, headers)

        async def relay_progress(progress: float, total: float | None, message: str | None) -> None:
            await ctx.session.report_progress(progress, total, message)

        outbound = front_request(ctx)

        async def relay_notice(method: str, params: Mapping[str, Any] | None) -> None:
            await outbound.notify(method, params)

        try:
            result = await link.request(
                ctx.method,
                ctx.params,
                front_id=ctx.request_id,
                on_progress=relay_progress,
                on_notice=relay_notice,
                close_stream=ctx.close_sse_stream,
            )
        except MCPError as exc:
            safe = redacted_error(exc, strings_of(ctx.params))
            if safe is None:
                raise
            logger.warning("%s failed at the backend (told the client less): %s", ctx.method, exc.error.message)
            raise safe from None
        if ctx.method == "tools/list":
            self.tool_schemas.learn(result)
        return result

    async def _link_for(self, ctx: ServerRequestContext[Any, Any], backend: Backend) -> BackendLink:
        if ctx.method != "initialize" and has_modern_envelope(ctx.params):
            return backend.shared
        connection = front_connection(ctx)
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
        link = front_connection(ctx).state.get(_LINK_KEY)
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
