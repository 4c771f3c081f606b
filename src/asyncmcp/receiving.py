"""What every receiver does with the channel, written once: poll with backoff, open each frame,
hand back what belongs to someone else, stop without losing a frame.

The server engine, the single-connection server and the client's reply router all poll an
address back to back and turn deliveries into JSON-RPC messages; the rules (wake frames are
consumed silently, undecodable bodies become the JSON-RPC error to answer with, a failing broker
is retried with capped backoff, a missing queue is fatal, a stray frame is offered back a bounded
number of times) live here, and each asks the channel's `Capabilities` rather than assuming a broker.

On a channel whose abandoned receives stay open at the broker (`Capabilities.wake_frames`: SQS),
closing receivers end their own long poll with a wake frame instead of abandoning it: an abandoned
poll may take the next message and hide it for a whole visibility timeout. Several receivers may
share a queue, so each wake names its sender's token and the others hand it back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import anyio
import anyio.lowlevel
from mcp_types import JSONRPCError, JSONRPCMessage

from asyncmcp.channels.base import Channel, Delivery
from asyncmcp.codec import CONTROL_WAKE, Envelope, FrameDecodeError, decode_frame, jsonrpc_error, wake_frame
from asyncmcp.errors import AddressNotFoundError, ChannelError

__all__ = [
    "HANDBACK_FREE_RECEIVES",
    "HANDBACK_MAX_RECEIVES",
    "HANDBACK_TTL_SECONDS",
    "STOP_WAKE_GRACE",
    "YIELDS_BEFORE_POLL",
    "Opened",
    "Poller",
    "hand_back",
    "handback_delay",
    "open_delivery",
    "send_wake",
    "settle_wake",
]

logger = logging.getLogger(__name__)

BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0
"""Pause between receive attempts while the broker keeps failing: doubles from the first to the max."""


WAKE_ON_CANCEL_TIMEOUT = 1.0
"""Bound on sending the wake frame of a cancelled poll (it normally takes one send)."""

YIELDS_BEFORE_POLL = 64
"""Before its first poll and after a poll that returned frames, a poller lets the event loop run
up to this many rounds of other ready work before it builds the next receive.

Building a receive costs the broker client one to two milliseconds of CPU on this event loop
(signing, the request, its connection), and the work that is ready at those moments is waiting for
that same loop: a new client's first request, the handlers of the frames just received, a client's
answer and the next call it makes right away. Each round lets every task that is ready take one
step, so a chain of steps (frame, session, user code, the next send) reaches the broker first; when
nothing else is ready the rounds cost well under a millisecond (each is one pass of the loop).
Nothing is lost meanwhile: a frame that arrives in the gap is taken by the next poll at once."""

YIELD_BUDGET_SECONDS = 0.02
"""Bound on that wait when the loop stays busy (many sessions): the poll is never held up longer."""

WAKE_TTL_SECONDS = 10.0
"""A wake frame older than this has outlived the receiver that sent it and is deleted by anyone."""

STOP_WAKE_GRACE = 2.0
"""On a graceful stop, how long to wait for our own wake frame to end the outstanding long poll
before cancelling it. A cancelled poll may still take one message at the broker and hide it for a
visibility timeout; when another receiver takes the wake first it hands it back, which a long poll
may notice only a moment later."""

HANDBACK_TTL_SECONDS = 900.0
"""A frame meant for another receiver that nobody claimed for this long belongs to a receiver that
is gone (a handler that finished, a client that closed); it is dropped instead of offered again."""


def settle_wake(delivery: Delivery, envelope: Envelope, own_token: str) -> None:
    """Delete our own wake frame; hand another receiver's back to the queue so it reaches its owner."""
    mine = envelope.client_id == own_token
    if mine or delivery.age_seconds > WAKE_TTL_SECONDS or delivery.receive_count >= HANDBACK_MAX_RECEIVES:
        delivery.ack()
    else:
        delivery.release(0)


async def send_wake(channel: Channel, address: str, token: str) -> ChannelError | None:
    """Ask our own outstanding long poll on `address` to return (best effort); the refusal, if any."""
    try:
        await channel.send(address, wake_frame(token), urgent=True)
    except ChannelError as exc:
        return exc
    return None


HANDBACK_FREE_RECEIVES = 20
"""A frame meant for another receiver is handed back at once for its first this many receives: with
N receivers on an address it reaches its owner after about N of them (more on moto, whose long polls
do not share a released message fairly)."""

HANDBACK_MAX_RECEIVES = 40
"""A frame received this often without reaching its owner is dropped, so what any stray frame (an
answer nobody waits for, a cancel for a request nobody runs, a forged one) can cost is bounded: 40
receives and 39 visibility changes, and it stops circulating within about four minutes. A frame for
one of P receivers misses it with probability (1 - 1/P)^40: about 1e-5 for P = 4, 0.5% for P = 8
(docs/operations.md: share a reply queue among few receivers)."""

HANDBACK_MAX_DELAY_SECONDS = 30
"""Longest pause before a stray frame is offered again."""


def handback_delay(delivery: Delivery) -> int:
    """Seconds before a frame meant for another receiver is offered again: at once for its first
    `HANDBACK_FREE_RECEIVES` receives, then one more second for each further receive.

    A frame that its owner has not taken after a few offers belongs to a receiver that is busy or
    gone; the growing pause keeps it from costing a receive and a visibility change on every poll
    until it is dropped.
    """
    excess = delivery.receive_count - HANDBACK_FREE_RECEIVES
    return 0 if excess <= 0 else min(excess, HANDBACK_MAX_DELAY_SECONDS)


