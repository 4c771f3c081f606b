"""The client transport: an MCP stream pair over any `Channel`.

`client_streams(...)` yields the `(read, write)` pair that `mcp.ClientSession` takes (and that
`mcp.Client` accepts as a transport); its replies come from a `ReplyRouter`, which may serve many
client transports of one process (`connecting.py` opens both from a config). Both MCP eras pass
through untouched: the transport only adds routing
attributes (client id, reply address, the 2025 session id once the server minted one, and the
SDK's `mcp-*` headers) and, on `initialize`, the original asyncmcp `_meta.responseQueueUrl`
handshake so servers of either generation can answer.

The transport also watches its own requests: one that sees no sign of life (its answer, progress,
or a keep-alive, which every request asks the worker running it for: `mcp-keepalive`) within
`timeout_seconds` fails with an error naming the server address, and the server is told to stop
(`notifications/cancelled`); so the timeout bounds how long nobody takes a request, never how long
a tool runs. Sends run concurrently, so a slow send never holds up the
next request; frames the channel refuses fail their request at once with the channel's reason.

Every request carries a random token of its own (`codec.ATTR_REQUEST_TOKEN`) and the transport
accepts only frames that carry the token of a request it is waiting for: an answer must carry its
own request's token, progress, logs and server-to-client requests that of some pending request.
Anyone who can write to the server's request queue can make the server send frames labelled with
this client's id to this client's reply queue, but not with a token they never saw, so such frames
are dropped here. Cancels and answers to server-to-client requests carry the token back.

A client opened by `connect()` also lists the tools alongside a session's first call of a tool it
has not listed (`list_tools_ahead`): mcp's `ClientSession` follows the first successful call of
such a tool with its own `tools/list`, to check the result against the tool's output schema, and
only then returns the result. Sent with the call, that listing is answered while the call runs,
and the session's own `tools/list` is answered with it instead of waiting for another round trip
through the broker (docs/architecture.md). When the server lets clients keep its answers
(SEP-2549 `ttlMs`, `client/kept_answers.py`), a later connection's `server/discover` is answered
here and its first call goes without a listing.
"""

from __future__ import annotations

import heapq
import logging
import math
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectSendStream
from mcp.shared.message import ClientMessageMetadata, ServerMessageMetadata, SessionMessage
from mcp_types import (
    INTERNAL_ERROR,
    PROTOCOL_VERSION_META_KEY,
    REQUEST_TIMEOUT,
    JSONRPCError,
    JSONRPCMessage,
    JSONRPCNotification,
    JSONRPCRequest,
    JSONRPCResponse,
    RequestId,
)

from asyncmcp.channels.base import Channel, Delivery
from asyncmcp.client.kept_answers import KeptAnswers, answer_key
from asyncmcp.client.replies import ReplyRouter
from asyncmcp.codec import (
    ATTR_CLIENT_ID,
    ATTR_KEEPALIVE,
    ATTR_METHOD,
    ATTR_NAME,
    ATTR_PROTOCOL_VERSION,
    ATTR_REPLY_TO,
    ATTR_REQUEST_TOKEN,
    ATTR_SESSION_ID,
    CONTROL_CLOSE_STREAM,
    CONTROL_KEEPALIVE,
    MIN_KEEPALIVE_SECONDS,
    SEED_REPLY_META_KEY,
    Envelope,
    Frame,
    FrameDecodeError,
    FrameEncodeError,
    as_mapping,
    decode_frame,
    encode_message,
    jsonrpc_error,
    keepalive_request_id,
)
from asyncmcp.errors import ChannelError
from asyncmcp.expiring import BoundedDict, ExpiringSet

__all__ = ["client_streams"]

logger = logging.getLogger(__name__)

KEEPALIVES_PER_TIMEOUT = 3
"""A request asks the worker running it for a keep-alive this many times per timeout, so one lost or
late keep-alive never fails a call that is still running (never more often than
`codec.MIN_KEEPALIVE_SECONDS`: a timeout under 3 s gets fewer per timeout, one of 1 s or less none in time)."""

INBOX_SIZE = 1024
"""Frames buffered for a client that is slow to read; past that its frames go back to the queue."""

CloseStreamFn = Callable[[str], None]
"""Told the id of a request whose server handler closed its stream (`CONTROL_CLOSE_STREAM`)."""

