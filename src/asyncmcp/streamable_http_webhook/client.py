"""The hybrid client transport: the SDK's Streamable HTTP client plus a verifying webhook receiver.

`streamable_http_webhook_client(config)` yields the `(read, write)` pair `mcp.Client` and
`ClientSession` take. Everything goes over the SDK's own Streamable HTTP client transport: the
session's writes go straight to it and its tasks write what the server sends straight into the
session's read stream, so an inline call passes through no task of this module. Around it:

- outgoing: the receiver's URL in `_meta.webhookUrl` of `initialize` (a 2025 session, which the
  server remembers it for) or, with no session (2026), of every `tools/call`;
- the server answers a webhook tool's call `202 Accepted` (`asyncmcp-webhook: accepted`); an
  httpx2 response hook sees it before the SDK, which turns any 202 to a request into an error:
  that error is dropped, and the call waits for its answer;
- what the server POSTs to the receiver (signed, verified by the webhook transport's ingress) is
  merged into `read`: progress and log lines with the call they belong to, then its answer, so
  `call_tool` returns a webhook tool's result exactly as an inline one's; a second copy of an
  answer (a retried webhook, a fetch) is dropped;
- a call whose answer has not come is fetched every `fetch_seconds` (the same POST with
  `asyncmcp-fetch: result`): the server answers 202 while it runs, the kept answer once it
  finished (a webhook that never got through costs a fetch, not the result), 404 when it does not
  know the call; with no sign of life for `transport_timeout_seconds` the call fails naming the
  server;
- cancelling the call cancels the tool: the SDK's `notifications/cancelled` goes to the server
  (at 2026 the SDK would swallow it, its POST being closed already, so it is POSTed from here).
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, cast

import anyio
import anyio.abc
import httpx2
from anyio.streams.memory import MemoryObjectSendStream
from mcp.client._transport import TransportStreams, WriteStream
from mcp.client.streamable_http import StreamableHTTPTransport
from mcp.shared._context_streams import ContextReceiveStream, ContextSendStream, create_context_streams
from mcp.shared.message import ServerMessageMetadata, SessionMessage
from mcp_types import JSONRPCError, JSONRPCNotification, JSONRPCRequest, JSONRPCResponse, RequestId
from typing_extensions import Self

from asyncmcp.channels.webhook.ingress import Backpressure
from asyncmcp.channels.webhook.signing import Signer
from asyncmcp.channels.webhook.transport import webhook_receiver
from asyncmcp.codec import ATTR_CLIENT_ID, ATTR_RELATED_REQUEST_ID, Frame, as_mapping, decode_message, jsonrpc_error
from asyncmcp.streamable_http_webhook.config import StreamableHTTPWebhookClientConfig
from asyncmcp.streamable_http_webhook.wire import (
    ACCEPTED,
    ACCEPTED_HEADER,
    FETCH_HEADER,
    FETCH_RESULT,
    WEBHOOK_URL_META_KEY,
)

__all__ = ["streamable_http_webhook_client"]

logger = logging.getLogger(__name__)

INBOX_SIZE = 1024
"""Webhooks received and not yet read by the session at most; beyond, the receiver answers 503 and
the server's sender retries."""

REMEMBERED_ANSWERS = 10_000
"""Ids of answers already handed to the session, so a second copy is dropped."""

FETCH_TIMEOUT_SECONDS = 10.0
"""Bound on one fetch POST."""

REQUEST_TIMEOUT = httpx2.Timeout(30.0, read=300.0)
"""The SDK's own HTTP timeouts (an inline answer may take minutes to start)."""

INVALID_REQUEST = -32600
REQUEST_TIMEOUT_CODE = -32001


_Envelope = tuple[contextvars.Context, SessionMessage | Exception]
"""An item of the session's read stream with the context of the task that sent it (the SDK's
`ContextReceiveStream` hands the session that context with each message, as its own client does)."""


@dataclass
class _Waiting:
    """A webhook call whose answer has not come: the POST that started it, and when it last lived."""

    request: httpx2.Request
    alive_at: float = field(default_factory=time.monotonic)
    fetched_at: float = field(default_factory=time.monotonic)


