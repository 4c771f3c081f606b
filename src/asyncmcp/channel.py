"""The seam between the MCP engine and a concrete channel (SQS, SNS+SQS, webhook, ...).

The server engine and the client transport speak only these Protocols; a channel is the only
code that calls AWS or HTTP. Adding a broker means one new module implementing `Channel`,
nothing else. Addresses are plain strings in the channel's own vocabulary (a queue URL, a
topic ARN, an HTTPS URL).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from asyncmcp.codec import Frame

__all__ = ["Channel", "Delivery", "ReplyPolicy"]


class Delivery(Protocol):
    """One received frame, held by the channel until it is acknowledged or released.

    While held, the channel keeps it from being handed to anyone else (SQS: a visibility
    heartbeat), so a long handler never races a second worker for the same request.
    """

    @property
    def frame(self) -> Frame: ...

    @property
    def receive_count(self) -> int:
        """How many times the broker has handed this message out (1 on first delivery)."""
        ...

    @property
    def age_seconds(self) -> float:
        """Seconds since the frame was first sent, as the broker reports it (0 if unknown)."""
        ...

    def ack(self) -> None:
        """Done with it: remove it from the channel. Never blocks; the channel batches the work."""
        ...

    def release(self, delay_seconds: float | None = 0.0) -> None:
        """Give it back so any consumer may take it after `delay_seconds`.

        `None` stops holding it without touching the broker: it reappears when its current
        visibility lapses, and counts toward the queue's redrive policy.
        """
        ...


class ReplyPolicy(Protocol):
    """Which reply addresses a server may send to; the operator's guard against confused deputies."""

    def allows(self, address: str) -> bool: ...

    def describe(self) -> str:
        """A one-line description of the rule, for the error a refused client sees in the log."""
        ...


class Channel(Protocol):
    """Moves frames between addresses. Implementations must never block the event loop."""

    async def send(self, address: str, frame: Frame, *, urgent: bool = False) -> None:
        """Send one frame; returns once the broker accepted it.

        Raises `FrameTooLargeError` when the frame exceeds the destination's limit and
        `ChannelError` (or a subclass) when the broker refuses it. Frames submitted concurrently
        to the same address may be sent in one batched call; `urgent` sends from the caller's own
        task instead (used while shutting down, when batching tasks may already be cancelled).
        """
        ...

    async def receive(self, address: str, max_frames: int) -> Sequence[Delivery]:
        """One receive call: waits for frames (long poll) and returns up to `max_frames`, maybe none."""
        ...

    async def create_reply_address(self, name_hint: str) -> str:
        """Create a private reply address for one client; deleted with `delete_reply_address`."""
        ...

    async def delete_reply_address(self, address: str) -> None: ...

    def max_frame_size(self, address: str) -> int:
        """Largest frame, attributes included, that `address` accepts."""
        ...
