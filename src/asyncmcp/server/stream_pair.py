"""A single-connection server entry: the stream pair of the original asyncmcp API.

`async with sqs_server(config, client) as (read, write): await app.run(read, write, opts)` hands
the SDK one stream pair, which the SDK locks to one client and one protocol era. That is the
documented quick start, so it works, with the same delivery guarantees as the engine and through
the same answer path (`answering.py`): a request is acknowledged after its answer went out and
held while it runs; an answer the broker will not take yet is kept and re-sent when the request
comes back, without running the tool again. It serves one client: a second client id gets an
error that points at the multi-client entry (`serve_sqs` / `asyncmcp serve`), never a reply mixed
into another client's session.

Its frames are bound to the client's requests as the engine's are (`codec.ATTR_REQUEST_TOKEN`):
each frame answering a request carries the request's token; a cancel, or an answer to one of the
server's own requests, counts only when it carries the token of the request concerned (an answer
to no pending request of the server is refused); and a second request reusing the id of one in
flight with another token is refused, not merged into the first. Ids are matched as the SDK matches
them (`coerce_request_id`: `5` and `"5"` are one request), so a string form cannot slip past.
A notification tied to no request goes out with the token of the client's latest request, so the
client takes it only while that request is pending.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal

import anyio
import anyio.abc
from mcp.shared.dispatcher import as_request_id, coerce_request_id
from mcp.shared.message import ServerMessageMetadata, SessionMessage
from mcp_types import (
    INVALID_REQUEST,
    JSONRPCError,
    JSONRPCMessage,
    JSONRPCNotification,
    JSONRPCRequest,
    JSONRPCResponse,
    RequestId,
)

from asyncmcp.channels.base import Delivery, ServerBinding
from asyncmcp.codec import Envelope, has_modern_envelope, jsonrpc_error, seed_reply_address
from asyncmcp.expiring import BoundedDict
from asyncmcp.receiving import Poller, open_delivery
from asyncmcp.server.answering import UNSENT_RETRY_DELAY, Answers, Caller, close_stream_frame
from asyncmcp.server.engine import RequestFacts, RequestKey, request_key

__all__ = ["serve_stream_pair"]

logger = logging.getLogger(__name__)


MAX_SERVER_REQUESTS = 1024
"""The server's own requests to the client remembered until answered (with the token they carry)."""


@dataclass
class _Route:
    caller: Caller
    key: RequestKey
    deliveries: list[Delivery] = field(default_factory=list[Delivery])
    keepalive: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    """Ends the request's keep-alives (`Answers.keep_alive`) when it is settled."""


