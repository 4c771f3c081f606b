"""The proxy's side facing the queue: backend links over any client transport.

A `Backend` is opened once per proxy (in the proxy server's lifespan). It owns the channel, one
shared reply receiver for every session of the proxy, and a task group that hosts the links:

- one *shared* link carries every 2026-07-28 request (they are self-contained, and the link mints
  its own JSON-RPC ids, so front clients' ids never collide);
- each 2025-11-25 front session gets its own link, opened by its `initialize`, so the backend sees
  a real 2025 session (its own client id and session id) with the front client's capabilities.

A link is the SDK's `JSONRPCDispatcher` over the client transport's stream pair: requests are
sent raw (method and params as the front client wrote them), progress is matched by a progress
token rewritten to the backend request id, and server-to-client requests and notifications from
the backend are handed to callbacks the front session installs.

The backend is any registered channel (`channels.registry`): `BackendOpener` opens it through
the generic assembly (`connecting.open_binding`), so a new channel is a proxy backend as soon as
it is registered, with no change here.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc
from mcp.shared.dispatcher import CallOptions, DispatchContext, ProgressFnT
from mcp.shared.exceptions import MCPError
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher
from mcp.shared.transport_context import TransportContext
from mcp_types import METHOD_NOT_FOUND

from asyncmcp.channels import registry
from asyncmcp.channels.base import ChannelTransport, ClientBinding
from asyncmcp.channels.config import ClientSettings
from asyncmcp.client.replies import ReplyRouter
from asyncmcp.client.transport import client_streams
from asyncmcp.codec import as_mapping
from asyncmcp.connecting import open_binding
from asyncmcp.server.engine import UNKNOWN_SESSION_REASON

__all__ = ["Backend", "BackendLink", "BackendOpener", "ProgressFn"]

logger = logging.getLogger(__name__)

ProgressFn = ProgressFnT
ServerRequestFn = Callable[[str, Mapping[str, Any] | None], Awaitable[dict[str, Any]]]
NotificationFn = Callable[[str, Mapping[str, Any] | None], Awaitable[None]]

LINK_CLOSE_TIMEOUT = 5.0
"""Bound on closing one backend link (deleting nothing, just stopping its tasks)."""


@dataclass(frozen=True)
class BackendTarget:
    """Where the backend server listens and how long a request may wait for signs of life."""

    server_address: str
    timeout_seconds: float | None


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
    async def __call__(self) -> AsyncIterator[tuple[BackendTarget, ReplyRouter]]:
        async with open_binding(self.config, self.clients, purpose="proxy") as (binding, router):
            self._binding, self._router = binding, router
            try:
                yield BackendTarget(binding.server_address, self.config.transport_timeout_seconds), router
            finally:
                self._binding = self._router = None

    async def check_ready(self) -> None:
        """Raise if the backend cannot be reached (used by /readyz)."""
        if self._binding is None or self._router is None:
            raise RuntimeError("the backend is not running")
        if self._router.failure is not None:
            raise self._router.failure  # the reply address is gone: no answer can come back
        await self.transport.check_ready(self._binding)


class BackendLink:
    """One backend connection: raw JSON-RPC requests over a client transport."""

    def __init__(
        self,
        backend: Backend,
        *,
        on_server_request: ServerRequestFn | None = None,
        on_notification: NotificationFn | None = None,
    ) -> None:
        self.backend = backend
        self.client_id = uuid.uuid4().hex
        self.on_server_request = on_server_request
        self.on_notification = on_notification
        self._dispatcher: JSONRPCDispatcher[TransportContext] | None = None
        self._closed = anyio.Event()
        self._finished = anyio.Event()
        self._ids = itertools.count(1)
        self._initialize_params: Mapping[str, Any] | None = None

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        target, router = self.backend.target, self.backend.router
        try:
            async with client_streams(
                target.server_address, router, client_id=self.client_id, timeout_seconds=target.timeout_seconds
            ) as (read, write):
                dispatcher: JSONRPCDispatcher[TransportContext] = JSONRPCDispatcher(read, write)
                self._dispatcher = dispatcher
                async with anyio.create_task_group() as tg:
                    await tg.start(dispatcher.run, self._on_request, self._on_notify)
                    task_status.started()
                    await self._closed.wait()
                    tg.cancel_scope.cancel()
        finally:
            self._finished.set()

    async def close(self) -> None:
        self._closed.set()
        with anyio.move_on_after(LINK_CLOSE_TIMEOUT, shield=True):
            await self._finished.wait()

    async def request(
        self, method: str, params: Mapping[str, Any] | None, *, on_progress: ProgressFn | None = None
    ) -> dict[str, Any]:
        """Send `method` with the front client's params; returns the raw result or raises `MCPError`.

        A 2025 link whose backend session is no longer recognised (the backend fleet changed its
        state key) opens a new backend session with the front client's original `initialize` and
        retries once, so the front session survives a backend redeploy.
        """
        try:
            result = await self._send(method, params, on_progress)
        except MCPError as exc:
            data = as_mapping(exc.error.data)
            unknown = data is not None and data.get("reason") == UNKNOWN_SESSION_REASON
            if not unknown or self._initialize_params is None or method == "initialize":
                raise
            logger.info("backend session of link %s expired; opening a new one", self.client_id)
            await self._send("initialize", self._initialize_params, None)
            await self.notify("notifications/initialized", None)
            result = await self._send(method, params, on_progress)
        if method == "initialize":
            self._initialize_params = params
        return result

    async def _send(
        self, method: str, params: Mapping[str, Any] | None, on_progress: ProgressFn | None
    ) -> dict[str, Any]:
        if self._dispatcher is None:
            raise RuntimeError("backend link is not running")
        request_id = f"{self.client_id[:8]}-{next(self._ids)}"
        opts: CallOptions = {"request_id": request_id}
        if method == "initialize":
            opts["cancel_on_abandon"] = False
        outgoing = dict(params) if params is not None else None
        meta = (outgoing or {}).get("_meta")
        if outgoing is not None and isinstance(meta, Mapping) and "progressToken" in meta:
            # The backend echoes this token; the dispatcher matches progress by its own request id.
            outgoing["_meta"] = {**meta, "progressToken": request_id}
            if on_progress is not None:
                opts["on_progress"] = on_progress
        return await self._dispatcher.send_raw_request(method, outgoing, opts)

    async def notify(self, method: str, params: Mapping[str, Any] | None) -> None:
        if self._dispatcher is not None:
            await self._dispatcher.notify(method, params)

    async def _on_request(
        self, dctx: DispatchContext[TransportContext], method: str, params: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        if self.on_server_request is None:
            raise MCPError(code=METHOD_NOT_FOUND, message=f"the proxy's client cannot answer {method}")
        return await self.on_server_request(method, params)

    async def _on_notify(
        self, dctx: DispatchContext[TransportContext], method: str, params: Mapping[str, Any] | None
    ) -> None:
        if self.on_notification is not None:
            await self.on_notification(method, params)
        else:
            logger.debug("backend notification %s has no front session to go to", method)


class Backend:
    """The proxy's backend: shared reply receiver, the shared 2026 link, and a home for 2025 links."""

    def __init__(self, opener: BackendOpener) -> None:
        self.opener = opener
        self.target: BackendTarget
        self.router: ReplyRouter
        self.shared: BackendLink
        self._tg: anyio.abc.TaskGroup | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Backend]:
        async with self.opener() as (target, router), anyio.create_task_group() as tg:
            self.target, self.router, self._tg = target, router, tg
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
