"""Connecting a client to a server on any channel: the one assembly every client face uses.

`connect(config)` opens the channel the config belongs to (`channels.registry`), its reply address
(a temporary one when the config names none) and the client transport, and yields the SDK's
`(read, write)` pair, which `mcp.Client` also accepts as a transport. Many clients of one process
should share one receiver, and do: connections opened from equal configs that name a reply address
(`ClientSettings.named_reply_address`) read it through one receiver of the process, opened by the
first and closed with the last (two receivers of one process on one queue would take each other's
replies and hand them back through the broker). `shared_replies(config)` opens a receiver
explicitly, for `connect(config, replies=router)` with any config. The seed-named modules
(`asyncmcp.sqs`), the proxy's backend and the benchmark all come through here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Hashable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import anyio.abc
from mcp.shared.message import SessionMessage

from asyncmcp.channels import registry
from asyncmcp.channels.base import ClientBinding
from asyncmcp.channels.config import ClientSettings
from asyncmcp.client.replies import ReplyRouter
from asyncmcp.client.transport import client_streams

__all__ = ["connect", "open_binding", "shared_replies"]

logger = logging.getLogger(__name__)

Streams = tuple[anyio.abc.ObjectReceiveStream[SessionMessage | Exception], anyio.abc.ObjectSendStream[SessionMessage]]


def _given(clients: Mapping[str, Any] | None) -> dict[str, Any]:
    return {name: client for name, client in (clients or {}).items() if client is not None}


@asynccontextmanager
async def open_binding(
    config: ClientSettings, clients: Mapping[str, Any] | None = None, *, purpose: str = "reply"
) -> AsyncIterator[tuple[ClientBinding, ReplyRouter]]:
    """The channel of `config` with the receiver of its reply address (the proxy keeps the binding
    for readiness checks)."""
    transport = registry.for_config(config)
    async with (
        transport.open_client(config, _given(clients), purpose=purpose) as binding,
        ReplyRouter.for_binding(binding, max_frames=config.max_messages) as router,
    ):
        yield binding, router


@asynccontextmanager
async def shared_replies(
    config: ClientSettings, clients: Mapping[str, Any] | None = None
) -> AsyncIterator[ReplyRouter]:
    """One receiver on `config`'s reply address, for every `connect(..., replies=router)` of this process."""
    async with open_binding(config, clients) as (_, router):
        yield router


@asynccontextmanager
async def connect(
    config: ClientSettings, clients: Mapping[str, Any] | None = None, *, replies: ReplyRouter | None = None
) -> AsyncIterator[Streams]:
    """Connect to the server of `config`; yields the SDK's `(read, write)` streams.

    With `replies` (from `shared_replies`) the client reads through that shared receiver and the
    config's own reply address is ignored; otherwise its reply address is opened for this client.
    """
    transport = registry.for_config(config)
    if transport.serves_mcp:
        async with transport.connect_mcp(config, _given(clients)) as streams:
            yield streams
        return
    async with AsyncExitStack() as stack:
        if replies is None:
            replies = await stack.enter_async_context(_receiver_of(config, clients))
        streams = await stack.enter_async_context(
            client_streams(
                config.server_address,
                replies,
                client_id=config.client_id,
                timeout_seconds=config.transport_timeout_seconds,
                list_tools_ahead=True,
            )
        )
        yield streams


# -- one receiver per reply address and process ------------------------------------------------


class _Receiver:
    """A receiver shared by the connections of one process that read one reply address.

    It runs in a task of its own: it outlives the connection that opened it as long as another uses
    it, and a task group (the router's, the channel's batcher) must be left by the task that entered it.
    """

    def __init__(self) -> None:
        self.router: ReplyRouter | None = None
        self.error: BaseException | None = None
        self.users = 0
        self.ready = anyio.Event()
        self.release = anyio.Event()
        self.closed = anyio.Event()
        self.task: asyncio.Task[None] | None = None

    async def serve(self, key: Hashable, config: ClientSettings) -> None:
        try:
            async with open_binding(config) as (_, router):
                self.router = router
                self.ready.set()
                await self.release.wait()
        except Exception as exc:
            self.error = exc  # opening failed: the waiting users raise it
            if self.router is not None:  # a failing queue was already reported to them (router.failure)
                logger.warning("the shared receiver of %s stopped: %s", config.named_reply_address, exc)
        finally:
            if _RECEIVERS.get(key) is self:
                del _RECEIVERS[key]
            self.ready.set()
            self.closed.set()


_RECEIVERS: dict[Hashable, _Receiver] = {}
"""Receivers by (event loop, config type, the config without its per-connection fields)."""

_PER_CONNECTION = frozenset({"client_id", "transport_timeout_seconds"})
"""Config fields the client transport applies per connection: configs differing only in these share."""


def _frozen(value: Any) -> Hashable:
    if isinstance(value, dict):
        return tuple(sorted((str(k), _frozen(v)) for k, v in value.items()))  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(_frozen(item) for item in value)  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, Hashable):
        return value
    return id(value)


def _receiver_key(config: ClientSettings, clients: Mapping[str, Any] | None) -> Hashable | None:
    """Whose receiver a connection may share; None: it opens its own (no named reply address, broker
    clients of the caller's own, which may hold other credentials, or not on asyncio)."""
    if config.named_reply_address is None or _given(clients):
        return None
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    fields = {name: getattr(config, name) for name in type(config).model_fields if name not in _PER_CONNECTION}
    return (id(loop), type(config), _frozen(fields))


@asynccontextmanager
async def _receiver_of(config: ClientSettings, clients: Mapping[str, Any] | None) -> AsyncIterator[ReplyRouter]:
    """The process's receiver of `config`'s reply address, opened on first use; or one of its own."""
    key = _receiver_key(config, clients)
    if key is None:
        async with open_binding(config, clients) as (_, router):
            yield router
        return
    receiver = _RECEIVERS.get(key)
    if receiver is None:
        receiver = _RECEIVERS[key] = _Receiver()
        receiver.task = asyncio.get_running_loop().create_task(receiver.serve(key, config))
    receiver.users += 1
    try:
        await receiver.ready.wait()
        if receiver.router is None:
            assert receiver.error is not None
            raise receiver.error
        yield receiver.router
    finally:
        receiver.users -= 1
        if receiver.users == 0:
            if _RECEIVERS.get(key) is receiver:
                del _RECEIVERS[key]
            receiver.release.set()
            with anyio.CancelScope(shield=True):
                await receiver.closed.wait()
