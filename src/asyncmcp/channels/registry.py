"""Transport names -> channel transports, imported only when asked for.

The table names each built-in channel as a `'module:attribute'` string, so `import asyncmcp` (and
`asyncmcp --help`) imports no broker library, and a channel nobody uses is never loaded. A third
party adds a channel without touching asyncmcp by declaring an entry point in the
`asyncmcp.channels` group whose value is a `ChannelTransport` subclass:

```toml
[project.entry-points."asyncmcp.channels"]
redis = "my_package.redis_channel:RedisTransport"
```

Every face (the seed-named modules, `asyncmcp serve --transport`, `asyncmcp proxy --backend`, the
proxy's `backend_transport=`, the benchmark) takes its choices from here.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from asyncmcp.channels.base import ChannelTransport

__all__ = ["DEFAULT_TRANSPORT", "ENTRY_POINT_GROUP", "UnknownTransportError", "for_config", "get", "names"]

ENTRY_POINT_GROUP = "asyncmcp.channels"

DEFAULT_TRANSPORT = "sqs"
"""What `asyncmcp serve` and `asyncmcp proxy` use when no transport is named."""

BUILTIN: dict[str, str] = {
    "sqs": "asyncmcp.channels.sqs.transport:SqsTransport",
    "sns_sqs": "asyncmcp.channels.sns_sqs.transport:SnsSqsTransport",
    "webhook": "asyncmcp.channels.webhook.transport:WebhookTransport",
    "hybrid": "asyncmcp.streamable_http_webhook.transport:HybridTransport",
    "memory": "asyncmcp.channels.memory:MemoryTransport",
}


class UnknownTransportError(ValueError):
    """No channel is registered under the name asked for."""


@cache
def _table() -> dict[str, str]:
    """Built-in names and installed entry points, read once per process: scanning the installed
    packages' metadata takes milliseconds, and every connection asks (a package installed while a
    process runs is seen by the next one)."""
    table = dict(BUILTIN)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        table.setdefault(entry.name, entry.value)
    return table


def names(*, cli_only: bool = False) -> list[str]:
    """The registered transport names (`cli_only`: those `asyncmcp serve`/`proxy` can use)."""
    table = _table()  # read only: the cached table itself
    if not cli_only:
        return sorted(table)
    return sorted(name for name in table if get(name).cli)


@cache
def _load(target: str) -> ChannelTransport:
    module_name, _, attribute = target.partition(":")
    loaded: Any = getattr(importlib.import_module(module_name), attribute)
    transport = loaded() if isinstance(loaded, type) else loaded
    if not isinstance(transport, ChannelTransport):
        raise TypeError(f"{target} is not an asyncmcp ChannelTransport")
    return transport


def get(name: str) -> ChannelTransport:
    """The transport registered as `name`; the error lists the available names."""
    if name in BUILTIN:  # built-ins take precedence over entry points of the same name
        return _load(BUILTIN[name])
    table = _table()
    target = table.get(name)
    if target is None:
        raise UnknownTransportError(f"unknown transport {name!r}; choose one of {', '.join(sorted(table))}")
    return _load(target)


def for_config(config: object) -> ChannelTransport:
    """The transport a config object belongs to (its class's `transport` name)."""
    name = getattr(type(config), "transport", "")
    if not name:
        raise TypeError(f"{type(config).__name__} is not an asyncmcp channel config (it names no transport)")
    transport = get(name)
    expected = (transport.server_config, transport.client_config)
    if not isinstance(config, expected):
        raise TypeError(
            f"{type(config).__name__} is not a config of the {name!r} transport "
            f"(expected {' or '.join(cls.__name__ for cls in expected)})"
        )
    return transport