class _Connection:
    def __init__(
        self, binding: ServerBinding, on_bad_message: Literal["delete", "dead-letter"], max_batch: int
    ) -> None:
        self.binding = binding
        self.channel = channel = binding.channel
        self.max_batch = max_batch
        self.address = binding.address
        self.policy = binding.policy
        self.on_bad_message = on_bad_message
        self.client_id: str | None = None
        self.latest: Caller | None = None
        """Whom the client's latest request named: frames tied to no request go there."""
        self.routes: dict[RequestId, _Route] = {}
        """The client's requests in flight, by id as the SDK correlates them (`coerce_request_id`)."""
        self.server_requests: BoundedDict[RequestId, Caller] = BoundedDict(MAX_SERVER_REQUESTS)
        """The server's own requests to the client (their SDK ids, coerced), by the caller they went to."""
        self.stats: Counter[str] = Counter()
        self.answers = Answers(channel, self.stats)
        self.wake_token = uuid.uuid4().hex
        self.tasks: anyio.abc.TaskGroup | None = None
        """Where keep-alive loops run (set by `serve_stream_pair`)."""

    def dispose(self, delivery: Delivery) -> None:
        if self.on_bad_message == "delete":
            delivery.ack()
        else:
            delivery.release(None)

    async def receive(self, inbound: anyio.abc.ObjectSendStream[SessionMessage | Exception]) -> None:
        poller = Poller(self.channel, self.address, wake_token=self.wake_token)
        while True:
            for delivery in await poller.next_batch(self.max_batch):
                await self._accept(delivery, inbound)

    async def _accept(
        self, delivery: Delivery, inbound: anyio.abc.ObjectSendStream[SessionMessage | Exception]
    ) -> None:
        opened = open_delivery(delivery, self.wake_token)
        if opened is None:
            return
        envelope, message = opened.envelope, opened.message
        if message is None:
            if opened.error is not None and envelope.reply_to and self._may_answer(envelope.reply_to):
                caller = Caller(envelope.reply_to, envelope.client_id, envelope.request_token)
                await self.answers.send_quietly(caller, opened.error)
            self.dispose(delivery)
            return
        reply_to = envelope.reply_to
        if reply_to is None and isinstance(message, JSONRPCRequest) and message.method == "initialize":
            reply_to = seed_reply_address(message.params, self.binding.handshake_meta_key)
        reply_to = reply_to or (self.latest.reply_to if self.latest else None) or self.binding.default_reply_to
        if reply_to is None or not self._may_answer(reply_to):
            logger.warning(
                "refused a message on %s: reply address %r is missing or not allowed (%s)",
                self.address,
                reply_to,
                self.policy.describe(),
            )
            self.dispose(delivery)
            return
        if self.client_id is None:
            self.client_id = envelope.client_id
        caller = Caller(reply_to, envelope.client_id, envelope.request_token)
        if envelope.client_id != self.client_id:
            if isinstance(message, JSONRPCRequest):
                error = jsonrpc_error(
                    message.id,
                    INVALID_REQUEST,
                    f"{self.address} is served by a single-connection server that already carries another "
                    "client; serve it with asyncmcp.sqs.serve_sqs() or `asyncmcp serve` for many clients",
                )
                await self.answers.send_quietly(caller, error)
            delivery.ack()
            return
        if not isinstance(message, JSONRPCRequest):
            if self._bound_to_its_request(message, envelope):
                await inbound.send(SessionMessage(message))
            delivery.ack()
            return
        key = request_key(envelope, reply_to, message.id)
        if self.answers.kept(key):
            await self.answers.resend(key, delivery)  # answered before; only the answer was lost
            return
        route = self.routes.get(coerce_request_id(message.id))
        if route is not None and route.key == key:
            route.deliveries.append(delivery)  # redelivered while running
            return
        if route is not None:
            error = jsonrpc_error(
                message.id, INVALID_REQUEST, f"request id {message.id!r} is already in use by a request in flight"
            )
            await self.answers.send_quietly(caller, error)
            delivery.ack()
            return
        self.latest = caller
        route = self.routes[coerce_request_id(message.id)] = _Route(caller, key, [delivery])
        asked = envelope.keepalive_seconds
        if asked is not None and self.tasks is not None:
            self.tasks.start_soon(self.answers.keep_alive, caller, message.id, asked, route.keepalive)

        async def unanswered(request_id: RequestId = message.id) -> None:
            self.settle(request_id)

        async def close_stream(request_id: RequestId = message.id, target: Caller = caller) -> None:
            await self.answers.send_control(target, close_stream_frame(request_id), request_id)

        facts = RequestFacts.of(self.address, delivery, envelope, reply_to)
        metadata = ServerMessageMetadata(
            request_context=facts,
            on_request_unanswered=unanswered,
            close_sse_stream=None if has_modern_envelope(message.params) else close_stream,
        )
        await inbound.send(SessionMessage(message, metadata))

    def _may_answer(self, reply_to: str) -> bool:
        """The policy allows it and it is not the request address (see `ServerEngine._may_answer`)."""
        return reply_to != self.address and self.policy.allows(reply_to)

    def _bound_to_its_request(self, message: JSONRPCMessage, envelope: Envelope) -> bool:
        """Whether a client frame that is not a request may reach the server.

        An answer must answer one of the server's pending requests and carry that request's token
        (when it carried one); the pending entry is dropped only then, so a forged answer cannot
        take the real one's place. A cancel of a request in flight must carry that request's token.
        Ids are matched as the SDK matches them: `5` and `"5"` are one request. Anything else passes.
        """
        if isinstance(message, JSONRPCResponse | JSONRPCError):
            request_id = coerce_request_id(message.id) if message.id is not None else None
            expected = self.server_requests.get(request_id) if request_id is not None else None
            if request_id is None or expected is None:
                logger.warning(
                    "ignored a %s on %s to no pending request of the server (id %r)",
                    type(message).__name__,
                    self.address,
                    message.id,
                )
                return False
            if not _carries_token_of(expected, envelope):
                logger.warning("ignored a %s on %s without its request's token", type(message).__name__, self.address)
                return False
            del self.server_requests[request_id]
            return True
        if isinstance(message, JSONRPCNotification) and message.method == "notifications/cancelled":
            request_id = as_request_id((message.params or {}).get("requestId"))
            route = self.routes.get(coerce_request_id(request_id)) if request_id is not None else None
            if route is not None and not _carries_token_of(route.caller, envelope):
                logger.warning("ignored a cancel on %s without its request's token", self.address)
                return False
        return True

    def settle(self, request_id: RequestId, *, done: bool = True) -> None:
        """Acknowledge a finished request, or hand it back for its kept answer to be re-sent."""
        route = self.routes.pop(coerce_request_id(request_id), None)
        if route is not None:
            route.keepalive.cancel()
        for delivery in route.deliveries if route else ():
            if done:
                delivery.ack()
            else:
                delivery.release(UNSENT_RETRY_DELAY)

    async def forward(self, outbound: anyio.abc.ObjectReceiveStream[SessionMessage]) -> None:
        async with outbound:
            async for item in outbound:
                await self._forward(item)

    async def _forward(self, item: SessionMessage) -> None:
        message: JSONRPCMessage = item.message
        if isinstance(message, JSONRPCResponse | JSONRPCError):
            route = self.routes.get(coerce_request_id(message.id)) if message.id is not None else None
            if route is None or message.id is None:
                if self.latest is not None:
                    await self.answers.send_notice(self.latest, message, message.id)
                return
            done = await self.answers.send_final(route.key, route.caller, message, message.id)
            self.settle(message.id, done=done)
            return
        related = item.metadata.related_request_id if isinstance(item.metadata, ServerMessageMetadata) else None
        route = self.routes.get(coerce_request_id(related)) if related is not None else None
        caller = route.caller if route else self.latest
        if caller is None:
            return
        if isinstance(message, JSONRPCRequest):
            self.server_requests[coerce_request_id(message.id)] = caller
        await self.answers.send_notice(caller, message, related, related_request_id=related)