class _Calls:
    """The webhook calls of one connection that wait for their answer, and answers already given."""

    def __init__(self) -> None:
        self.waiting: dict[RequestId, _Waiting] = {}
        self.answered: OrderedDict[RequestId, None] = OrderedDict()

    def accepted(self, request: httpx2.Request) -> None:
        try:
            request_id = cast("dict[str, Any]", json.loads(request.content))["id"]
        except (ValueError, KeyError, TypeError):
            return
        if request_id in self.answered:
            return  # its answer came by webhook before the 202 reached us
        waiting = self.waiting.get(request_id)
        if waiting is None:
            self.waiting[request_id] = _Waiting(request)
        else:
            waiting.alive_at = time.monotonic()

    def answer(self, request_id: RequestId) -> bool:
        """Record an answer; False when this one was given already (drop it)."""
        if request_id in self.answered:
            return False
        self.waiting.pop(request_id, None)
        self.answered[request_id] = None
        while len(self.answered) > REMEMBERED_ANSWERS:
            self.answered.popitem(last=False)
        return True

    def alive(self, request_id: RequestId) -> None:
        waiting = self.waiting.get(request_id)
        if waiting is not None:
            waiting.alive_at = time.monotonic()


def _with_webhook_url(message: SessionMessage, webhook_url: str, *, in_session: bool) -> SessionMessage:
    """`message` naming `webhook_url` if it is an `initialize`, or a `tools/call` outside a 2025
    session: within one the server goes by the URL the session's `initialize` named, so the call's
    own would only cost a copy of it here and a larger `_meta` to parse there."""
    inner = message.message
    if not isinstance(inner, JSONRPCRequest):
        return message
    if inner.method != "initialize" and (inner.method != "tools/call" or in_session):
        return message
    params = dict(inner.params or {})
    params["_meta"] = {**(as_mapping(params.get("_meta")) or {}), WEBHOOK_URL_META_KEY: webhook_url}
    return SessionMessage(inner.model_copy(update={"params": params}), message.metadata)


@asynccontextmanager
async def streamable_http_webhook_client(
    config: StreamableHTTPWebhookClientConfig, app: Any = None, app_url: str | None = None
) -> AsyncIterator[TransportStreams]:
    """Connect to the hybrid server at `config.server_url`; yields the SDK's `(read, write)` streams.

    With `app` (a Starlette or FastAPI app reachable at `config.webhook_url`, or at `app_url`) the
    receiver is mounted at `config.receiver_path` into it; otherwise it runs on 127.0.0.1 and a
    free port.
    """
    signer = Signer(config.signing_secrets, tolerance_seconds=config.tolerance_seconds)
    client_id = f"{config.client_id or 'client'}.{uuid.uuid4().hex[:8]}"
    inbox_in, inbox = anyio.create_memory_object_stream[Frame](INBOX_SIZE)
    calls = _Calls()

    async def take(frame: Frame) -> None:
        try:
            inbox_in.send_nowait(frame)
        except anyio.WouldBlock:
            raise Backpressure from None

    async def on_response(response: httpx2.Response) -> None:
        if response.status_code == 202 and response.headers.get(ACCEPTED_HEADER) == ACCEPTED:
            # The SDK closes a 202 without reading its body, and httpx2 drops a connection whose
            # body was left unread: every webhook call would cost the next call a new connection.
            await response.aread()
            calls.accepted(response.request)

    clients = {"app": app, "app_url": app_url}
    http = httpx2.AsyncClient(
        headers={ATTR_CLIENT_ID: client_id}, timeout=REQUEST_TIMEOUT, event_hooks={"response": [on_response]}
    )
    to_session, session_reads = anyio.create_memory_object_stream[_Envelope](0)
    read = ContextReceiveStream(session_reads)
    from_server = _FromServer(to_session.clone(), calls)
    from_webhooks = ContextSendStream(to_session)
    async with (
        inbox_in,
        inbox,
        read,
        from_server,
        from_webhooks,
        webhook_receiver(config, signer, take, clients, max_body_bytes=config.max_body_bytes) as webhook_url,
        http,
        _streamable_http(config.server_url, http, from_server) as sdk_write,
    ):
        link = _Link(config, http, calls, webhook_url, from_webhooks)
        write: WriteStream[SessionMessage] = _Outgoing(link, sdk_write)
        async with anyio.create_task_group() as tg:
            tg.start_soon(link.from_webhooks, inbox, client_id)
            tg.start_soon(link.fetch_forever)
            try:
                yield read, write
            finally:
                tg.cancel_scope.cancel()