def hand_back(delivery: Delivery, channel: Channel, *, min_delay: float = 0) -> bool:
    """Offer a frame meant for another receiver of the address back to the channel; False when dropped.

    Callers hand back only what can belong to another live receiver (a frame that cannot is simply
    acknowledged). It is dropped (acknowledged) on its `HANDBACK_MAX_RECEIVES`-th receive, once it is
    older than `HANDBACK_TTL_SECONDS`, and at once on a channel where nobody else can take it (no
    redelivery, or one receiver per address).
    """
    capabilities = channel.capabilities
    if (
        not (capabilities.redelivers and capabilities.shared_addresses)
        or delivery.receive_count >= HANDBACK_MAX_RECEIVES
        or delivery.age_seconds > HANDBACK_TTL_SECONDS
    ):
        delivery.ack()
        return False
    delivery.release(max(min_delay, handback_delay(delivery)))
    return True


async def _let_ready_work_run() -> None:
    """Give the loop up to `YIELDS_BEFORE_POLL` rounds of other ready work (`YIELD_BUDGET_SECONDS` at most)."""
    deadline = anyio.current_time() + YIELD_BUDGET_SECONDS
    for _ in range(YIELDS_BEFORE_POLL):
        await anyio.lowlevel.checkpoint()
        if anyio.current_time() >= deadline:
            return


class Poller:
    """Receives from one address; transient broker failures are logged and retried with backoff.

    On a channel with `wake_frames`, when cancelled in the middle of a long poll it sends a wake
    frame (shielded, bounded) before letting the cancellation through: the poll it abandons is still
    open at the broker and takes the next message, so it had better be that wake than a request or
    another client's reply. `wake_token=None` skips this, for queues about to be deleted.
    """

    def __init__(self, channel: Channel, address: str, *, wake_token: str | None) -> None:
        self.channel = channel
        self.address = address
        self.wake_token = wake_token if channel.capabilities.wake_frames else None
        self._backoff = 0.0
        self._polls = 0
        self._woken_poll = -1
        self._last_batch_empty = True
        self._wake_refusal_logged = False

    async def wake(self) -> None:
        """End the outstanding poll with a wake frame; a cancelled poll then sends no second one."""
        if self.wake_token is not None and self._woken_poll != self._polls:
            self._woken_poll = self._polls
            refused = await send_wake(self.channel, self.address, self.wake_token)
            if refused is not None and not self._wake_refusal_logged:
                # Once per receiver: a missing permission would otherwise be logged on every stop.
                self._wake_refusal_logged = True
                logger.warning(
                    "could not end the long poll on %s with a wake frame (the receiver needs permission to "
                    "send to the address it reads); a message may stay hidden for a visibility timeout: %s",
                    self.address,
                    refused,
                )

    async def stop(self, finished: anyio.Event) -> None:
        """End the outstanding poll gracefully before the caller cancels it: send the wake frame and
        wait, up to `STOP_WAKE_GRACE`, for the receiving loop to report `finished`."""
        if self.wake_token is None:
            return
        with anyio.move_on_after(STOP_WAKE_GRACE, shield=True):
            await self.wake()
            await finished.wait()

    async def next_batch(self, max_frames: int) -> Sequence[Delivery]:
        """One successful receive (maybe empty). Raises `AddressNotFoundError` if the queue is gone."""
        if self._polls == 0 or not self._last_batch_empty:
            await _let_ready_work_run()
        while True:
            self._polls += 1
            try:
                deliveries = await self.channel.receive(self.address, max_frames)
            except anyio.get_cancelled_exc_class():
                # If a wake was already sent for this poll, the poll (or, handed back, the abandoned
                # poll) will take that one.
                with anyio.move_on_after(WAKE_ON_CANCEL_TIMEOUT, shield=True):
                    await self.wake()
                raise
            except AddressNotFoundError:
                raise
            except ChannelError as exc:
                self._backoff = min(BACKOFF_MAX, self._backoff * 2 or BACKOFF_FIRST)
                logger.warning("receive from %s failed, retrying in %.1fs: %s", self.address, self._backoff, exc)
                await anyio.sleep(self._backoff)
                continue
            self._backoff = 0.0
            self._last_batch_empty = not deliveries
            return deliveries


@dataclass(frozen=True)
class Opened:
    """A received frame: its routing facts and either its message or the error to answer with."""

    envelope: Envelope
    message: JSONRPCMessage | None
    error: JSONRPCError | None


def open_delivery(delivery: Delivery, wake_token: str) -> Opened | None:
    """Decode a delivery; a wake frame is settled here (`settle_wake`) and yields None."""
    envelope = Envelope.from_attributes(delivery.frame.attributes)
    if envelope.control == CONTROL_WAKE:
        settle_wake(delivery, envelope, wake_token)
        return None
    try:
        return Opened(envelope, decode_frame(delivery.frame), None)
    except FrameDecodeError as exc:
        logger.warning("undecodable message from client %s: %s", envelope.client_id or "?", exc)
        return Opened(envelope, None, jsonrpc_error(exc.request_id, exc.code, str(exc)))