def _carries_token_of(caller: Caller, envelope: Envelope) -> bool:
    """Whether a client frame carries the token of the request `caller` made (if it made one)."""
    return caller.request_token is None or caller.request_token == envelope.request_token


@asynccontextmanager
async def serve_stream_pair(
    binding: ServerBinding,
    *,
    on_bad_message: Literal["delete", "dead-letter"] = "delete",
    max_batch: int = 10,
) -> AsyncIterator[
    tuple[anyio.abc.ObjectReceiveStream[SessionMessage | Exception], anyio.abc.ObjectSendStream[SessionMessage]]
]:
    """Yield the `(read, write)` pair of one server connection fed from the binding's request address."""
    connection = _Connection(binding, on_bad_message, max_batch)
    read_send, read_receive = anyio.create_memory_object_stream[SessionMessage | Exception](64)
    write_send, write_receive = anyio.create_memory_object_stream[SessionMessage](64)
    async with anyio.create_task_group() as tg:
        connection.tasks = tg

        async def receive() -> None:
            async with read_send:
                try:
                    await connection.receive(read_send)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    pass  # the server loop ended and closed its read stream

        tg.start_soon(receive)
        tg.start_soon(connection.forward, write_receive)
        try:
            yield read_receive, write_send
        finally:
            tg.cancel_scope.cancel()
            for request_id in list(connection.routes):
                route = connection.routes.pop(request_id)
                for delivery in route.deliveries:
                    delivery.release(0)