_HEADER_ATTRIBUTES = {"mcp-protocol-version": ATTR_PROTOCOL_VERSION, "mcp-method": ATTR_METHOD, "mcp-name": ATTR_NAME}

REQUEST_TOKEN_BYTES = 16
"""Randomness of a request token: 128 bits, beyond guessing."""

MAX_SERVER_REQUESTS = 1024
"""Server-to-client requests remembered until answered (their token goes back on the answer)."""

LISTING_FRESH_SECONDS = 10.0
"""How long a tools/list sent ahead may stand in for the session's own: the SDK asks for it right
after the call's answer, so an older one is dropped and a later listing goes to the server."""

LISTING_ID_PREFIX = "asyncmcp-tools-list-"
"""Request ids of listings sent ahead: strings, where the SDK numbers its own requests."""


@dataclass
class _Listing:
    """A tools/list sent ahead of the session's own (see `_ClientSide.listing_ahead`)."""

    request_id: str
    answer: JSONRPCResponse | None = None
    answered_at: float = math.inf
    call_id: RequestId | None = None
    """The call it was sent (or taken from the kept ones) for."""
    expires: float = math.inf
    """For a kept listing, when its server's `ttlMs` runs out."""
    waiting: JSONRPCRequest | None = None
    """The session's own tools/list, answered with this one when it arrives (sent itself if this
    one fails)."""

    def stale(self, now: float) -> bool:
        return now - self.answered_at > LISTING_FRESH_SECONDS or now >= self.expires


def _sent_ahead(request_id: RequestId | None) -> bool:
    """Whether an answer is to a listing this transport sent ahead (the SDK numbers its requests)."""
    return isinstance(request_id, str) and request_id.startswith(LISTING_ID_PREFIX)


def _not_checked(answer: JSONRPCResponse | JSONRPCError) -> bool:
    """Whether the session skips its listing after this answer to a call: an error, or an `isError` result."""
    return isinstance(answer, JSONRPCError) or answer.result.get("isError") is True


def _tool_names(answer: JSONRPCResponse) -> set[str]:
    """The names of the tools a `tools/list` answer lists (none for any other answer)."""
    tools = answer.result.get("tools")
    if not isinstance(tools, list):
        return set()
    names = ((as_mapping(tool) or {}).get("name") for tool in cast("list[Any]", tools))
    return {name for name in names if isinstance(name, str)}


@dataclass
class _Pending:
    method: str
    deadline: float
    token: str
    keep_as: Hashable | None = None
    """Where its answer is kept for the config's later connections (`KeptAnswers`), if the server
    allows: a `server/discover`, or a listing sent ahead (`_ClientSide.keep_key`)."""
    generation: int = 0
    """`KeptAnswers.generation` when it was sent: its answer is kept only if no `list_changed` came since."""


