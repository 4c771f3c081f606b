"""Reading what arrives at an address without answering it: audit, analytics, debugging.

A fan-out channel (SNS+SQS) can deliver every request to more than one queue: competing workers
share one, and an observer has its own. `observe(config)` reads such a queue and yields each frame,
decoded, then acknowledges it; it never sends anything, so its clients cannot tell it is there.
To run a whole MCP server on an observer queue without answering (a shadow deployment), serve it
with `shadow=True` in its server config instead.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from mcp_types import JSONRPCMessage

from asyncmcp.channels import registry
from asyncmcp.channels.config import ServerSettings
from asyncmcp.codec import Envelope
from asyncmcp.receiving import Poller, open_delivery

__all__ = ["ObservedMessage", "observe"]


@dataclass(frozen=True)
class ObservedMessage:
    """One frame an observer saw: its routing facts and its message (None when it did not decode)."""

    envelope: Envelope
    message: JSONRPCMessage | None
    body: str
    receive_count: int


async def observe(config: ServerSettings, clients: Mapping[str, Any] | None = None) -> AsyncIterator[ObservedMessage]:
    """Yield every frame arriving at `config.request_address`, acknowledging each once it was yielded."""
    transport = registry.for_config(config)
    given = {name: client for name, client in (clients or {}).items() if client is not None}
    async with transport.open_server(config, given) as binding:
        token = uuid.uuid4().hex
        poller = Poller(binding.channel, binding.address, wake_token=token)
        while True:
            for delivery in await poller.next_batch(config.max_messages):
                opened = open_delivery(delivery, token)
                if opened is None:
                    continue
                yield ObservedMessage(opened.envelope, opened.message, delivery.frame.body, delivery.receive_count)
                delivery.ack()
