"""One receiver per reply address and process, shared by the connections that read it.

Two receivers of one process on one reply queue take each other's replies and hand them back
through the broker, so connections of a process that read one address should read it through one
`ReplyRouter`. `shared_receiver(key, open_router)` gives the receiver registered under `key`,
opening it on first use and closing it when its last user leaves. `connecting.connect()` keys it by
the config (`receiver_key`); anything that opens a router can share the same way.

A receiver runs in an asyncio task of its own: it outlives the connection that opened it while
others use it, and a task group (the router's, the channel's batcher) must be left by the task
that entered it. A receiver that stopped reading (its queue is gone) or is closing is never joined:
the next connection opens a new one.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio

from asyncmcp.channels.config import ClientSettings
from asyncmcp.client.config_keys import settings_key
from asyncmcp.client.replies import ReplyRouter
from asyncmcp.errors import ChannelError

__all__ = ["CLOSE_TIMEOUT_SECONDS", "OpenRouter", "receiver_key", "shared_receiver"]

logger = logging.getLogger(__name__)

OpenRouter = Callable[[], AbstractAsyncContextManager[ReplyRouter]]
"""Opens the receiver (channel, reply address, router) the first user needs."""

CLOSE_TIMEOUT_SECONDS = 10.0
"""How long the last user waits for the receiver to close (its wake frame ends the long poll)."""


class _Receiver:
    def __init__(self, key: Hashable, label: str) -> None:
        self.key = key
        self.label = label
        self.router: ReplyRouter | None = None
        self.error: Exception | None = None
        self.users = 0
        self.ready = anyio.Event()
        self.release = anyio.Event()
        self.task: asyncio.Task[None] | None = None

    def joinable(self, loop: asyncio.AbstractEventLoop) -> bool:
        task = self.task
        return (
            task is not None
            and not task.done()
            and task.get_loop() is loop
            and not self.release.is_set()
            and (self.router is None or self.router.failure is None)
        )

    async def serve(self, open_router: OpenRouter) -> None:
        try:
            async with open_router() as router:
                self.router = router
                self.ready.set()
                await self.release.wait()
        except Exception as exc:
            self.error = exc  # opening failed: the waiting users raise it
            if self.router is not None:  # a failing queue was reported to its clients (router.failure)
                logger.warning("the shared receiver of %s stopped: %s", self.label, exc)
        finally:
            if _RECEIVERS.get(self.key) is self:
                del _RECEIVERS[self.key]
            self.ready.set()

    def failure(self) -> Exception:
        """What a user waiting for a receiver that never opened raises: its own copy of the error
        (one exception object raised in several tasks would gather all their tracebacks)."""
        error = self.error
        if error is None:
            return ChannelError(f"the receiver of {self.label} stopped before it opened")
        try:
            own = copy.copy(error)
        except Exception:  # an exception type that cannot be rebuilt from its args
            return error
        own.__cause__ = error
        return own


_RECEIVERS: dict[Hashable, _Receiver] = {}
"""The receivers of this process by key (whose first part is the event loop's identity)."""


def receiver_key(config: ClientSettings) -> Hashable | None:
    """Which receiver a connection from `config` shares: that of every config equal to it but for
    `config_keys.PER_CONNECTION_FIELDS`, on this event loop. None: it opens its own (no named reply address, or
    not on asyncio)."""
    if config.named_reply_address is None:
        return None
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    key = settings_key(config)
    return None if key is None else (id(loop), key)


@asynccontextmanager
async def shared_receiver(key: Hashable, open_router: OpenRouter, *, label: str) -> AsyncIterator[ReplyRouter]:
    """The receiver registered under `key`, opened with `open_router` by its first user and closed
    when its last user leaves; `label` names it in errors (the reply address)."""
    loop = asyncio.get_running_loop()
    receiver = _RECEIVERS.get(key)
    if receiver is None or not receiver.joinable(loop):
        receiver = _RECEIVERS[key] = _Receiver(key, label)
        receiver.task = loop.create_task(receiver.serve(open_router))
    receiver.users += 1
    try:
        await receiver.ready.wait()
        if receiver.router is None:
            raise receiver.failure()
        yield receiver.router
    finally:
        receiver.users -= 1
        if receiver.users == 0:
            if _RECEIVERS.get(key) is receiver:
                del _RECEIVERS[key]
            receiver.release.set()
            task = receiver.task
            if task is not None:
                if not receiver.ready.is_set():
                    task.cancel()  # the last user gave up waiting: stop opening
                with anyio.CancelScope(shield=True):
                    await asyncio.wait([task], timeout=CLOSE_TIMEOUT_SECONDS)
