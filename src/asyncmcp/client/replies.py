"""A receiver for one reply address that many client transports can share.

Many clients may share one reply queue (the proxy puts hundreds of sessions on one). Every reply
carries its client's id; a `ReplyRouter` reads the queue once and hands each frame to its client.
Clients of one process should share one router (pass it to each transport): one long poll
serves them all and every receive returns up to ten replies. A frame for a client this router
does not know may belong to another process sharing the queue and is handed back (at once for its
first few receives, then backing off, `receiving.hand_back`); a frame for a client that closed
here, one on a private queue (nobody else reads it), or one received
`receiving.HANDBACK_MAX_RECEIVES` times is deleted, so a stray frame cannot circulate.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import anyio
import anyio.abc

from asyncmcp.channels.base import Channel, ClientBinding, Delivery
from asyncmcp.codec import CONTROL_WAKE, SEED_REPLY_META_KEY, Envelope
from asyncmcp.errors import AddressNotFoundError
from asyncmcp.expiring import ExpiringSet
from asyncmcp.receiving import HANDBACK_TTL_SECONDS, Poller, hand_back, settle_wake

__all__ = ["ReplyRouter"]

logger = logging.getLogger(__name__)

ReplyHandler = Callable[[Delivery, Envelope], None]
"""Called for each frame of a registered client; must not block (it hands the frame on)."""
FailureHandler = Callable[[Exception], None]

HANDBACK_YIELD_SECONDS = 0.2
"""After handing frames back, how long this router waits before polling again, so that another
receiver's poll, already waiting, takes them: a poll made at once wins the race for the frame it
just released (on moto, with four routers on one queue, replies bounced up to 60 times before
reaching their router; with this pause at most a dozen)."""


class ReplyRouter:
    """Reads `address` and dispatches each frame to the registered client it names.

    Use as `async with ReplyRouter(channel, address) as router`. `private=True` marks a queue only
    one client reads (a temporary queue): closing then simply cancels the poll. `reply_to` is what
    clients name as their reply address (`address` unless the channel feeds `address` from another,
    as SNS feeds a queue from a topic).
    """

    def __init__(
        self,
        channel: Channel,
        address: str,
        *,
        reply_to: str | None = None,
        private: bool = False,
        max_frames: int = 10,
    ) -> None:
        self.channel = channel
        self.address = address
        self.reply_to: str | None = reply_to or address
        """What clients name as their reply address; None: none (the server answers at its default)."""
        self.handshake_meta_key = SEED_REPLY_META_KEY
        self.own_clients = False
        """Opened with broker clients of the caller's own (`open_binding`): connections that send
        through it use their credentials, not those of the config they connect with."""
        self.private = private
        self.max_frames = max_frames
        self.failure: Exception | None = None
        """Why the router stopped reading (its queue is gone), or None while it reads."""
        self._clients: dict[str, tuple[ReplyHandler, FailureHandler]] = {}
        self._closed_clients = ExpiringSet(HANDBACK_TTL_SECONDS, 10_000)
        self._tg: anyio.abc.TaskGroup | None = None
        self._stopping = False
        self._stopped = anyio.Event()
        self._wake_token = uuid.uuid4().hex
        self._poller = Poller(channel, address, wake_token=None if private else self._wake_token)

    @classmethod
    def for_binding(cls, binding: ClientBinding, *, max_frames: int = 10) -> ReplyRouter:
        """The router of a client binding's reply address."""
        router = cls(binding.channel, binding.receive_address, private=binding.private, max_frames=max_frames)
        router.reply_to = binding.reply_to
        router.handshake_meta_key = binding.handshake_meta_key
        return router

    def register(self, client_id: str, on_frame: ReplyHandler, on_failure: FailureHandler) -> None:
        if client_id in self._clients:
            raise ValueError(f"client id {client_id!r} is already reading {self.address}; client ids must be unique")
        self._clients[client_id] = (on_frame, on_failure)

    def unregister(self, client_id: str) -> None:
        if self._clients.pop(client_id, None) is not None:
            self._closed_clients.add(client_id)

    async def __aenter__(self) -> ReplyRouter:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._run)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._tg is not None
        self._stopping = True
        await self._poller.stop(self._stopped)
        self._tg.cancel_scope.cancel()
        await self._tg.__aexit__(None, None, None)

    async def _run(self) -> None:
        poller = self._poller
        try:
            while not self._stopping:
                try:
                    deliveries = await poller.next_batch(self.max_frames)
                except AddressNotFoundError as exc:
                    logger.error("reply address %s is gone: %s", self.address, exc)
                    self.failure = exc
                    for _, on_failure in list(self._clients.values()):
                        on_failure(exc)
                    return
                handed_back = [self._dispatch(delivery) for delivery in deliveries]
                if any(handed_back):
                    # Let the other receivers of the queue, already waiting, take what we handed back
                    # before our own next poll does (it would win the race and take it again).
                    await anyio.sleep(HANDBACK_YIELD_SECONDS)
        finally:
            self._stopped.set()

    def _dispatch(self, delivery: Delivery) -> bool:
        """Hand a frame to its client; True when it was handed back for another receiver."""
        envelope = Envelope.from_attributes(delivery.frame.attributes)
        if envelope.control == CONTROL_WAKE:
            settle_wake(delivery, envelope, self._wake_token)
            return False
        entry = self._clients.get(envelope.client_id or "")
        if entry is None and envelope.client_id is None and self.private and len(self._clients) == 1:
            entry = next(iter(self._clients.values()))  # an unlabelled reply on a private queue
        if entry is not None:
            entry[0](delivery, envelope)
        elif self.private or envelope.client_id in self._closed_clients:
            delivery.ack()  # nobody else reads a private queue; a closed client waits for nothing
        else:
            # Another process's client shares this queue; hand it back, backing off if nobody takes it.
            return hand_back(delivery, self.channel)
        return False
