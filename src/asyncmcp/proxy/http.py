"""The proxy's Streamable HTTP front: the SDK's session manager behind auth and health endpoints.

`/mcp` is the SDK's `StreamableHTTPSessionManager` (both eras: 2025 sessions with `Mcp-Session-Id`,
GET stream, DELETE, SSE event ids and `Last-Event-ID` resumption; 2026 per-request exchanges),
wrapped in:

- an optional bearer token (the `Bearer` scheme in any case, RFC 7235), compared in constant
  time (401 otherwise);
- the SDK's Host/Origin validation against DNS rebinding, on by default when bound to a loopback
  address, with configurable allowlists;
- the SDK's body size limit, and a bound on how many large bodies are handled at once (a 4 MiB
  JSON body costs about 40 MiB once parsed and forwarded);
- 2025 sessions capped overall and per client, and bound to the client's address (`sessions.py`).

`/healthz` says the process is alive and nothing else; `/readyz` says whether the backend answers.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
from mcp.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from asyncmcp.proxy.backend import Backend, BackendOpener
from asyncmcp.proxy.events import EventBudget
from asyncmcp.proxy.sessions import BoundedSessions, FrontIdentity

__all__ = ["FrontSecurity", "InFlight", "build_http_app"]

logger = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")

READY_CACHE_SECONDS = 5.0
"""How long a /readyz verdict is reused."""

LARGE_BODY_WAIT_SECONDS = 30.0
"""How long a request with a large body waits for its turn before it is answered 503."""


@dataclass(frozen=True)
class FrontSecurity:
    """Who may talk to the proxy's HTTP front."""

    auth_token: str | None = None
    allowed_hosts: Sequence[str] | None = None
    """Host header values accepted (`host:*` allows any port). None: loopback names when bound to loopback."""
    allowed_origins: Sequence[str] | None = None
    """Origin header values accepted. None: loopback origins when bound to loopback."""
    max_body_bytes: int = 4 * 1024 * 1024
    large_body_bytes: int = 256 * 1024
    """A body larger than this (or of undeclared length) is large: at most `max_large_bodies` are
    handled at once."""
    max_large_bodies: int = 2
    max_sessions: int = 1000
    """2025 sessions open at once (an idle one costs 64-97 KiB); the SDK's own default is 10,000."""
    max_sessions_per_client: int | None = 100
    """2025 sessions one client address may hold at once. Behind a reverse proxy that does not pass
    the client's address (uvicorn trusts X-Forwarded-For from 127.0.0.1), every client shares one."""

    def transport_settings(self, host: str) -> TransportSecuritySettings | None:
        """The SDK's Host/Origin checks; None when bound to a real address with no allowlists
        (hostnames are unknown then: `OriginGuard` still refuses browser origins)."""
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


class OriginGuard:
    """ASGI middleware for a proxy bound beyond loopback with no allowlists: refuse any request that
    carries an `Origin` header (browsers send one on every POST, so a DNS-rebinding page is refused;
    MCP clients that are not browsers send none). Configure `allowed_origins` to admit web clients."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(name == b"origin" for name, _ in scope.get("headers", [])):
            response = PlainTextResponse(
                "Origin not allowed: start the proxy with --allowed-origin for browser clients", status_code=403
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class BearerAuth:
    """ASGI middleware: require `Authorization: Bearer <token>` (constant-time comparison of the
    token; the scheme name is case-insensitive, RFC 7235)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = token.encode()

    def _authorised(self, presented: bytes) -> bool:
        scheme, _, credentials = presented.strip().partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self._expected)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            presented = b""
            for name, value in scope.get("headers", []):
                if name == b"authorization":
                    presented = value
                    break
            if not self._authorised(presented):
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


