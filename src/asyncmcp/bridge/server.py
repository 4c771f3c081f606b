"""The bridge's MCP face: a lowlevel `Server` whose one middleware relays every request upstream.

The engine serves this server like any other (both eras, sessions, at-least-once delivery,
heartbeats, dedupe, cross-worker server-to-client requests); the middleware sends each request to
the upstream over a `relay.Link` from the worker's `UpstreamPool` and returns its raw answer, with
what the upstream sends within the request (progress, log lines, list changes, its own requests)
going back to the queue client on that request's loop.

Eras. The upstream speaks what its handshake found; the queue side serves both, translating:

- a 2025 caller of a 2025 upstream: `initialize` is answered with the upstream's own answer and
  requests are relayed on the child's session;
- a 2026 caller of a 2025 upstream: `server/discover` is answered from the upstream's
  `initialize` answer, the envelope is stripped, results get the fields 2026 requires; the
  upstream's own requests are refused (a 2026 client cannot be asked);
- a 2025 caller of a 2026 upstream: `initialize` is answered from `server/discover`, requests
  carry the caller's envelope, and an `input_required` answer is settled here by asking the
  caller (sampling, elicitation, roots) and retrying;
- a 2026 caller of a 2026 upstream: relayed as it is.

With `session_mode="per-session"` a 2025 caller gets an upstream session of its own (pool.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from mcp.server import Server, ServerRequestContext
from mcp.server.context import CallNext, HandlerResult
from mcp_types import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    INVALID_PARAMS,
    LOG_LEVEL_META_KEY,
    PROTOCOL_VERSION_META_KEY,
    SERVER_INFO_META_KEY,
)
from mcp_types.methods import CACHEABLE_METHODS
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION, MODERN_PROTOCOL_VERSIONS

from asyncmcp.bridge.pool import Handshake, SessionMode, UpstreamLink, UpstreamPool, modern_envelope
from asyncmcp.bridge.upstream import Upstream
from asyncmcp.codec import as_mapping
from asyncmcp.relay import ServerRequestFn, front_connection, front_request

__all__ = ["bridge_server"]

logger = logging.getLogger(__name__)

_ENVELOPE_KEYS = frozenset(
    {PROTOCOL_VERSION_META_KEY, CLIENT_INFO_META_KEY, CLIENT_CAPABILITIES_META_KEY, LOG_LEVEL_META_KEY}
)
"""The 2026-07-28 per-request `_meta` keys, taken off a request bound for a 2025 upstream."""

_LOCAL_NOTIFICATIONS = frozenset({"notifications/initialized", "notifications/cancelled", "notifications/progress"})
"""The caller's notifications the bridge settles itself: the upstream was initialized by the pool,
and a cancel reaches it as the link's own cancel."""

MAX_INPUT_ROUNDS = 8
"""`input_required` rounds driven for a 2025 caller of a 2026 upstream before giving up."""


