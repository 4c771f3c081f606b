"""The proxy's Streamable HTTP front: the SDK's session manager behind auth and health endpoints.

`/mcp` is the SDK's `StreamableHTTPSessionManager` (both eras: 2025 sessions with `Mcp-Session-Id`,
GET stream, DELETE, SSE event ids and `Last-Event-ID` resumption; 2026 per-request exchanges),
wrapped in:

- an optional bearer token, compared in constant time (401 otherwise);
- the SDK's Host/Origin validation against DNS rebinding, on by default when bound to a loopback
  address, with configurable allowlists;
- the SDK's body size limit.

`/healthz` says the process is alive and nothing else; `/readyz` says whether the backend answers.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from mcp.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from asyncmcp.proxy.backend import Backend, BackendOpener
from asyncmcp.proxy.events import MemoryEventStore

__all__ = ["FrontSecurity", "build_http_app"]

logger = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class FrontSecurity:
    """Who may talk to the proxy's HTTP front."""

    auth_token: str | None = None
    allowed_hosts: Sequence[str] | None = None
    """Host header values accepted (`host:*` allows any port). None: loopback names when bound to loopback."""
    allowed_origins: Sequence[str] | None = None
    """Origin header values accepted. None: loopback origins when bound to loopback."""
    max_body_bytes: int = 4 * 1024 * 1024
    extra: dict[str, Any] = field(default_factory=dict[str, Any])

    def transport_settings(self, host: str) -> TransportSecuritySettings | None:
        loopback = host in LOOPBACK_HOSTS
        if self.allowed_hosts is None and self.allowed_origins is None and not loopback:
            return None
        hosts = list(self.allowed_hosts) if self.allowed_hosts is not None else []
        origins = list(self.allowed_origins) if self.allowed_origins is not None else []
        if loopback and self.allowed_hosts is None:
            hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
        if loopback and self.allowed_origins is None:
            origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
        return TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
        )


class BearerAuth:
    """ASGI middleware: require `Authorization: Bearer <token>` (constant-time comparison)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            presented = b""
            for name, value in scope.get("headers", []):
                if name == b"authorization":
                    presented = value
                    break
            if not hmac.compare_digest(presented, self._expected):
                body = json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": None,
                        "error": {
                            "code": -32001,
                            "message": "Unauthorized: send "
                            "'Authorization: Bearer <token>' with the proxy's --auth-token",
                        },
                    }
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b'Bearer realm="asyncmcp-proxy"'),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


class _Endpoint:
    """The session manager as a plain ASGI app (a class instance, so Starlette's `Route` passes ASGI through)."""

    def __init__(self, manager: StreamableHTTPSessionManager) -> None:
        self._manager = manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._manager.handle_request(scope, receive, send)


def build_http_app(server: Server[Backend], opener: BackendOpener, *, host: str, security: FrontSecurity) -> Starlette:
    """The proxy's ASGI app: `/mcp`, `/healthz`, `/readyz`."""
    manager = StreamableHTTPSessionManager(
        app=server,
        event_store=MemoryEventStore(),
        security_settings=security.transport_settings(host),
        max_request_body_size=security.max_body_bytes,
    )
    mcp_app: ASGIApp = _Endpoint(manager)
    if security.auth_token:
        mcp_app = BearerAuth(mcp_app, security.auth_token)

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        try:
            await opener.check_ready()
        except Exception as exc:
            logger.warning("readiness check failed: %s", exc)
            return JSONResponse({"ready": False}, status_code=503)
        return JSONResponse({"ready": True})

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with manager.run():
            yield

    return Starlette(
        routes=[Route("/healthz", healthz), Route("/readyz", readyz), Route("/mcp", endpoint=mcp_app)],
        lifespan=lifespan,
    )
