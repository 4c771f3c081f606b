"""A single-connection server entry: the stream pair of the original asyncmcp API.

`async with sqs_server(config, client) as (read, write): await app.run(read, write, opts)` hands
the SDK one stream pair, which the SDK locks to one client and one protocol era. That is the
documented quick start, so it works, with the same delivery guarantees as the engine (a request
is acknowledged after its answer went out, held while it runs). It serves one client: a second
client id gets an error that points at the multi-client entry (`serve_sqs` / `asyncmcp serve`),
never a reply mixed into another client's session.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import anyio.abc
from mcp.shared.message import ServerMessageMetadata, SessionMessage
from mcp.types import ErrorData, JSONRPCError, JSONRPCMessage, JSONRPCRequest, JSONRPCResponse, RequestId
from mcp_types import INVALID_REQUEST

from asyncmcp.channel import Channel, Delivery, ReplyPolicy
from asyncmcp.codec import (
    ATTR_CLIENT_ID,
    Frame,
    encode_message,
    seed_reply_address,
)
from asyncmcp.errors import ChannelError, FrameTooLargeError
from asyncmcp.receiving import Poller, open_delivery
from asyncmcp.server.engine import RequestFacts

__all__ = ["serve_stream_pair"]

logger = logging.getLogger(__name__)

HAND_BACK_DELAY = 5
"""Seconds before a request whose answer the broker would not take is delivered again."""


@dataclass
class _Route:
    reply_to: str
    deliveries: list[Delivery] = field(default_factory=list[Delivery])


class _Connection:
    def __init__(self, channel: Channel, address: str, policy: ReplyPolicy, delete_bad: bool, max_batch: int) -> None:
        self.channel = channel
        self.max_batch = max_batch
        self.address = address
        self.policy = policy
        self.delete_bad = delete_bad
        self.client_id: str | None = None
        self.reply_to: str | None = None
        self.routes: dict[RequestId, _Route] = {}
        self.wake_token = uuid.uuid4().hex

    def dispose(self, delivery: Delivery) -> None:
        if self.delete_bad:
            delivery.ack()
        else:
            delivery.release(None)

    async def send(self, reply_to: str, message: JSONRPCMessage, client_id: str | None) -> bool:
        """Send; False when the broker failed transiently (the request should be handed back)."""
        attributes = {ATTR_CLIENT_ID: client_id} if client_id else {}
        try:
            await self.channel.send(reply_to, Frame(encode_message(message), attributes, ordering_key=client_id))
        except FrameTooLargeError as exc:
            if isinstance(message, JSONRPCResponse | JSONRPCError):
                error = ErrorData(code=-32603, message=str(exc), data={"size": exc.size, "limit": exc.limit})
                return await self.send(reply_to, JSONRPCError(jsonrpc="2.0", id=message.id, error=error), client_id)
        except ChannelError as exc:
            logger.error("could not send to %s: %s", reply_to, exc)
            return exc.permanent
        return True

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
                await self.send(envelope.reply_to, opened.error, envelope.client_id)
            self.dispose(delivery)
            return
        reply_to = envelope.reply_to
        if reply_to is None and isinstance(message, JSONRPCRequest) and message.method == "initialize":
            reply_to = seed_reply_address(message.params)
        reply_to = reply_to or self.reply_to
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
                error = ErrorData(
                    code=INVALID_REQUEST,
                    message=f"{self.address} is served by a single-connection server that already carries another "
                    "client; serve it with asyncmcp.sqs.serve_sqs() or `asyncmcp serve` for many clients",
                )
                await self.send(reply_to, JSONRPCError(jsonrpc="2.0", id=message.id, error=error), envelope.client_id)
            delivery.ack()
            return
        self.reply_to = reply_to
        if isinstance(message, JSONRPCRequest):
            route = self.routes.get(message.id)
            if route is not None:
                route.deliveries.append(delivery)  # redelivered while running
                return
            route = self.routes[message.id] = _Route(reply_to, [delivery])
            facts = RequestFacts(
                self.address,
                envelope.client_id,
                reply_to,
                envelope.session_id,
                dict(delivery.frame.attributes),
                delivery.receive_count,
            )

            async def unanswered(request_id: RequestId = message.id) -> None:
                self.settle(request_id)

            metadata = ServerMessageMetadata(request_context=facts, on_request_unanswered=unanswered)
            await inbound.send(SessionMessage(message, metadata))
        else:
            await inbound.send(SessionMessage(message))
            delivery.ack()

    def settle(self, request_id: RequestId) -> None:
        route = self.routes.pop(request_id, None)
        for delivery in route.deliveries if route else ():
            delivery.ack()

    def hand_back(self, request_id: RequestId) -> None:
        route = self.routes.pop(request_id, None)
        for delivery in route.deliveries if route else ():
            delivery.release(HAND_BACK_DELAY)

    async def forward(self, outbound: anyio.abc.ObjectReceiveStream[SessionMessage]) -> None:
        async with outbound:
            async for item in outbound:
                message = item.message
                if isinstance(message, JSONRPCResponse | JSONRPCError):
                    route = self.routes.get(message.id) if message.id is not None else None
                    target = route.reply_to if route else self.reply_to
                    sent = target is None or await self.send(target, message, self.client_id)
                    if message.id is not None:
                        if sent:
                            self.settle(message.id)
                        else:
                            self.hand_back(message.id)  # redelivered: this mode re-runs the request
                    continue
                related = item.metadata.related_request_id if isinstance(item.metadata, ServerMessageMetadata) else None
                route = self.routes.get(related) if related is not None else None
                target = route.reply_to if route else self.reply_to
                if target is not None:
                    await self.send(target, message, self.client_id)


@asynccontextmanager
async def serve_stream_pair(
    channel: Channel, address: str, *, policy: ReplyPolicy, delete_bad_messages: bool = True, max_batch: int = 10
) -> AsyncIterator[
    tuple[anyio.abc.ObjectReceiveStream[SessionMessage | Exception], anyio.abc.ObjectSendStream[SessionMessage]]
]:
    """Yield the `(read, write)` pair of one server connection fed from `address`."""
    connection = _Connection(channel, address, policy, delete_bad_messages, max_batch)
    read_send, read_receive = anyio.create_memory_object_stream[SessionMessage | Exception](64)
    write_send, write_receive = anyio.create_memory_object_stream[SessionMessage](64)
    async with anyio.create_task_group() as tg:

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
