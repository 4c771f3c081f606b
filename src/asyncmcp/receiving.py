"""What every receiver does with the channel, written once: poll with backoff, open each frame.

The server engine, the single-connection server and the client's reply router all poll an
address back to back and turn deliveries into JSON-RPC messages; the rules (wake frames are
consumed silently, undecodable bodies become the JSON-RPC error to answer with, a failing broker
is retried with capped backoff, a missing queue is fatal) live here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import anyio
from mcp.types import ErrorData, JSONRPCError, JSONRPCMessage

from asyncmcp.channel import Channel, Delivery
from asyncmcp.codec import CONTROL_WAKE, Envelope, FrameDecodeError, decode_message
from asyncmcp.errors import AddressNotFoundError, ChannelError

__all__ = ["Opened", "Poller", "open_delivery"]

logger = logging.getLogger(__name__)

BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0
"""Pause between receive attempts while the broker keeps failing: doubles from the first to the max."""


class Poller:
    """Receives from one address; transient broker failures are logged and retried with backoff."""

    def __init__(self, channel: Channel, address: str) -> None:
        self.channel = channel
        self.address = address
        self._backoff = 0.0

    async def next_batch(self, max_frames: int) -> Sequence[Delivery]:
        """One successful receive (maybe empty). Raises `AddressNotFoundError` if the queue is gone."""
        while True:
            try:
                deliveries = await self.channel.receive(self.address, max_frames)
            except AddressNotFoundError:
                raise
            except ChannelError as exc:
                self._backoff = min(BACKOFF_MAX, self._backoff * 2 or BACKOFF_FIRST)
                logger.warning("receive from %s failed, retrying in %.1fs: %s", self.address, self._backoff, exc)
                await anyio.sleep(self._backoff)
                continue
            self._backoff = 0.0
            return deliveries


@dataclass(frozen=True)
class Opened:
    """A received frame: its routing facts and either its message or the error to answer with."""

    envelope: Envelope
    message: JSONRPCMessage | None
    error: JSONRPCError | None


def open_delivery(delivery: Delivery) -> Opened | None:
    """Decode a delivery; a wake frame is acknowledged and yields None."""
    envelope = Envelope.from_attributes(delivery.frame.attributes)
    if envelope.control == CONTROL_WAKE:
        delivery.ack()
        return None
    try:
        return Opened(envelope, decode_message(delivery.frame.body), None)
    except FrameDecodeError as exc:
        logger.warning("undecodable message from client %s: %s", envelope.client_id or "?", exc)
        error = JSONRPCError(jsonrpc="2.0", id=exc.request_id, error=ErrorData(code=exc.code, message=str(exc)))
        return Opened(envelope, None, error)
