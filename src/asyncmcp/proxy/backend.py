"""The proxy's side facing the queue: backend links over any client transport.

A `Backend` is opened once per proxy (in the proxy server's lifespan). It owns the channel, one
shared reply receiver for every session of the proxy, and a task group that hosts the links:

- one *shared* link carries every 2026-07-28 request (they are self-contained, and the link mints
  its own JSON-RPC ids, so front clients' ids never collide);
- each 2025-11-25 front session gets its own link, opened by its `initialize`, so the backend sees
  a real 2025 session (its own client id and session id) with the front client's capabilities.

A link is the SDK's `JSONRPCDispatcher` over the client transport's stream pair: requests are
sent raw (method and params as the front client wrote them) under ids the link mints, and what
comes back is handed to the front request it belongs to:

- progress is matched by a progress token rewritten to the backend request id;
- other notifications a worker sends while it serves a request (2026 log lines, the
  `subscriptions/listen` acknowledgement and events) carry that request's id as a frame label
  (`mcp-related-request-id`), which the client transport passes on as the SDK's
  `related_request_id`; a subscription id naming the backend request is renamed back to the
  front request's id, in those notifications and in the answer;
- both are relayed in the order they arrived and before the request's answer (`_Notices`);
- a 2025 handler that closes its SSE stream (SEP-1699 polling) closes the front request's stream,
  so the front client reconnects and resumes from the front session's event store;
- the backend's server-to-client requests and its notifications that belong to no request go to
  callbacks the front session installs.

The backend is any registered channel (`channels.registry`): `BackendOpener` opens it through
the generic assembly (`connecting.open_binding`), so a new channel is a proxy backend as soon as
it is registered, with no change here.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio
import anyio.abc
from mcp.shared.dispatcher import CallOptions, DispatchContext, ProgressFnT
from mcp.shared.exceptions import MCPError
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher
from mcp.shared.message import CloseSSEStreamCallback, ServerMessageMetadata
from mcp.shared.subscriptions import SUBSCRIPTION_ID_META_KEY
from mcp.shared.transport_context import TransportContext
from mcp_types import METHOD_NOT_FOUND, RequestId

from asyncmcp.channels import registry
from asyncmcp.channels.base import ChannelTransport, ClientBinding
from asyncmcp.channels.config import ClientSettings
from asyncmcp.client.replies import ReplyRouter
from asyncmcp.client.transport import client_streams
from asyncmcp.codec import as_mapping
from asyncmcp.connecting import Streams, open_binding
from asyncmcp.server.engine import UNKNOWN_SESSION_REASON

__all__ = ["Backend", "BackendLink", "BackendOpener", "ProgressFn"]

logger = logging.getLogger(__name__)

ProgressFn = ProgressFnT
ServerRequestFn = Callable[[str, Mapping[str, Any] | None], Awaitable[dict[str, Any]]]
NotificationFn = Callable[[str, Mapping[str, Any] | None], Awaitable[None]]

LINK_CLOSE_TIMEOUT = 5.0
"""Bound on closing one backend link (deleting nothing, just stopping its tasks)."""

_LINK_NOTIFICATIONS = frozenset({"notifications/progress", "notifications/cancelled"})
"""Notifications that name ids the link minted: progress reaches the front through `on_progress`, a
cancel is the dispatcher's own business; neither is passed on as it came."""

NOTICE_DRAIN_TIMEOUT = 5.0
"""Bound on holding a request's answer back while its notices are still being relayed to the front."""

MAX_QUEUED_NOTICES = 1024
"""Notices of one request waiting for a slow front client at most; later ones are dropped (logged)."""


class _Notices:
    """What the backend sent within one request, relayed to the front in the order it arrived.

    The SDK's dispatcher runs every inbound notification, and every progress callback, in a task of
    its own, so two of them, or one and the request's answer, could reach the front client out of
    order: a `subscriptions/listen` acknowledgement after the event it acknowledges, the last
    progress after the answer ended the stream. The dispatcher reads frames one by one and starts
    those tasks as it reads them, so they first run in that order and before the request's caller
    resumes with the answer (the event loop runs ready tasks first in, first out). Each task only
    queues its relay here, without waiting; the one that finds nobody relaying relays the whole
    queue, and the request waits until the queue is empty before it returns its answer.
    """

    def __init__(self) -> None:
        self._queue: deque[Callable[[], Awaitable[None]]] = deque()
        self._idle = anyio.Event()
        self._idle.set()

    async def relay(self, send: Callable[[], Awaitable[None]]) -> None:
        if len(self._queue) >= MAX_QUEUED_NOTICES:
            logger.warning("dropped a backend notification: %d are waiting for the front client", len(self._queue))
            return
        self._queue.append(send)
        if not self._idle.is_set():
            return  # the task relaying the queue sends this one too, after those before it
        self._idle = anyio.Event()
        try:
            while self._queue:
                try:
                    await self._queue.popleft()()
                except Exception:
                    logger.exception("could not relay a backend notification to the front client")
        finally:
            self._idle.set()

    async def drained(self) -> None:
        with anyio.move_on_after(NOTICE_DRAIN_TIMEOUT):
            await self._idle.wait()