def _strip_envelope(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if params is None:
        return None
    meta = as_mapping(params.get("_meta"))
    if meta is None:
        return dict(params)
    kept = {key: value for key, value in meta.items() if key not in _ENVELOPE_KEYS}
    return {**{k: v for k, v in params.items() if k != "_meta"}, **({"_meta": kept} if kept else {})}


def _with_envelope(params: Mapping[str, Any] | None, ctx: ServerRequestContext[Any, Any]) -> dict[str, Any]:
    connection = front_connection(ctx)
    client = connection.client_params
    info = client.client_info.model_dump(by_alias=True, exclude_none=True) if client is not None else None
    capabilities = connection.client_capabilities
    caps = capabilities.model_dump(by_alias=True, exclude_none=True) if capabilities is not None else {}
    outgoing = dict(params or {})
    meta = as_mapping(outgoing.get("_meta")) or {}
    outgoing["_meta"] = {**meta, **modern_envelope(info, caps)}
    return outgoing


def _initialize_answer(found: Handshake, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a 2025 caller's `initialize` is answered with."""
    if not found.modern:
        return dict(found.result)
    asked = (params or {}).get("protocolVersion")
    meta = as_mapping(found.result.get("_meta")) or {}
    answer: dict[str, Any] = {
        "protocolVersion": asked if asked in HANDSHAKE_PROTOCOL_VERSIONS else LATEST_HANDSHAKE_VERSION,
        "capabilities": found.result.get("capabilities", {}),
        "serverInfo": meta.get(SERVER_INFO_META_KEY) or {"name": "asyncmcp-bridge", "version": "1"},
    }
    if found.result.get("instructions"):
        answer["instructions"] = found.result["instructions"]
    return answer


def _discover_answer(found: Handshake) -> dict[str, Any]:
    """What a 2026 caller's `server/discover` is answered with."""
    if found.modern:
        return dict(found.result)
    answer: dict[str, Any] = {
        "supportedVersions": list(MODERN_PROTOCOL_VERSIONS),
        "capabilities": found.result.get("capabilities", {}),
        "_meta": {SERVER_INFO_META_KEY: found.result.get("serverInfo")},
    }
    if found.result.get("instructions"):
        answer["instructions"] = found.result["instructions"]
    return answer


def _as_modern_result(method: str, result: dict[str, Any], found: Handshake) -> dict[str, Any]:
    """A 2025 upstream's answer in 2026-07-28 shape: the fields that era requires (the SDK's own
    defaults: complete, never cached) and the upstream's `serverInfo` stamp."""
    required: dict[str, Any] = {"resultType": "complete"}
    if method in CACHEABLE_METHODS:
        required.update(ttlMs=0, cacheScope="private")
    meta = as_mapping(result.get("_meta")) or {}
    return {**required, **result, "_meta": {**meta, SERVER_INFO_META_KEY: found.result.get("serverInfo")}}


class BridgeMiddleware:
    """Relays every request of the queue's clients to the upstream and returns its raw answer."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        pool: UpstreamPool = ctx.lifespan_context
        modern = ctx.protocol_version in MODERN_PROTOCOL_VERSIONS
        if ctx.request_id is None:
            if ctx.method not in _LOCAL_NOTIFICATIONS and not modern:
                await self._forward_notification(ctx, pool)
            return None
        found = pool.handshake
        assert found is not None  # the pool's start-up waits for the first handshake
        if ctx.method == "initialize":
            return await call_next(ctx) if modern else _initialize_answer(found, ctx.params)
        if ctx.method == "server/discover":
            return _discover_answer(found)
        link, upstream_modern = await self._link_for(ctx, pool, modern)
        if modern and not upstream_modern:
            params = _strip_envelope(ctx.params)
        elif upstream_modern and not modern:
            params = _with_envelope(ctx.params, ctx)
        else:
            params = dict(ctx.params) if ctx.params is not None else None
        ask: ServerRequestFn | None = None
        if not modern:
            connection = front_connection(ctx)

            async def ask_caller(method: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
                return await connection.outbound.send_raw_request(method, params)

            ask = ask_caller
        result = await self._relay(ctx, link, params, ask)
        if upstream_modern and not modern and ask is not None:
            result = await self._drive_input(ctx, link, params, result, ask)
        if modern and not upstream_modern:
            result = _as_modern_result(ctx.method, result, found)
        return result

    async def _relay(
        self,
        ctx: ServerRequestContext[Any, Any],
        link: UpstreamLink,
        params: dict[str, Any] | None,
        ask: ServerRequestFn | None,
    ) -> dict[str, Any]:
        async def relay_progress(progress: float, total: float | None, message: str | None) -> None:
            await ctx.session.report_progress(progress, total, message)

        outbound = front_request(ctx)

        async def relay_notice(method: str, params: Mapping[str, Any] | None) -> None:
            await outbound.notify(method, params)

        return await link.request(
            ctx.method,
            params,
            front_id=ctx.request_id,
            on_progress=relay_progress,
            on_notice=relay_notice,
            close_stream=ctx.close_sse_stream,
            ask=ask,
        )

    async def _drive_input(
        self,
        ctx: ServerRequestContext[Any, Any],
        link: UpstreamLink,
        params: dict[str, Any] | None,
        result: dict[str, Any],
        ask: ServerRequestFn,
    ) -> dict[str, Any]:
        """A 2026 upstream's `input_required` answer, settled for a 2025 caller by asking it."""
        for _ in range(MAX_INPUT_ROUNDS):
            if result.get("resultType") != "input_required":
                return result
            requests = as_mapping(result.get("inputRequests")) or {}
            responses: dict[str, Any] = {}
            for key, asked in requests.items():
                request = as_mapping(asked) or {}
                method = request.get("method")
                if not isinstance(method, str):
                    continue
                responses[key] = await ask(method, as_mapping(request.get("params")))
            retry = {**(params or {}), "inputResponses": responses}
            if result.get("requestState") is not None:
                retry["requestState"] = result["requestState"]
            result = await self._relay(ctx, link, retry, ask)
        from mcp.shared.exceptions import MCPError

        raise MCPError(code=INVALID_PARAMS, message=f"the upstream asked for input more than {MAX_INPUT_ROUNDS} times")

    async def _link_for(
        self, ctx: ServerRequestContext[Any, Any], pool: UpstreamPool, modern: bool
    ) -> tuple[UpstreamLink, bool]:
        """The link for this request and whether it speaks 2026-07-28."""
        assert pool.handshake is not None
        if not modern and pool.session_mode == "per-session":
            connection = front_connection(ctx)
            if connection.session_id:
                client = connection.client_params
                info = client.client_info.model_dump(by_alias=True, exclude_none=True) if client is not None else None
                caps = connection.client_capabilities
                link = await pool.session_link(
                    connection.session_id,
                    connection.protocol_version or LATEST_HANDSHAKE_VERSION,
                    info,
                    caps.model_dump(by_alias=True, exclude_none=True) if caps is not None else None,
                )
                return link, False
        return await pool.pick(), pool.handshake.modern

    async def _forward_notification(self, ctx: ServerRequestContext[Any, Any], pool: UpstreamPool) -> None:
        """A 2025 caller's notification (`roots/list_changed`) goes to its own upstream session only."""
        session_id = front_connection(ctx).session_id
        if pool.session_mode != "per-session" or not session_id:
            logger.debug("dropped %s from a caller: the upstream session is shared", ctx.method)
            return
        link = pool.session_link_if_open(session_id)
        if link is not None:
            await link.notify(ctx.method, ctx.params)


def bridge_server(
    upstream: Upstream, *, session_mode: SessionMode = "per-child", name: str | None = None
) -> Server[Any]:
    """An MCP lowlevel `Server` that relays to `upstream`; serve it with `serving.Worker` on any channel.

    Args:
        upstream: a `StdioUpstream` (a command run as a pool of children) or an `HttpUpstream`.
        session_mode: for a 2025 upstream, `"per-child"` initializes each child (or HTTP client)
            once and relays every caller through it; `"per-session"` opens an upstream session
            for each 2025 queue session, for servers that keep per-session state (a 2026-07-28
            caller has no session and is served by the shared pool in either mode).
        name: the server's name in the logs (default: the upstream's command or URL).
    """

    @asynccontextmanager
    async def lifespan(_: Server[Any]) -> AsyncIterator[UpstreamPool]:
        async with UpstreamPool(upstream, session_mode=session_mode).running() as pool:
            yield pool

    server: Server[Any] = Server(name or f"asyncmcp-bridge {upstream.describe()}", lifespan=lifespan)
    server.middleware.append(BridgeMiddleware())
    return server
