"""The proxy's 2025 front sessions: the SDK's session manager, bounded, and bound to their client.

A 2025 session costs the proxy memory for as long as it lives (an idle one 64-97 KiB, most of it
its backend link), and the SDK would hold up to 10,000 of them. So:

- sessions are capped overall (`FrontSecurity.max_sessions`) and per client
  (`max_sessions_per_client`); past a cap, opening another gets 503 and existing sessions are
  unaffected (the SDK's idle timeout, 30 minutes, frees room);
- each session gets an event store of its own (`events.py`), all drawing on one byte budget, and
  its SSE streams tell the client when to reconnect (`SSE_RETRY_MILLISECONDS`);
- a stopping proxy ends every session at once (`terminate_sessions`), after its calls in flight
  finished;
- a session id works only for the client that opened it. The SDK refuses a session to a request
  whose credential is not the one that created it; `FrontIdentity` makes that credential what the
  front knows of a client: its network address (after uvicorn applies a trusted proxy's
  `X-Forwarded-For`). Holders of the shared bearer token are otherwise indistinguishable, so
  without this any of them could use another's session id; behind a reverse proxy that does not
  forward the client's address, every client has the reverse proxy's (docs/proxy.md).
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, AuthorizationContext
from mcp.server.auth.provider import AccessToken
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.types import ASGIApp, Receive, Scope, Send

from asyncmcp.proxy.events import SSE_RETRY_MILLISECONDS, EventBudget, MemoryEventStore

__all__ = ["BoundedSessions", "FrontIdentity"]

logger = logging.getLogger(__name__)


class FrontIdentity:
    """ASGI middleware: name the client of each request by its network address, as the credential
    the SDK's session manager binds a session to."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            client = scope.get("client")
            address = str(client[0]) if client else "unknown"
            scope["user"] = AuthenticatedUser(AccessToken(token="", client_id=f"address:{address}", scopes=[]))
        await self.app(scope, receive, send)


class BoundedSessions(StreamableHTTPSessionManager):
    """The SDK's session manager with a per-client session cap and a bounded event store per session."""

    def __init__(
        self, *args: Any, max_sessions_per_client: int | None, event_budget: EventBudget, **kwargs: Any
    ) -> None:
        super().__init__(
            *args, event_store=MemoryEventStore(event_budget), retry_interval=SSE_RETRY_MILLISECONDS, **kwargs
        )
        self.max_sessions_per_client = max_sessions_per_client
        self.event_budget = event_budget
        self._sessions: weakref.WeakSet[StreamableHTTPServerTransport] = weakref.WeakSet()

    def sessions_of(self, requestor: AuthorizationContext | None) -> int:
        # The SDK keeps who opened each session; mcp is pinned to 2.3.x.
        owners = self._session_owners.values()  # pyright: ignore[reportPrivateUsage]
        return sum(1 for owner in owners if owner == requestor)

    def _admit_session(self, requestor: AuthorizationContext | None) -> StreamableHTTPServerTransport | None:
        limit = self.max_sessions_per_client
        if requestor is not None and limit is not None and self.sessions_of(requestor) >= limit:
            logger.warning(
                "refusing a new session to %s: it already has %d open (max_sessions_per_client)",
                requestor["client_id"],
                limit,
            )
            return None
        transport = super()._admit_session(requestor)
        if transport is not None:
            # The manager hands every session the one store it was built with; mcp is pinned to 2.3.x.
            transport._event_store = MemoryEventStore(self.event_budget)  # pyright: ignore[reportPrivateUsage]
            self._sessions.add(transport)
        return transport

    async def terminate_sessions(self) -> None:
        """End every 2025 session: their open SSE streams (the GET stream included) close, so the
        HTTP server's graceful shutdown does not wait on streams that would never end by themselves."""
        for transport in list(self._sessions):
            await transport.terminate()