@dataclass
class _Forwarded:
    """A request in flight on a link: where its notices go, and the id the front gave it."""

    front_id: RequestId | None
    on_notice: NotificationFn | None
    close_stream: CloseSSEStreamCallback | None = None
    notices: _Notices = field(default_factory=_Notices)


def _front_subscription(payload: dict[str, Any], backend_id: str, front_id: RequestId | None) -> dict[str, Any]:
    """`payload` with a `_meta` subscription id that names the backend request renamed to the front's.

    A `subscriptions/listen` stream is identified by its request's id, and the backend only ever
    saw the id the link minted."""
    meta = as_mapping(payload.get("_meta"))
    if front_id is None or meta is None or meta.get(SUBSCRIPTION_ID_META_KEY) != backend_id:
        return payload
    return {**payload, "_meta": {**meta, SUBSCRIPTION_ID_META_KEY: front_id}}


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
        self._forwarded: dict[str, _Forwarded] = {}
        self._tg: anyio.abc.TaskGroup | None = None

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            async with self.backend.opener.link_streams(self.client_id, on_close_stream=self._on_close_stream) as (
                read,
                write,
            ):
                dispatcher: JSONRPCDispatcher[TransportContext] = JSONRPCDispatcher(read, write)
                self._dispatcher = dispatcher
                async with anyio.create_task_group() as tg:
                    self._tg = tg
                    await tg.start(dispatcher.run, self._on_request, self._on_notify)
                    task_status.started()
                    await self._closed.wait()
                    tg.cancel_scope.cancel()
        finally:
            self._tg = None
            self._finished.set()

    async def close(self) -> None:
        self._closed.set()
        with anyio.move_on_after(LINK_CLOSE_TIMEOUT, shield=True):
            await self._finished.wait()

    async def request(
        self,
        method: str,
        params: Mapping[str, Any] | None,
        *,
        front_id: RequestId | None = None,
        on_progress: ProgressFn | None = None,
        on_notice: NotificationFn | None = None,
        close_stream: CloseSSEStreamCallback | None = None,
    ) -> dict[str, Any]:
        """Send `method` with the front client's params; returns the raw result or raises `MCPError`.

        `front_id` is the id the front client gave the request; `on_progress` and `on_notice`
        receive what the backend sends within it, in order and before the answer returns;
        `close_stream` closes the front request's stream when the backend handler closes its own.

        A 2025 link whose backend session is no longer recognised (the backend fleet changed its
        state key) opens a new backend session with the front client's original `initialize` and
        retries once, so the front session survives a backend redeploy.
        """
        forwarded = _Forwarded(front_id, on_notice, close_stream)
        try:
            result = await self._send(method, params, on_progress, forwarded)
        except MCPError as exc:
            data = as_mapping(exc.error.data)
            unknown = data is not None and data.get("reason") == UNKNOWN_SESSION_REASON
            if not unknown or self._initialize_params is None or method == "initialize":
                raise
            logger.info("backend session of link %s expired; opening a new one", self.client_id)
            await self._send("initialize", self._initialize_params, None, _Forwarded(None, None))
            await self.notify("notifications/initialized", None)
            result = await self._send(method, params, on_progress, forwarded)
        if method == "initialize":
            self._initialize_params = params
        return result

    async def _send(
        self,
        method: str,
        params: Mapping[str, Any] | None,
        on_progress: ProgressFn | None,
        forwarded: _Forwarded,
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
                notices = forwarded.notices

                async def queue_progress(progress: float, total: float | None, message: str | None) -> None:
                    await notices.relay(partial(on_progress, progress, total, message))

                opts["on_progress"] = queue_progress
        self._forwarded[request_id] = forwarded
        try:
            try:
                result = await self._dispatcher.send_raw_request(method, outgoing, opts)
            except MCPError:
                await forwarded.notices.drained()
                raise
            await forwarded.notices.drained()
        finally:
            del self._forwarded[request_id]
        return _front_subscription(result, request_id, forwarded.front_id)

    async def notify(self, method: str, params: Mapping[str, Any] | None) -> None:
        if self._dispatcher is not None:
            await self._dispatcher.notify(method, params)

    async def _on_request(
        self, dctx: DispatchContext[TransportContext], method: str, params: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        if self.on_server_request is None:
            raise MCPError(code=METHOD_NOT_FOUND, message=f"the proxy's client cannot answer {method}")
        return await self.on_server_request(method, params)

    def _on_close_stream(self, related: str) -> None:
        forwarded = self._forwarded.get(related)
        if forwarded is not None and forwarded.close_stream is not None and self._tg is not None:
            self._tg.start_soon(forwarded.notices.relay, forwarded.close_stream)

    async def _on_notify(
        self, dctx: DispatchContext[TransportContext], method: str, params: Mapping[str, Any] | None
    ) -> None:
        if method in _LINK_NOTIFICATIONS:
            return
        metadata = dctx.message_metadata
        related = metadata.related_request_id if isinstance(metadata, ServerMessageMetadata) else None
        forwarded = self._forwarded.get(str(related)) if related is not None else None
        if forwarded is not None and forwarded.on_notice is not None:
            relayed = _front_subscription(dict(params), str(related), forwarded.front_id) if params else params
            await forwarded.notices.relay(partial(forwarded.on_notice, method, relayed))
        elif self.on_notification is not None:
            await self.on_notification(method, params)
        else:
            logger.debug("backend notification %s has no front request or session to go to", method)


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