class _ClientSide:
    """State and behaviour of one client transport between `__aenter__` and `__aexit__`."""

    def __init__(
        self,
        channel: Channel,
        server_address: str,
        reply_address: str | None,
        client_id: str,
        timeout_seconds: float | None,
        inbox: MemoryObjectSendStream[Any],
    ) -> None:
        self.channel = channel
        self.server_address = server_address
        self.reply_address = reply_address
        self.handshake_meta_key = SEED_REPLY_META_KEY
        self.client_id = client_id
        self.timeout = timeout_seconds
        self.inbox = inbox
        self.session_id: str | None = None
        self.on_close_stream: CloseStreamFn | None = None
        self.pending: dict[RequestId, _Pending] = {}
        self._tokens: set[str] = set()
        """Tokens of the pending requests: a frame carrying none of them does not answer this client."""
        self._server_requests: BoundedDict[RequestId, str] = BoundedDict(MAX_SERVER_REQUESTS)
        """Server-to-client requests awaiting the SDK's answer, with the token their answer carries back."""
        self.settled = ExpiringSet(600.0, 10_000)
        """Requests no longer waited for (answered, cancelled by this client, failed here), for ten
        minutes: an answer to one is a duplicate or arrived after the client gave up, and is dropped
        without a warning (a cancelled call's answer may cross its cancel)."""
        self.heard_from_server = False
        """Whether any frame came back on this connection (an answer, progress, a keep-alive)."""
        self.discover_unanswered: str | None = None
        """Why `server/discover` failed, when nobody took it: the `initialize` fallback fails the same at once."""
        self._deadlines: list[tuple[float, str, RequestId]] = []
        self._deadline_changed = anyio.Event()
        self.list_tools_ahead = False
        """List the tools alongside a first call of a tool not yet listed (`connect()` sets it)."""
        self._listed: set[str] = set()
        """Tool names seen in tools/list answers handed to the session."""
        self._listing: _Listing | None = None
        self.kept: KeptAnswers | None = None
        """Answers the server let the process keep (its discover, its listing), shared with
        connections of an equal config (`connect()` sets it)."""
        self.resend: Callable[[SessionMessage], None] | None = None
        """Sends a message from outside the outbound pump (the session's listing, when the one sent ahead failed)."""

    # -- inbound ---------------------------------------------------------------------------

    def on_frame(self, delivery: Delivery, envelope: Envelope) -> None:
        try:
            self.inbox.send_nowait(_Inbound(delivery, envelope))
        except anyio.WouldBlock:
            delivery.release(1)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            delivery.release(0)

    def on_failure(self, exc: Exception) -> None:
        for request_id in list(self.pending):
            self._fail_nowait(request_id, f"replies can no longer be received: {exc}")

    def accept(self, delivery: Delivery, envelope: Envelope) -> SessionMessage | Exception | None:
        """Turn a received frame into what the SDK reads, or None to drop it."""
        delivery.ack()
        self.heard_from_server = True
        token = envelope.request_token
        if envelope.control == CONTROL_CLOSE_STREAM:
            if token in self._tokens and self.on_close_stream is not None and envelope.related_request_id is not None:
                self.on_close_stream(envelope.related_request_id)
            return None  # the SDK has no message for it; a client with no stream to close ignores it
        if envelope.control == CONTROL_KEEPALIVE:
            request_id = keepalive_request_id(delivery.frame.body)
            pending = self.pending.get(request_id) if request_id is not None else None
            if request_id is not None and pending is not None and pending.token == token:
                self._extend(request_id)  # taken and still running: a sign of life
            return None
        try:
            message = decode_frame(delivery.frame)
        except FrameDecodeError as exc:
            logger.warning("undecodable reply on %s for client %s: %s", self.reply_address, self.client_id, exc)
            return exc
        if isinstance(message, JSONRPCError) and message.id is None:
            # The server could not read which request this was (an undecodable body, or one whose S3
            # payload it refused): the SDK drops it silently, so say it here, where the operator looks.
            logger.warning("the server refused a message of client %s: %s", self.client_id, message.error.message)
        if isinstance(message, JSONRPCResponse | JSONRPCError):
            request_id = message.id
            pending = self.pending.get(request_id) if request_id is not None else None
            if request_id is None or pending is None:
                if request_id not in self.settled:
                    self._refuse(message, "answers no request of this client")
                else:  # a duplicate, or an answer that crossed this client's cancel or timeout
                    logger.debug(
                        "client %s dropped a late or repeated answer to request %r", self.client_id, request_id
                    )
                return None
            if token != pending.token:
                self._refuse(message, "does not carry its request's token")
                return None
            self._settle(request_id, checked=not _not_checked(message))
            if isinstance(message, JSONRPCResponse) and pending.keep_as is not None and self.kept is not None:
                self.kept.keep(pending.keep_as, message, pending.generation)
            if pending.method == "initialize" and envelope.session_id:
                self.session_id = envelope.session_id
            return self.handed_over(SessionMessage(message))
        if token is None or token not in self._tokens:
            self._refuse(message, "carries no token of a pending request")
            return None
        if isinstance(message, JSONRPCRequest):
            self._server_requests[message.id] = token
        elif message.method == "notifications/tools/list_changed":
            if self.kept is not None:
                self.kept.forget()
            self._drop_listing()  # neither a kept listing nor one sent before the change may answer now
        elif message.method == "notifications/progress":
            progress_token = (message.params or {}).get("progressToken")
            if isinstance(progress_token, str | int) and progress_token in self.pending:
                self._extend(progress_token)
        if envelope.related_request_id is not None:
            # Which of this connection's requests the server sent it within, as the SDK labels it.
            return SessionMessage(message, ServerMessageMetadata(related_request_id=envelope.related_request_id))
        return SessionMessage(message)

    def _refuse(self, message: JSONRPCMessage, why: str) -> None:
        described = getattr(message, "method", None) or f"answer to request {getattr(message, 'id', None)!r}"
        logger.warning("client %s dropped a frame (%s) that %s", self.client_id, described, why)

    def _settle(self, request_id: RequestId, *, checked: bool = False) -> _Pending | None:
        """Stop waiting for a request; returns what was pending, or None. Unless the session will
        check its result (`checked`: a successful answer), the listing that came with it goes too:
        the session lists after no failed or cancelled call, so it must not answer a later listing."""
        pending = self.pending.pop(request_id, None)
        if pending is not None:
            self._tokens.discard(pending.token)
            self.settled.add(request_id)
            if not checked and self._listing is not None and self._listing.call_id == request_id:
                self._drop_listing()
        return pending

    # -- tools listed ahead ----------------------------------------------------------------

    def listing_ahead(self, item: SessionMessage) -> SessionMessage | None:
        """The tools/list to send next to `item`, when it is the call of a tool the session has
        not listed and no listing is already on its way, or kept (`KeptAnswers`: then the kept one
        answers the session's own and nothing is sent)."""
        message = item.message
        if not (self.list_tools_ahead and isinstance(message, JSONRPCRequest) and message.method == "tools/call"):
            return None
        name = (message.params or {}).get("name")
        listing = self._listing
        if not isinstance(name, str) or name in self._listed:
            return None
        now = time.monotonic()
        if listing is not None and not listing.stale(now):
            return None
        params: dict[str, Any] = {}
        call_meta = as_mapping((message.params or {}).get("_meta")) or {}
        meta = {key: value for key, value in call_meta.items() if key != "progressToken"}
        if meta:
            params["_meta"] = meta  # the 2026-07-28 per-request protocol fields travel here
        metadata = item.metadata
        headers = dict(metadata.headers or {}) if isinstance(metadata, ClientMessageMetadata) else {}
        headers.pop("mcp-name", None)
        listing = self._listing = _Listing(f"{LISTING_ID_PREFIX}{uuid.uuid4().hex}", call_id=message.id)
        request = JSONRPCRequest(jsonrpc="2.0", id=listing.request_id, method="tools/list", params=params or None)
        key = self.keep_key(request)
        kept = self.kept.fresh(key) if key is not None and self.kept is not None else None
        if kept is not None and name in _tool_names(kept[0]):  # one without the tool is older than the tool
            listing.answer, listing.answered_at, listing.expires = kept[0], now, now + kept[1]
            logger.debug("client %s calls %s without a listing: a kept one is fresh", self.client_id, name)
            return None
        if headers:
            headers["mcp-method"] = "tools/list"
        return SessionMessage(request, ClientMessageMetadata(headers=headers or None))

    def answers_from_ahead(self, request: JSONRPCRequest) -> SessionMessage | bool:
        """For the session's own tools/list: the answer of the one sent ahead (a message, which goes
        to the session through `handed_over` as every inbound message does), True when that answer
        is still on its way (it is handed over on arrival), False to send it. A listing sent ahead
        that failed (a refused send, a timeout) is never handed over: the session's own then goes to
        the server, so it fails only if the server's answer does."""
        listing = self._listing
        if listing is None or request.id == listing.request_id or listing.waiting is not None:
            return False
        if (request.params or {}).get("cursor"):
            return False
        if listing.answer is None:
            listing.waiting = request
            return True
        self._listing = None
        if listing.stale(time.monotonic()):
            return False
        return SessionMessage(listing.answer.model_copy(update={"id": request.id}))

    def _drop_listing(self) -> None:
        """Let no listing held or on its way answer the session: its own listing, if it is already
        waiting for that one, goes to the server; an answer still on its way is dropped on arrival."""
        listing, self._listing = self._listing, None
        if listing is not None and listing.waiting is not None and self.resend is not None:
            self.resend(SessionMessage(listing.waiting))

    def handed_over(self, item: SessionMessage) -> SessionMessage | None:
        """`item` on its way to the session: the answer of a listing sent ahead is held for the
        session's own tools/list (or handed to it, if it is waiting); the tools of any listing are noted."""
        message = item.message
        listing = self._listing
        if isinstance(message, JSONRPCResponse | JSONRPCError) and _sent_ahead(message.id):
            if listing is None or message.id != listing.request_id:
                return None  # a listing dropped on its way (its call failed, the tools changed)
            if isinstance(message, JSONRPCError):
                self._drop_listing()  # the session's own listing, if waiting for this one, goes to the server
                return None
            waiting = listing.waiting  # (its answer was kept, if the server allows, in `accept`)
            if waiting is None:
                listing.answer, listing.answered_at = message, time.monotonic()
                return None
            self._listing = None
            item = SessionMessage(message.model_copy(update={"id": waiting.id}))
            message = item.message
        if isinstance(message, JSONRPCResponse):
            self._listed.update(_tool_names(message))
        return item

    # -- outbound --------------------------------------------------------------------------

    def frame_for(self, item: SessionMessage, token: str | None = None) -> Frame:
        """The frame of an outgoing message; `token` is that of the request a cancel is for, when the
        request is no longer pending (it timed out)."""
        message = item.message
        attributes: dict[str, str] = {ATTR_CLIENT_ID: self.client_id}
        if self.reply_address is not None:
            attributes[ATTR_REPLY_TO] = self.reply_address
        if self.session_id:
            attributes[ATTR_SESSION_ID] = self.session_id
        metadata = item.metadata
        if isinstance(metadata, ClientMessageMetadata) and metadata.headers:
            for header, attribute in _HEADER_ATTRIBUTES.items():
                value = metadata.headers.get(header)
                # `mcp-name` routes 2026 requests; a 2025 frame has its session id in that slot of the
                # attribute budget (codec.MAX_ROUTING_ATTRIBUTES).
                if value and not (attribute == ATTR_NAME and self.session_id):
                    attributes[attribute] = value[:1024]
        ordering_key = uuid.uuid4().hex  # requests must not share a FIFO group (architecture.md)
        dedupe_key: str | None = None
        if isinstance(message, JSONRPCRequest):
            if message.method == "initialize" and self.reply_address is not None:
                params = dict(message.params or {})
                meta = dict(params.get("_meta") or {})
                meta.setdefault(self.handshake_meta_key, self.reply_address)
                params["_meta"] = meta
                message = message.model_copy(update={"params": params})
            attributes.setdefault(ATTR_METHOD, message.method)
            if self.timeout is not None:
                attributes[ATTR_KEEPALIVE] = f"{max(MIN_KEEPALIVE_SECONDS, self.timeout / KEEPALIVES_PER_TIMEOUT):g}"
            token = secrets.token_hex(REQUEST_TOKEN_BYTES)
            self.pending[message.id] = _Pending(message.method, math.inf, token)
            self._tokens.add(token)
            self._extend(message.id)
            dedupe_key = f"{self.client_id}:{message.id}:{token}"
        elif isinstance(message, JSONRPCNotification) and message.method == "notifications/cancelled":
            request_id = (message.params or {}).get("requestId")
            pending = self._settle(request_id) if isinstance(request_id, str | int) else None
            token = pending.token if pending is not None else token
        elif isinstance(message, JSONRPCResponse | JSONRPCError) and message.id is not None:
            token = self._server_requests.pop(message.id, None)
        if token is not None:
            attributes[ATTR_REQUEST_TOKEN] = token
        return Frame(encode_message(message), attributes, ordering_key=ordering_key, dedupe_key=dedupe_key)

    async def send(self, item: SessionMessage, *, token: str | None = None) -> None:
        message = item.message
        if (
            isinstance(message, JSONRPCRequest)
            and message.method == "initialize"
            and self.discover_unanswered
            and not self.heard_from_server
        ):
            # `mcp.Client` in auto mode falls back to initialize when server/discover fails: after
            # nobody took the discover, waiting the whole timeout again would only double the wait.
            self.pending[message.id] = _Pending(message.method, math.inf, "")
            await self.fail(message.id, self.discover_unanswered)
            return
        if isinstance(message, JSONRPCRequest) and message.method == "tools/list":
            ahead = self.answers_from_ahead(message)
            if isinstance(ahead, SessionMessage):
                await self._deliver(ahead)
            if ahead is not False:
                return
        keep_as = self.keep_key(message)
        # A listing sent ahead was looked up when it was made (`listing_ahead`); a discover is here.
        discover = isinstance(message, JSONRPCRequest) and message.method == "server/discover"
        if discover and keep_as is not None and await self._answered_from_kept(message, keep_as):
            return
        try:
            frame = self.frame_for(item, token)
            if isinstance(message, JSONRPCRequest) and keep_as is not None and self.kept is not None:
                pending = self.pending[message.id]  # its answer is kept, if the server allows (`accept`)
                pending.keep_as, pending.generation = keep_as, self.kept.generation
            await self.channel.send(self.server_address, frame)
        except (ChannelError, FrameEncodeError) as exc:
            message = item.message
            if isinstance(message, JSONRPCRequest):
                await self.fail(message.id, str(exc), code=INTERNAL_ERROR)
            else:
                logger.warning("client %s could not send %s: %s", self.client_id, type(message).__name__, exc)

    async def _answered_from_kept(self, message: JSONRPCMessage, key: Hashable) -> bool:
        """Answer the session's request here with the answer kept under `key`, if one is fresh."""
        kept = self.kept.fresh(key) if self.kept is not None else None
        if kept is None or not isinstance(message, JSONRPCRequest):
            return False
        logger.debug("client %s answers its %s with a kept one (ttlMs)", self.client_id, message.method)
        await self._deliver(SessionMessage(kept[0].model_copy(update={"id": message.id})))
        return True

    def keep_key(self, message: JSONRPCMessage) -> Hashable | None:
        """What the answer to `message` is kept under for the config's later connections
        (`kept_answers.answer_key`): for the session's `server/discover` and a listing sent ahead;
        None for any other message (a listing of the user's goes to the server), or one not to keep.
        The version is the one its `_meta` carries (the SDK stamps its header with the same)."""
        if self.kept is None or not isinstance(message, JSONRPCRequest):
            return None
        if message.method != "server/discover" and not (message.method == "tools/list" and _sent_ahead(message.id)):
            return None
        meta = as_mapping((message.params or {}).get("_meta")) or {}
        version = meta.get(PROTOCOL_VERSION_META_KEY)
        return answer_key(message.method, version if isinstance(version, str) else None, meta)

    def _failure(self, request_id: RequestId, reason: str, code: int) -> SessionMessage | None:
        """The error that ends a pending request, or None when it is no longer pending."""
        if self._settle(request_id) is None:
            return None
        return SessionMessage(jsonrpc_error(request_id, code, reason))

    async def fail(self, request_id: RequestId, reason: str, *, code: int = REQUEST_TIMEOUT) -> None:
        failure = self._failure(request_id, reason, code)
        if failure is not None:
            await self._deliver(failure)

    async def _deliver(self, item: SessionMessage) -> None:
        """Put `item` where the session reads (through `handed_over`, as every inbound frame)."""
        try:
            await self.inbox.send(item)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass

    def _fail_nowait(self, request_id: RequestId, reason: str) -> None:
        failure = self._failure(request_id, reason, INTERNAL_ERROR)
        if failure is not None:
            try:
                self.inbox.send_nowait(failure)
            except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
                pass

    # -- timeouts --------------------------------------------------------------------------

    def _extend(self, request_id: RequestId) -> None:
        if self.timeout is None:
            return
        pending = self.pending.get(request_id)
        if pending is None:
            return
        first = math.isinf(pending.deadline)
        pending.deadline = time.monotonic() + self.timeout
        if first:  # later extensions only move `pending.deadline`; the watcher re-queues on expiry
            heapq.heappush(self._deadlines, (pending.deadline, repr(request_id), request_id))
            self._deadline_changed.set()

    async def watch_deadlines(self) -> None:
        """Fail requests that saw no progress and no answer within the timeout."""
        while True:
            while not self._deadlines:
                self._deadline_changed = anyio.Event()
                await self._deadline_changed.wait()
            deadline, _, request_id = self._deadlines[0]
            delay = deadline - time.monotonic()
            if delay > 0:
                self._deadline_changed = anyio.Event()
                with anyio.move_on_after(delay):
                    await self._deadline_changed.wait()
                continue
            heapq.heappop(self._deadlines)
            pending = self.pending.get(request_id)
            if pending is None:
                continue  # answered
            if pending.deadline > deadline:  # extended by progress since this entry was queued
                heapq.heappush(self._deadlines, (pending.deadline, repr(request_id), request_id))
                continue
            reason = (
                f"No worker answered {pending.method} (request {request_id!r}) on {self.server_address}: no "
                f"answer, progress or keep-alive within {self.timeout:g} s (transport_timeout_seconds), so no "
                "worker has taken it (or the one running it died). Check that a server is serving that address "
                f"(asyncmcp serve ...) and that it may reply to {self.reply_address or 'its default reply address'}."
            )
            if pending.method == "server/discover" and not self.heard_from_server:
                self.discover_unanswered = reason
            await self.fail(request_id, reason)
            cancel = JSONRPCNotification(
                jsonrpc="2.0",
                method="notifications/cancelled",
                params={"requestId": request_id, "reason": "timed out waiting for the server"},
            )
            await self.send(SessionMessage(cancel), token=pending.token)