class _FromServer(ContextSendStream[SessionMessage | Exception]):
    """The SDK transport's writer into the session's read stream: it runs in the SDK's tasks, and
    drops the SDK's stand-in error for a webhook call's 202 (its answer comes by webhook)."""

    __slots__ = ("_calls",)

    def __init__(self, inner: MemoryObjectSendStream[_Envelope], calls: _Calls) -> None:
        super().__init__(inner)
        self._calls = calls

    async def send(self, item: SessionMessage | Exception) -> None:
        if isinstance(item, SessionMessage) and isinstance(item.message, JSONRPCError | JSONRPCResponse):
            request_id = item.message.id
            if request_id in self._calls.waiting or request_id in self._calls.answered:
                return
        await super().send(item)


@asynccontextmanager
async def _streamable_http(
    url: str, http: httpx2.AsyncClient, from_server: _FromServer
) -> AsyncIterator[ContextSendStream[SessionMessage]]:
    """The SDK's `streamable_http_client` (mcp is pinned to 2.3.x: this is its body) with the read
    side handed in rather than made, so no task has to carry each answer from the SDK's read stream
    into the session's; yields the SDK's write stream."""
    transport = StreamableHTTPTransport(url)
    write, write_reader = create_context_streams[SessionMessage](0)
    async with write, write_reader, anyio.create_task_group() as tg:

        def start_get_stream() -> None:
            tg.start_soon(transport.handle_get_stream, http, from_server)

        tg.start_soon(transport.post_writer, http, write_reader, from_server, write, start_get_stream, tg)
        try:
            yield write
        finally:
            if transport.session_id:
                await transport.terminate_session(http)
            tg.cancel_scope.cancel()


class _Outgoing:
    """The session's write stream: each message goes on to the SDK's from the sender's own task (no
    task in between: an inline call pays nothing for it), a webhook URL added where it belongs."""

    def __init__(self, link: _Link, sdk_write: WriteStream[SessionMessage]) -> None:
        self._link = link
        self._sdk_write = sdk_write

    async def send(self, item: SessionMessage, /) -> None:
        await self._link.send(item, self._sdk_write)

    async def aclose(self) -> None:
        await self._sdk_write.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc_val: BaseException | None, exc_tb: TracebackType | None
    ) -> bool | None:
        await self.aclose()
        return None


