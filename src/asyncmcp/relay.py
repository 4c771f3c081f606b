"""A raw JSON-RPC link to an MCP server over any client stream pair, relaying what it sends back.

Two faces relay one MCP client's requests to a server they do not implement: the proxy (an HTTP or
stdio front, the server behind a queue) and the bridge (`asyncmcp serve -- <command>`: the queue
is the front, the server a stdio child or a Streamable HTTP URL). Both need the same thing, so it
is written once here: a `Link` is the SDK's `JSONRPCDispatcher` over the stream pair a subclass
opens (`streams()`), and requests are sent raw (method and params as the front client wrote them)
under ids the link mints. What comes back is handed to the front request it belongs to:

- progress is matched by a progress token rewritten to the link's request id;
- other notifications carrying a request's id as their `related_request_id` (the queue client
  transport passes on a worker's `mcp-related-request-id` label) go to that request; a
  subscription id naming the link's request is renamed back to the front request's id, in those
  notifications and in the answer;
- both are relayed in the order they arrived and before the request's answer (`_Notices`);
- a handler that closes its SSE stream (SEP-1699 polling) closes the front request's stream;
- the server's own requests (sampling, elicitation, roots) and its notifications that carry no
  request id go to the link's callbacks when it has them (one front session per link, as the
  proxy's 2025 links). A link without them goes by `guesses_caller`: a bridge's link to a stdio
  child or a Streamable HTTP server (which cannot label what it sends) gives them to the front
  request in flight when it is the only one (listings beside it do not count: they carry nothing
  of a caller's), and refuses them otherwise, since guessing among several would hand one caller's
  data to another; every other link (the proxy's shared link, whose worker labels every frame it
  sends within a request) never guesses: what comes unlabelled belongs to no caller's request, and
  even the only caller in flight must not get it.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar

import anyio
import anyio.abc
from mcp.client._transport import TransportStreams  # the SDK's own alias; mcp is pinned to 2.3.x
from mcp.server import ServerRequestContext
from mcp.server.connection import Connection
from mcp.shared.dispatcher import CallOptions, DispatchContext, Outbound, ProgressFnT
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import (
    MCP_METHOD_HEADER,
    MCP_NAME_HEADER,
    MCP_PROTOCOL_VERSION_HEADER,
    NAME_BEARING_METHODS,
    encode_header_value,
)
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher
from mcp.shared.message import CloseSSEStreamCallback, ServerMessageMetadata
from mcp.shared.subscriptions import SUBSCRIPTION_ID_META_KEY
from mcp.shared.transport_context import TransportContext
from mcp_types import METHOD_NOT_FOUND, PROTOCOL_VERSION_META_KEY, RequestId

from asyncmcp.codec import as_mapping

__all__ = [
    "CALLER_FREE_METHODS",
    "Link",
    "NotificationFn",
    "ProgressFn",
    "ServerRequestFn",
    "Streams",
    "front_connection",
    "front_request",
]

logger = logging.getLogger(__name__)

CALLER_FREE_METHODS = frozenset({"tools/list", "prompts/list", "resources/list", "resources/templates/list", "ping"})
"""Requests that carry nothing of their caller's (no arguments, no content): what a server sends
while one runs cannot be a caller's data, so one of them in flight beside a single other request
does not stop that request from being the one its unlabelled messages go to. A queue client lists
the tools beside its first call of a tool (client/transport.py), so this is the common case."""

ProgressFn = ProgressFnT
ServerRequestFn = Callable[[str, Mapping[str, Any] | None], Awaitable[dict[str, Any]]]
NotificationFn = Callable[[str, Mapping[str, Any] | None], Awaitable[None]]
Streams = TransportStreams
"""The `(read, write)` pair of any SDK client transport (stdio, Streamable HTTP, a queue's)."""

LINK_CLOSE_TIMEOUT = 5.0
"""Bound on closing one link (deleting nothing, just stopping its tasks)."""

_LINK_NOTIFICATIONS = frozenset({"notifications/progress", "notifications/cancelled"})
"""Notifications that name ids the link minted: progress reaches the front through `on_progress`, a
cancel is the dispatcher's own business; neither is passed on as it came."""

NOTICE_DRAIN_TIMEOUT = 5.0
"""Bound on holding a request's answer back while its notices are still being relayed to the front."""

MAX_QUEUED_NOTICES = 1024
"""Notices of one request waiting for a slow front client at most; later ones are dropped (logged)."""


def front_connection(ctx: ServerRequestContext[Any, Any]) -> Connection:
    """The front client's connection (its state, its outbound for requests to the client)."""
    # The SDK exposes the per-connection state only through the session proxy; mcp is pinned to 2.3.x.
    return ctx.session._connection  # pyright: ignore[reportPrivateUsage]


def front_request(ctx: ServerRequestContext[Any, Any]) -> Outbound:
    """The front request's own stream: the session proxy sends only typed notifications there, and
    relayed ones go raw (methods the relay has never heard of included); mcp is pinned to 2.3.x."""
    return ctx.session._request_outbound  # pyright: ignore[reportPrivateUsage]


class _Notices:
    """What the server sent within one request, relayed to the front in the order it arrived.

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
            logger.warning("dropped a relayed notification: %d are waiting for the front client", len(self._queue))
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
                    logger.exception("could not relay a notification to the front client")
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
    ask: ServerRequestFn | None = None
    notices: _Notices = field(default_factory=_Notices)
    method: str = ""


def _front_subscription(payload: dict[str, Any], link_id: str, front_id: RequestId | None) -> dict[str, Any]:
    """`payload` with a `_meta` subscription id that names the link's request renamed to the front's.

    A `subscriptions/listen` stream is identified by its request's id, and the server only ever
    saw the id the link minted."""
    meta = as_mapping(payload.get("_meta"))
    if front_id is None or meta is None or meta.get(SUBSCRIPTION_ID_META_KEY) != link_id:
        return payload
    return {**payload, "_meta": {**meta, SUBSCRIPTION_ID_META_KEY: front_id}}


def _request_headers(method: str, params: Mapping[str, Any] | None) -> dict[str, str]:
    """The HTTP headers a 2026-07-28 request needs on a Streamable HTTP wire (the version routes it
    there); stream transports ignore them. Stamped as the SDK's own client session stamps them."""
    meta = as_mapping((params or {}).get("_meta"))
    version = meta.get(PROTOCOL_VERSION_META_KEY) if meta is not None else None
    if not isinstance(version, str):
        return {}
    headers = {MCP_PROTOCOL_VERSION_HEADER: version, MCP_METHOD_HEADER: method}
    name_key = NAME_BEARING_METHODS.get(method)
    if name_key is not None and isinstance(name := (params or {}).get(name_key), str):
        headers[MCP_NAME_HEADER] = encode_header_value(name)
    return headers


class Link:
    """One connection to an MCP server: raw JSON-RPC requests over the stream pair `streams()` opens.

    `await tg.start(link.run)` connects (it returns once the dispatcher runs) and serves until
    `close()` or until the streams end (the server went away: `run` returns, and requests still
    waiting fail with the SDK's `CONNECTION_CLOSED`, which `connection_lost` may turn into a
    clearer error).
    """

    guesses_caller: ClassVar[bool] = False
    """Whether a server message that names no request (a server-to-client request, a notification
    with no related request id) may go to the front request in flight when it is the only one. Only
    links to servers that cannot label their messages (a stdio child, a Streamable HTTP upstream)
    say so; behind a queue a worker labels every frame it sends within a request."""

    def __init__(
        self,
        *,
        on_server_request: ServerRequestFn | None = None,
        on_notification: NotificationFn | None = None,
    ) -> None:
        self.client_id = uuid.uuid4().hex
        self.on_server_request = on_server_request
        self.on_notification = on_notification
        self._dispatcher: JSONRPCDispatcher[TransportContext] | None = None
        self._closed = anyio.Event()
        self._finished = anyio.Event()
        self._ids = itertools.count(1)
        self._forwarded: dict[str, _Forwarded] = {}
        self._tg: anyio.abc.TaskGroup | None = None
        self.one_caller = False
        """Every request on this link comes from one front client (a per-session upstream link)."""
        self.connected = False
        """The streams opened and the dispatcher ran (it stays true after the link ends)."""
        self.initialize_params: Mapping[str, Any] | None = None
        """The `initialize` params this link's session was opened with (None before, or never)."""

    def streams(self) -> AbstractAsyncContextManager[Streams]:
        """The `(read, write)` pair to the server; subclasses open their wire here."""
        raise NotImplementedError

    @property
    def in_flight(self) -> int:
        """Requests sent on this link and not yet answered."""
        return len(self._forwarded)

    @property
    def running(self) -> bool:
        return self._dispatcher is not None and not self._finished.is_set()

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            async with self.streams() as (read, write):
                dispatcher: JSONRPCDispatcher[TransportContext] = JSONRPCDispatcher(read, write)
                self._dispatcher = dispatcher
                async with anyio.create_task_group() as tg:
                    self._tg = tg

                    async def dispatch(*, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
                        await dispatcher.run(self._on_request, self._on_notify, task_status=task_status)
                        tg.cancel_scope.cancel()  # the server's streams ended: the link is gone

                    await tg.start(dispatch)
                    self.connected = True
                    task_status.started()
                    await self._closed.wait()
                    tg.cancel_scope.cancel()
        finally:
            self._tg = None
            self._finished.set()

    async def wait_finished(self) -> None:
        await self._finished.wait()

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
        ask: ServerRequestFn | None = None,
    ) -> dict[str, Any]:
        """Send `method` with the front client's params; returns the raw result or raises `MCPError`.

        `front_id` is the id the front client gave the request; `on_progress` and `on_notice`
        receive what the server sends within it, in order and before the answer returns;
        `close_stream` closes the front request's stream when the server's handler closes its
        own; `ask` puts the server's own requests to the front client, when this request is the
        only one the link has in flight (see the module docstring).
        """
        forwarded = _Forwarded(front_id, on_notice, close_stream, ask, method=method)
        try:
            result = await self._send(method, params, on_progress, forwarded)
        except MCPError as exc:
            if method == "initialize" or not await self.reopened(exc):
                raise
            result = await self._send(method, params, on_progress, forwarded)
        if method == "initialize":
            self.initialize_params = params
        return result

    async def reopened(self, error: MCPError) -> bool:
        """Whether the server's session was reopened after `error`, so the request is worth one
        more try; subclasses whose server can forget a session (a redeployed fleet) say so."""
        return False

    async def _send(
        self,
        method: str,
        params: Mapping[str, Any] | None,
        on_progress: ProgressFn | None,
        forwarded: _Forwarded,
    ) -> dict[str, Any]:
        if self._dispatcher is None:
            raise RuntimeError("link is not running")
        request_id = f"{self.client_id[:8]}-{next(self._ids)}"
        opts: CallOptions = {"request_id": request_id}
        if method == "initialize":
            opts["cancel_on_abandon"] = False
        outgoing = dict(params) if params is not None else None
        meta = (outgoing or {}).get("_meta")
        if outgoing is not None and isinstance(meta, Mapping) and "progressToken" in meta:
            # The server echoes this token; the dispatcher matches progress by its own request id.
            outgoing["_meta"] = {**meta, "progressToken": request_id}
            if on_progress is not None:
                notices = forwarded.notices

                async def queue_progress(progress: float, total: float | None, message: str | None) -> None:
                    await notices.relay(partial(on_progress, progress, total, message))

                opts["on_progress"] = queue_progress
        opts["headers"] = _request_headers(method, outgoing)
        self._forwarded[request_id] = forwarded
        try:
            try:
                result = await self._dispatcher.send_raw_request(method, outgoing, opts)
            except MCPError as exc:
                await forwarded.notices.drained()
                raise await self.connection_lost(method, exc) from None
            await forwarded.notices.drained()
        finally:
            del self._forwarded[request_id]
        return _front_subscription(result, request_id, forwarded.front_id)

    async def connection_lost(self, method: str, error: MCPError) -> MCPError:
        """The error a caller gets for `error` (the server's own, or the SDK's `CONNECTION_CLOSED`);
        subclasses that know why the connection went say so."""
        return error

    async def notify(self, method: str, params: Mapping[str, Any] | None) -> None:
        if self._dispatcher is not None:
            await self._dispatcher.notify(method, params)

    def _only_caller(self) -> _Forwarded | None:
        """On a link that `guesses_caller`: the one request in flight, when there is exactly one
        (any of them on a link that serves `one_caller`: they all come from the same client).
        Listings in flight beside it do not count (`CALLER_FREE_METHODS`)."""
        if not self.guesses_caller:
            return None
        if self.one_caller and self._forwarded:
            return next(iter(self._forwarded.values()))
        if len(self._forwarded) == 1:
            return next(iter(self._forwarded.values()))
        callers = [f for f in self._forwarded.values() if f.method not in CALLER_FREE_METHODS]
        return callers[0] if len(callers) == 1 else None

    async def _on_request(
        self, dctx: DispatchContext[TransportContext], method: str, params: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        if self.on_server_request is not None:
            return await self.on_server_request(method, params)
        caller = self._only_caller()
        if caller is not None and caller.ask is not None:
            return await caller.ask(method, params)
        if caller is None and self._forwarded and not self.guesses_caller:
            reason = "this connection has no front session to ask and does not guess whose request it is"
        elif caller is None and self._forwarded:
            reason = f"{len(self._forwarded)} callers share this connection and the request does not say whose it is"
        elif caller is not None:
            reason = "the caller cannot be asked (a 2026-07-28 client)"
        else:
            reason = "no caller has a request in flight"
        logger.log(logging.WARNING if caller or self._forwarded else logging.DEBUG, "refused %s: %s", method, reason)
        raise MCPError(code=METHOD_NOT_FOUND, message=f"{method} cannot reach a client: {reason}")

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
        elif (caller := self._only_caller()) is not None and caller.on_notice is not None:
            await caller.notices.relay(partial(caller.on_notice, method, params))
        else:
            logger.debug("notification %s has no front request or session to go to", method)
