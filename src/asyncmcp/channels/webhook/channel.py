"""The webhook channel: frames arrive as signed POSTs, frames leave as signed POSTs.

A *push* channel: nothing holds a received frame or hands it out again, so it declares so
(`WEBHOOK_CAPABILITIES`) and the engine takes the push path (answers retried in place, nothing
handed back, no dead-lettering). Received frames wait in a bounded inbox between the HTTP ingress
(`ingress.py`) and whoever receives (the engine, a client's reply router); a full inbox answers 503
so the sender retries. A received frame is gone from the channel once taken: a server that dies
loses the requests it held (use a queue behind the ingress for durability: `QueuedWebhookChannel`).

`QueuedWebhookChannel` is that durable variant: the ingress puts each request on an SQS queue
before answering 202 and the engine receives from the queue, with SQS's at-least-once delivery,
while answers still go out by webhook.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from asyncmcp.channels.base import Capabilities, Channel, Delivery
from asyncmcp.channels.webhook.delivery import WebhookSender
from asyncmcp.channels.webhook.ingress import Backpressure
from asyncmcp.codec import Frame, utf8_length
from asyncmcp.errors import AddressNotFoundError

__all__ = ["WEBHOOK_CAPABILITIES", "QueuedWebhookChannel", "WebhookChannel", "WebhookDelivery"]

INBOX_SIZE = 1024
"""Frames received and not yet taken; past that the ingress answers 503 and the sender retries."""

WEBHOOK_CAPABILITIES = Capabilities(
    redelivers=False,
    delayed_release=False,
    holds_deliveries=False,
    dead_letter=False,
    wake_frames=False,
    shared_addresses=False,
)


@dataclass(eq=False)
class WebhookDelivery:
    """A frame that arrived by POST; acknowledging or releasing it changes nothing (it was pushed)."""

    frame: Frame
    received_at: float
    receive_count: int = 1

    @property
    def age_seconds(self) -> float:
        return max(0.0, time.monotonic() - self.received_at)

    def ack(self) -> None:
        return None

    def release(self, delay_seconds: float | None = 0.0) -> None:
        return None  # nothing redelivers a pushed frame: the engine never relies on this here


class WebhookChannel:
    """`Channel` over webhooks: `send` POSTs to a URL, `receive` takes what the ingress received."""

    def __init__(self, sender: WebhookSender, address: str, *, wait_seconds: float = 5.0) -> None:
        self.sender = sender
        self.address = address
        """What this channel receives on: its ingress's inbox (a server's URL, a client's receive address)."""
        self._wait = wait_seconds
        send_end, receive_end = anyio.create_memory_object_stream[Frame](INBOX_SIZE)
        self._inbox: MemoryObjectSendStream[Frame] = send_end
        self._taken: MemoryObjectReceiveStream[Frame] = receive_end
        self._received = 0

    @property
    def capabilities(self) -> Capabilities:
        return WEBHOOK_CAPABILITIES

    @property
    def calls(self) -> Counter[str]:
        return self.sender.calls + Counter({"received": self._received})

    def frame_size(self, frame: Frame) -> int:
        return utf8_length(frame.body)  # attributes travel as headers, outside the body limit

    def max_frame_size(self, address: str) -> int:
        return self.sender.max_frame_bytes

    async def send(self, address: str, frame: Frame, *, urgent: bool = False) -> None:
        await self.sender.send(address, frame, webhook_id=f"msg_{uuid.uuid4().hex}")

    async def sink(self, frame: Frame) -> None:
        """Where the ingress puts what it received (raises `Backpressure` when the inbox is full)."""
        try:
            self._inbox.send_nowait(frame)
        except anyio.WouldBlock:
            raise Backpressure from None
        self._received += 1

    async def receive(self, address: str, max_frames: int) -> Sequence[Delivery]:
        if address != self.address:
            raise AddressNotFoundError(
                f"this webhook channel receives on {self.address}, not {address}", address=address
            )
        frames: list[Frame] = []
        with anyio.move_on_after(self._wait):
            frames.append(await self._taken.receive())
        while frames and len(frames) < max_frames:
            try:
                frames.append(self._taken.receive_nowait())
            except anyio.WouldBlock:
                break
        now = time.monotonic()
        return [WebhookDelivery(frame, now) for frame in frames]


class QueuedWebhookChannel:
    """Requests through a queue (durable), answers by webhook: receive/hold/ack are the queue's."""

    def __init__(self, queue: Channel, queue_address: str, sender: WebhookSender) -> None:
        self.queue = queue
        self.queue_address = queue_address
        self.sender = sender

    @property
    def capabilities(self) -> Capabilities:
        return self.queue.capabilities

    @property
    def calls(self) -> Counter[str]:
        return self.queue.calls + self.sender.calls

    def frame_size(self, frame: Frame) -> int:
        return self.queue.frame_size(frame)

    def max_frame_size(self, address: str) -> int:
        return self.queue.max_frame_size(address) if address == self.queue_address else self.sender.max_frame_bytes

    async def send(self, address: str, frame: Frame, *, urgent: bool = False) -> None:
        if address == self.queue_address:
            await self.queue.send(address, frame, urgent=urgent)  # a receiver's own wake frame
        else:
            await self.sender.send(address, frame, webhook_id=f"msg_{uuid.uuid4().hex}")

    async def sink(self, frame: Frame) -> None:
        """The ingress enqueues each request before it answers 202."""
        await self.queue.send(self.queue_address, frame)

    async def receive(self, address: str, max_frames: int) -> Sequence[Delivery]:
        return await self.queue.receive(address, max_frames)