@dataclass(frozen=True)
class _Inbound:
    delivery: Delivery
    envelope: Envelope


@asynccontextmanager
async def client_streams(
    server_address: str,
    router: ReplyRouter,
    *,
    client_id: str | None = None,
    timeout_seconds: float | None = None,
    on_close_stream: CloseStreamFn | None = None,
    list_tools_ahead: bool = False,
    kept: KeptAnswers | None = None,
) -> AsyncIterator[
    tuple[anyio.abc.ObjectReceiveStream[SessionMessage | Exception], anyio.abc.ObjectSendStream[SessionMessage]]
]:
    """Connect to the server reading `server_address` over `router`'s channel; yields the SDK's
    `(read, write)` streams. Replies arrive through `router`, named on every frame as `router.reply_to`.
    `on_close_stream` is told when a server handler closes the stream of one of this client's
    requests (only a client that fronts HTTP streams, the proxy, has one to close).
    `list_tools_ahead`: for a transport read by an SDK session of its own (`connect()`), not by a
    relay, which does not follow its calls with a listing (see the module docstring); `kept`: where
    the answers the server lets clients keep (its discover, its listing) are kept, shared with other
    connections (`connect()` gives those of the config, `kept_answers.py`)."""
    # A configured id gets a per-connection suffix: JSON-RPC ids restart at 1 in every session, and
    # the server's redelivery dedupe (and FIFO deduplication) key on (client id, request id), so a
    # restarted or second client with the same configured id must not look like the first.
    client_id = f"{client_id}.{uuid.uuid4().hex[:8]}" if client_id else uuid.uuid4().hex
    async with AsyncExitStack() as stack:
        read_send, read_receive = anyio.create_memory_object_stream[SessionMessage | Exception](INBOX_SIZE)
        write_send, write_receive = anyio.create_memory_object_stream[SessionMessage](INBOX_SIZE)
        raw_send, raw_receive = anyio.create_memory_object_stream[Any](INBOX_SIZE)
        side = _ClientSide(router.channel, server_address, router.reply_to, client_id, timeout_seconds, raw_send)
        side.handshake_meta_key = router.handshake_meta_key
        side.on_close_stream = on_close_stream
        side.list_tools_ahead = list_tools_ahead
        side.kept = kept
        router.register(client_id, side.on_frame, side.on_failure)
        stack.callback(router.unregister, client_id)

        async def pump_inbound() -> None:
            async with read_send, raw_receive:
                async for item in raw_receive:
                    if isinstance(item, _Inbound):
                        delivered = side.accept(item.delivery, item.envelope)
                    elif isinstance(item, SessionMessage):
                        delivered = side.handed_over(item)  # a failure made here, or a listing's answer
                    else:
                        delivered = item
                    if delivered is not None:
                        await read_send.send(delivered)

        def resend(item: SessionMessage) -> None:
            tg.start_soon(side.send, item)

        async def pump_outbound(tg: anyio.abc.TaskGroup) -> None:
            async with write_receive:
                async for item in write_receive:
                    tg.start_soon(side.send, item)
                    if (listing := side.listing_ahead(item)) is not None:
                        tg.start_soon(side.send, listing)

        tg = await stack.enter_async_context(anyio.create_task_group())
        side.resend = resend
        tg.start_soon(pump_inbound)
        tg.start_soon(pump_outbound, tg)
        if timeout_seconds is not None:
            tg.start_soon(side.watch_deadlines)
        try:
            yield read_receive, write_send
        finally:
            tg.cancel_scope.cancel()
