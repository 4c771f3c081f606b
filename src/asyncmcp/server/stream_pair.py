"""A single-connection server entry: the stream pair of the original asyncmcp API.

`async with sqs_server(config, client) as (read, write): await app.run(read, write, opts)` hands
the SDK one stream pair, which the SDK locks to one client and one protocol era. That is the
documented quick start, so it works, with the same delivery guarantees as the engine and through
the same answer path (`answering.py`): a request is acknowledged after its answer went out and
held while it runs; an answer the broker will not take yet is kept and re-sent when the request
comes back, without running the tool again. It serves one client: a second client id gets an
error that points at the multi-client entry (`serve_sqs` / `asyncmcp serve`), never a reply mixed
into another client's session.
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
from mcp.shared.dispatcher import coerce_request_id
from mcp.shared.message import ServerMessageMetadata, SessionMessage
from mcp_types import INVALID_REQUEST, JSONRPCError, JSONRPCMessage, JSONRPCRequest, JSONRPCResponse, RequestId

from asyncmcp.channels.base import Delivery, ServerBinding
from asyncmcp.codec import has_modern_envelope, jsonrpc_error, seed_reply_address
from asyncmcp.receiving import Poller, open_delivery
from asyncmcp.server.answering import UNSENT_RETRY_DELAY, Answers, close_stream_frame, reply_frame
from asyncmcp.server.engine import RequestFacts

__all__ = ["serve_stream_pair"]

logger = logging.getLogger(__name__)


@dataclass
class _Route:
    reply_to: str
    key: tuple[str, RequestId]
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
        self.reply_to: str | None = None
        self.routes: dict[RequestId, _Route] = {}
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
            if opened.error is not None and envelope.reply_to and self.policy.allows(envelope.reply_to):
                await self.answers.send_quietly(envelope.reply_to, envelope.client_id, opened.error)
            self.dispose(delivery)
            return
        reply_to = envelope.reply_to
        if reply_to is None and isinstance(message, JSONRPCRequest) and message.method == "initialize":
            reply_to = seed_reply_address(message.params, self.binding.handshake_meta_key)
        reply_to = reply_to or self.reply_to or self.binding.default_reply_to
        if reply_to is None or not self.policy.allows(reply_to):
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
        if envelope.client_id != self.client_id:
            if isinstance(message, JSONRPCRequest):
                error = jsonrpc_error(
                    message.id,
                    INVALID_REQUEST,
                    f"{self.address} is served by a single-connection server that already carries another "
                    "client; serve it with asyncmcp.sqs.serve_sqs() or `asyncmcp serve` for many clients",
                )
                await self.answers.send_quietly(reply_to, envelope.client_id, error)
            delivery.ack()
            return
        self.reply_to = reply_to
        if not isinstance(message, JSONRPCRequest):
            await inbound.send(SessionMessage(message))
            delivery.ack()
            return
        key = (envelope.client_id or reply_to, coerce_request_id(message.id))
        if self.answers.kept(key):
            await self.answers.resend(key, delivery)  # answered before; only the answer was lost
            return
        route = self.routes.get(message.id)
        if route is not None:
            route.deliveries.append(delivery)  # redelivered while running
            return
        route = self.routes[message.id] = _Route(reply_to, key, [delivery])
        asked = envelope.keepalive_seconds
        if asked is not None and self.tasks is not None:
            self.tasks.start_soon(
                self.answers.keep_alive, reply_to, envelope.client_id, message.id, asked, route.keepalive
            )

        async def unanswered(request_id: RequestId = message.id) -> None:
            self.settle(request_id)

        async def close_stream(request_id: RequestId = message.id, target: str = reply_to) -> None:
            frame = close_stream_frame(self.client_id, request_id, group=target)
            await self.answers.send_notice(target, frame, request_id)

        facts = RequestFacts.of(self.address, delivery, envelope, reply_to)
        metadata = ServerMessageMetadata(
            request_context=facts,
            on_request_unanswered=unanswered,
            close_sse_stream=None if has_modern_envelope(message.params) else close_stream,
        )
        await inbound.send(SessionMessage(message, metadata))

    def settle(self, request_id: RequestId, *, done: bool = True) -> None:
        """Acknowledge a finished request, or hand it back for its kept answer to be re-sent."""
        route = self.routes.pop(request_id, None)
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
            route = self.routes.get(message.id) if message.id is not None else None
            target = route.reply_to if route else self.reply_to
            if target is None:
                return
            frame = reply_frame(message, self.client_id, group=target)
            if route is None or message.id is None:
                await self.answers.send_notice(target, frame, message.id or "?")
                return
            done = await self.answers.send_final(route.key, target, frame, message.id, self.client_id)
            self.settle(message.id, done=done)
            return
        related = item.metadata.related_request_id if isinstance(item.metadata, ServerMessageMetadata) else None
        route = self.routes.get(related) if related is not None else None
        target = route.reply_to if route else self.reply_to
        if target is not None:
            frame = reply_frame(message, self.client_id, group=target, related_request_id=related)
            await self.answers.send_notice(target, frame, related or "?")


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