class InFlight:
    """ASGI middleware counting the calls in flight: `/mcp` requests other than GET whose response
    has not finished (a call's SSE answer stream ends only after its answer was written). A GET is
    a 2025 session's standalone stream, which lasts as long as the session and is no call."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.count = 0
        self._idle: anyio.Event | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") == "GET":
            await self.app(scope, receive, send)
            return
        self.count += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.count -= 1
            if self.count == 0 and self._idle is not None:
                self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no call is in flight."""
        while self.count:
            self._idle = anyio.Event()
            await self._idle.wait()


class LargeBodyGate:
    """ASGI middleware: at most `slots` requests with a large body are handled at once.

    Others wait their turn (their bodies wait unread in the connection, costing nothing) for up to
    `LARGE_BODY_WAIT_SECONDS`, then get 503 with `Retry-After`. Memory then stays bounded however
    many clients send large arguments at once.
    """

    def __init__(self, app: ASGIApp, *, threshold: int, slots: int) -> None:
        self.app = app
        self.threshold = threshold
        self._slots = anyio.CapacityLimiter(slots)

    def _large(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            return False
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                return not value.isdigit() or int(value) > self.threshold
        return True  # a body of undeclared length may be any size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._large(scope):
            await self.app(scope, receive, send)
            return
        try:
            with anyio.fail_after(LARGE_BODY_WAIT_SECONDS):
                await self._slots.acquire()
        except TimeoutError:
            logger.warning("refused a large request: %d large requests were being handled", self._slots.total_tokens)
            body = json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": None,
                    "error": {"code": -32603, "message": "the proxy is busy with other large requests; retry shortly"},
                }
            ).encode()
            response = Response(body, status_code=503, media_type="application/json", headers={"Retry-After": "5"})
            await response(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._slots.release()


class _Endpoint:
    """The session manager as a plain ASGI app (a class instance, so Starlette's `Route` passes ASGI through)."""

    def __init__(self, manager: StreamableHTTPSessionManager) -> None:
        self._manager = manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._manager.handle_request(scope, receive, send)


def build_http_app(
    server: Server[Backend], opener: BackendOpener, *, host: str, security: FrontSecurity
) -> tuple[Starlette, BoundedSessions, InFlight]:
    """The proxy's ASGI app (`/mcp`, `/healthz`, `/readyz`), its session manager and its in-flight count."""
    settings = security.transport_settings(host)
    manager = BoundedSessions(
        app=server,
        security_settings=settings,
        max_request_body_size=security.max_body_bytes,
        max_sessions=security.max_sessions,
        max_sessions_per_client=security.max_sessions_per_client,
        event_budget=EventBudget(),
    )
    in_flight = InFlight(
        LargeBodyGate(_Endpoint(manager), threshold=security.large_body_bytes, slots=security.max_large_bodies)
    )
    mcp_app: ASGIApp = FrontIdentity(in_flight)
    if settings is None:
        mcp_app = OriginGuard(mcp_app)
        if not security.auth_token:
            logger.warning(
                "the proxy listens on %s with no --auth-token and no --allowed-host: anyone who can reach it can "
                "call the backend's tools; set a token or bind 127.0.0.1",
                host,
            )
    if security.auth_token:
        mcp_app = BearerAuth(mcp_app, security.auth_token)

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    verdict: dict[str, float | bool] = {"at": -READY_CACHE_SECONDS, "ready": False}

    async def readyz(_: Request) -> Response:
        # Cached: the check is an AWS call, and the endpoint is open to anyone who can reach it.
        now = time.monotonic()
        if now - verdict["at"] >= READY_CACHE_SECONDS:
            try:
                await opener.check_ready()
                verdict["ready"] = True
            except Exception as exc:
                logger.warning("readiness check failed: %s", exc)
                verdict["ready"] = False
            verdict["at"] = now
        return JSONResponse({"ready": bool(verdict["ready"])}, status_code=200 if verdict["ready"] else 503)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with manager.run():
            yield

    app = Starlette(
        routes=[Route("/healthz", healthz), Route("/readyz", readyz), Route("/mcp", endpoint=mcp_app)],
        lifespan=lifespan,
    )
    return app, manager, in_flight
