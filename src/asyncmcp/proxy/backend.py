"""The proxy's side facing the queue: backend links over any client transport.

A `Backend` is opened once per proxy (in the proxy server's lifespan). It owns the channel, one
shared reply receiver for every session of the proxy, and a task group that hosts the links:

- one *shared* link carries every 2026-07-28 request (they are self-contained, and the link mints
  its own JSON-RPC ids, so front clients' ids never collide);
- each 2025-11-25 front session gets its own link, opened by its `initialize`, so the backend sees
  a real 2025 session (its own client id and session id) with the front client's capabilities.

A link is the shared `relay.Link` (the SDK's `JSONRPCDispatcher`, raw requests under ids the
link mints, progress and notifications routed back to the front request they belong to) over the
generic client transport's stream pair; a worker labels what it sends within a request with that
request's id (`mcp-related-request-id`), which the client transport passes on as the SDK's
`related_request_id`. The backend's server-to-client requests and its notifications that belong
to no request go to callbacks the front session installs.

The backend is any registered channel (`channels.registry`): `BackendOpener` opens it through
the generic assembly (`connecting.open_binding`), so a new channel is a proxy backend as soon as
it is registered, with no change here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
import anyio.abc
from mcp.shared.exceptions import MCPError

from asyncmcp.channels import registry
from asyncmcp.channels.base import ChannelTransport, ClientBinding
from asyncmcp.channels.config import ClientSettings
from asyncmcp.client.replies import ReplyRouter
from asyncmcp.client.transport import client_streams
from asyncmcp.codec import as_mapping
from asyncmcp.connecting import open_binding
from asyncmcp.relay import Link, NotificationFn, ProgressFn, ServerRequestFn, Streams
from asyncmcp.server.engine import UNKNOWN_SESSION_REASON

__all__ = ["Backend", "BackendLink", "BackendOpener", "ProgressFn"]

logger = logging.getLogger(__name__)


class BackendOpener:
    """Opens the backend channel named `transport` from a client config of that channel: the
    configured reply address, or one temporary address (`asyncmcp-proxy-*`) for the whole proxy."""

    def __init__(self, transport: str, config: ClientSettings, clients: Mapping[str, Any] | None = None) -> None:
        self.transport: ChannelTransport = registry.get(transport)
        if not isinstance(config, self.transport.client_config):
            raise TypeError(
                f"backend_transport={transport!r} takes a {self.transport.client_config.__name__}, "
                f"got {type(config).__name__}"
            )
        unknown = sorted(set(clients or {}) - set(self.transport.client_names))
        if unknown:
            raise ValueError(
                f"backend_clients for {transport!r} takes {list(self.transport.client_names)}, not {unknown}"
            )
        self.config = config
        self.clients = dict(clients or {})
        self._binding: ClientBinding | None = None
        self._router: ReplyRouter | None = None

    def offer_app(self, app: Any, url: str) -> None:
        """The proxy's own HTTP app, served at `url`: a channel that receives by HTTP (webhooks: it
        takes an `app` client) mounts its receiver there instead of opening a port of its own."""
        if "app" in self.transport.client_names and self.clients.get("app") is None:
            self.clients.update(app=app, app_url=url)

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        if self.transport.serves_mcp:
            yield  # each link connects by itself (`link_streams`)
            return
        async with open_binding(self.config, self.clients, purpose="proxy") as (binding, router):
            self._binding, self._router = binding, router
            try:
                yield
            finally:
                self._binding = self._router = None

    def link_streams(
        self, client_id: str, *, on_close_stream: Callable[[str], None]
    ) -> AbstractAsyncContextManager[Streams]:
        """The `(read, write)` pair of one link: the client transport over the shared reply receiver,
        or, for a transport that speaks MCP itself (`ChannelTransport.serves_mcp`), its own connection."""
        if self.transport.serves_mcp:
            return self.transport.connect_mcp(self.config.model_copy(update={"client_id": client_id}), self.clients)
        if self._binding is None or self._router is None:
            raise RuntimeError("the backend is not running")
        return client_streams(
            self._binding.server_address,
            self._router,
            client_id=client_id,
            timeout_seconds=self.config.transport_timeout_seconds,
            on_close_stream=on_close_stream,
        )

    async def check_ready(self) -> None:
        """Raise if the backend cannot be reached (used by /readyz)."""
        if self.transport.serves_mcp:
            return  # its links connect by themselves, and fail with the reason when they cannot
        if self._binding is None or self._router is None:
            raise RuntimeError("the backend is not running")
        if self._router.failure is not None:
            raise self._router.failure  # the reply address is gone: no answer can come back
        await self.transport.check_ready(self._binding)


class BackendLink(Link):
    """One backend connection: raw JSON-RPC requests over the generic client transport."""

    def __init__(
        self,
        backend: Backend,
        *,
        on_server_request: ServerRequestFn | None = None,
        on_notification: NotificationFn | None = None,
    ) -> None:
        super().__init__(on_server_request=on_server_request, on_notification=on_notification)
        self.backend = backend

    def streams(self) -> AbstractAsyncContextManager[Streams]:
        return self.backend.opener.link_streams(self.client_id, on_close_stream=self._on_close_stream)

    async def reopened(self, error: MCPError) -> bool:
        """A 2025 link whose backend session is no longer recognised (the backend fleet changed its
        state key) opens a new backend session with the front client's original `initialize`, so
        the front session survives a backend redeploy."""
        data = as_mapping(error.error.data)
        if data is None or data.get("reason") != UNKNOWN_SESSION_REASON or self.initialize_params is None:
            return False
        logger.info("backend session of link %s expired; opening a new one", self.client_id)
        await self.request("initialize", self.initialize_params)
        await self.notify("notifications/initialized", None)
        return True


class Backend:
    """The proxy's backend: shared reply receiver, the shared 2026 link, and a home for 2025 links."""

    def __init__(self, opener: BackendOpener) -> None:
        self.opener = opener
        self.shared: BackendLink
        self._tg: anyio.abc.TaskGroup | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Backend]:
        async with self.opener(), anyio.create_task_group() as tg:
            self._tg = tg
            self.shared = BackendLink(self)
            await tg.start(self.shared.run)
            try:
                yield self
            finally:
                tg.cancel_scope.cancel()

    async def open_link(self, *, on_server_request: ServerRequestFn, on_notification: NotificationFn) -> BackendLink:
        """Open a link for one 2025 front session; close it with `link.close()`."""
        if self._tg is None:
            raise RuntimeError("backend is not running")
        link = BackendLink(self, on_server_request=on_server_request, on_notification=on_notification)
        await self._tg.start(link.run)
        return link