class _Link:
    """Between the session's streams, the SDK's Streamable HTTP client and the receiver: what the
    session sends, and the tasks that bring it what came by webhook."""

    def __init__(
        self,
        config: StreamableHTTPWebhookClientConfig,
        http: httpx2.AsyncClient,
        calls: _Calls,
        webhook_url: str,
        read_in: ContextSendStream[SessionMessage | Exception],
    ) -> None:
        self.config = config
        self.http = http
        self.calls = calls
        self.webhook_url = webhook_url
        self.read_in = read_in
        self.in_session = False
        """An `initialize` went out: a 2025 session (2026 has none), which names the webhook URL."""

    async def send(self, message: SessionMessage, sdk_write: WriteStream[SessionMessage]) -> None:
        inner = message.message
        if isinstance(inner, JSONRPCNotification) and inner.method == "notifications/cancelled":
            request_id = (inner.params or {}).get("requestId")
            waiting = self.calls.waiting.pop(request_id, None) if request_id is not None else None
            if waiting is not None and "mcp-session-id" not in waiting.request.headers:
                await self._post_cancel(inner, waiting)  # 2026: the SDK would swallow it
                return
        outgoing = _with_webhook_url(message, self.webhook_url, in_session=self.in_session)
        if isinstance(inner, JSONRPCRequest) and inner.method == "initialize":
            self.in_session = True
        await sdk_write.send(outgoing)

    async def _post_cancel(self, cancel: JSONRPCNotification, waiting: _Waiting) -> None:
        params = dict(cancel.params or {})
        params["_meta"] = {**(as_mapping(params.get("_meta")) or {}), WEBHOOK_URL_META_KEY: self.webhook_url}
        body = cancel.model_copy(update={"params": params}).model_dump_json(by_alias=True, exclude_unset=True)
        headers = {k: v for k, v in waiting.request.headers.items() if k.lower() not in ("content-length", "mcp-name")}
        headers["mcp-method"] = "notifications/cancelled"
        try:
            await self.http.post(self.config.server_url, content=body, headers=headers, timeout=FETCH_TIMEOUT_SECONDS)
        except httpx2.HTTPError as exc:
            logger.warning("could not tell %s that a webhook call was cancelled: %s", self.config.server_url, exc)

    async def from_webhooks(self, inbox: anyio.abc.ObjectReceiveStream[Frame], client_id: str) -> None:
        async for frame in inbox:
            if frame.attributes.get(ATTR_CLIENT_ID, client_id) != client_id:
                logger.debug("dropped a webhook for another client (%s)", frame.attributes.get(ATTR_CLIENT_ID))
                continue
            try:
                message = decode_message(frame.body)
            except Exception as exc:
                logger.warning("dropped an undecodable webhook: %s", exc)
                continue
            await self._deliver(message, frame.attributes.get(ATTR_RELATED_REQUEST_ID))

    async def _deliver(self, message: Any, related: str | None) -> None:
        if isinstance(message, JSONRPCResponse | JSONRPCError):
            if message.id is None or not self.calls.answer(message.id):
                return
            await self.read_in.send(SessionMessage(message))
            return
        if related is not None:
            for request_id in list(self.calls.waiting):
                if str(request_id) == related:
                    self.calls.alive(request_id)
            await self.read_in.send(SessionMessage(message, ServerMessageMetadata(related_request_id=related)))
            return
        await self.read_in.send(SessionMessage(message))

    async def fetch_forever(self) -> None:
        tick = min(self.config.fetch_seconds, 1.0)
        while True:
            await anyio.sleep(tick)
            now = time.monotonic()
            timeout = self.config.transport_timeout_seconds
            for request_id, waiting in list(self.calls.waiting.items()):
                if timeout is not None and now - waiting.alive_at > timeout:
                    self.calls.waiting.pop(request_id, None)
                    await self._fail(request_id, waited=timeout)
                elif now - waiting.fetched_at >= self.config.fetch_seconds:
                    waiting.fetched_at = now
                    await self._fetch(request_id, waiting)

    async def _fetch(self, request_id: RequestId, waiting: _Waiting) -> None:
        headers = {k: v for k, v in waiting.request.headers.items() if k.lower() != "content-length"}
        headers[FETCH_HEADER] = FETCH_RESULT
        try:
            response = await self.http.post(
                self.config.server_url, content=waiting.request.content, headers=headers, timeout=FETCH_TIMEOUT_SECONDS
            )
        except httpx2.HTTPError as exc:
            logger.debug("fetching webhook call %s from %s failed: %s", request_id, self.config.server_url, exc)
            return
        if response.status_code == 202:
            return  # still running (the response hook marked it alive)
        try:
            message = decode_message(response.content)
        except Exception:
            logger.warning("fetching webhook call %s: %s answered HTTP %d", request_id, self.config.server_url,
                           response.status_code)  # fmt: skip
            return
        if isinstance(message, JSONRPCError | JSONRPCResponse) and message.id == request_id:
            await self._deliver(message, None)

    async def _fail(self, request_id: RequestId, *, waited: float) -> None:
        error = jsonrpc_error(
            request_id,
            REQUEST_TIMEOUT_CODE,
            f"no answer from {self.config.server_url} for {waited:g} s: the webhook tool's result never arrived "
            "and the server does not answer for it (it may have stopped; a server keeps running calls in memory)",
        )
        if self.calls.answer(request_id):
            await self.read_in.send(SessionMessage(error))
