"""Channels: the only code that talks to a broker or HTTP, each a leaf chosen by name.

`base.py` holds the seam (the `Channel` Protocol, `Capabilities`, `ChannelTransport`); `registry.py`
maps transport names to channels, imported lazily; each channel lives in its own module or
package (`sqs/`, `memory.py`). Nothing here imports the engine, the client transport, the proxy or
the CLI.
"""

from asyncmcp.channels.base import (
    Capabilities,
    Channel,
    ChannelTransport,
    ClientBinding,
    Delivery,
    Option,
    ReplyPolicy,
    ServerBinding,
)
from asyncmcp.channels.config import ClientSettings, ServerSettings

__all__ = [
    "Capabilities",
    "Channel",
    "ChannelTransport",
    "ClientBinding",
    "ClientSettings",
    "Delivery",
    "Option",
    "ReplyPolicy",
    "ServerBinding",
    "ServerSettings",
]
