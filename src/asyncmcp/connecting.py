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

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from typing import Any

import anyio.abc
from mcp.shared.message import SessionMessage

from asyncmcp.channels import registry
from asyncmcp.channels.base import ClientBinding
from asyncmcp.channels.config import ClientSettings
from asyncmcp.client.kept_answers import kept_answers
from asyncmcp.client.replies import ReplyRouter
from asyncmcp.client.shared_receivers import receiver_key, shared_receiver
from asyncmcp.client.transport import client_streams

__all__ = ["connect", "open_binding", "shared_replies"]

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
        router.own_clients = bool(_given(clients))
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
    config's own reply address is ignored; otherwise it reads the config's reply address through
    the process's receiver of it (shared with connections from an equal config), or through one of
    its own (a temporary address, or broker clients of its own).
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
                # A receiver opened with broker clients of the caller's own sends with their
                # credentials: another authorization context, which shares no kept answer.
                kept=None if replies.own_clients or not config.keep_fresh_answers else kept_answers(config),
            )
        )
        yield streams


@asynccontextmanager
async def _receiver_of(config: ClientSettings, clients: Mapping[str, Any] | None) -> AsyncIterator[ReplyRouter]:
    """The process's receiver of `config`'s reply address (`client/shared_receivers.py`), or one of
    its own when it brings broker clients of its own (they may hold other credentials)."""
    key = None if _given(clients) else receiver_key(config)
    if key is None:
        async with shared_replies(config, clients) as router:
            yield router
        return
    label = config.named_reply_address or config.server_address
    async with shared_receiver(key, partial(shared_replies, config), label=label) as router:
        yield router
