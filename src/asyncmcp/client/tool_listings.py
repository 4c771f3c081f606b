"""Tool listings a server lets its clients keep (SEP-2549 `ttlMs`), shared by the connections of a
process opened from equal configs.

mcp's `ClientSession` lists the tools after the first call of each tool it has not listed, to check
the result against the tool's output schema, and a new connection has listed none: every
connection's first call carries a listing (sent beside the call, `client/transport.py`). When the
server says how long its listing stays fresh (`ttlMs` on the `tools/list` result, which an SDK
server sets with `MCPServer(cache_hints={"tools/list": CacheHint(ttl_ms=...)})`), the listing one
connection got stands in for the next connection's until then, and that connection's first call
travels alone.

Kept only for connections from equal configs (`config_keys.py`): one server reached with one set
of credentials, one authorization context, which is as far as SEP-2549 lets even a `"private"`
result be reused. Within a config, keyed by what the listing asks (its protocol version and
`_meta`). A `notifications/tools/list_changed` that reaches any of them forgets the config's
listings. A listing without `ttlMs`, or with 0 (the SDK server's default), or one page of several,
is not kept. Only the listing the SDK makes for its check is answered from here; a `list_tools()`
the user calls goes to the server (the SDK's own response cache decides about those).
"""

from __future__ import annotations

import time
from collections.abc import Hashable

from mcp_types import JSONRPCResponse

from asyncmcp.channels.config import ClientSettings
from asyncmcp.client.config_keys import settings_key
from asyncmcp.expiring import BoundedDict

__all__ = ["MAX_CONFIGS", "MAX_LISTINGS_PER_CONFIG", "ToolListings", "tool_listings"]

MAX_CONFIGS = 256
"""Configs whose listings a process keeps; the one used longest ago is forgotten first."""

MAX_LISTINGS_PER_CONFIG = 16
"""Listings kept per config (one per protocol version and `_meta` the clients list with)."""


class ToolListings:
    """The kept listings of one config, each until its server's `ttlMs` runs out."""

    def __init__(self) -> None:
        self._kept: BoundedDict[Hashable, tuple[JSONRPCResponse, float]] = BoundedDict(MAX_LISTINGS_PER_CONFIG)

    def fresh(self, key: Hashable) -> JSONRPCResponse | None:
        """The listing kept under `key`, while the server still calls it fresh."""
        kept = self._kept.get(key)
        if kept is None:
            return None
        answer, expires = kept
        if time.monotonic() >= expires:
            del self._kept[key]
            return None
        return answer

    def keep(self, key: Hashable, answer: JSONRPCResponse) -> None:
        """Keep `answer` under `key` for as long as its `ttlMs` says, when it says so and is whole."""
        ttl_ms = answer.result.get("ttlMs")
        if not isinstance(ttl_ms, int | float) or isinstance(ttl_ms, bool) or ttl_ms <= 0:
            return
        if answer.result.get("nextCursor") is not None:
            return  # the first page of several: the SDK's check reads the whole listing
        self._kept[key] = (answer, time.monotonic() + ttl_ms / 1000)

    def forget(self) -> None:
        """The server said its tools changed: no kept listing stands for it any more."""
        self._kept.clear()


_LISTINGS: BoundedDict[Hashable, ToolListings] = BoundedDict(MAX_CONFIGS)


def tool_listings(config: ClientSettings) -> ToolListings:
    """The listings kept for connections from configs equal to `config` (`config_keys.settings_key`)."""
    key = settings_key(config)
    listings = _LISTINGS.pop(key, None) or ToolListings()
    _LISTINGS[key] = listings  # most recently used last: the bound forgets the others first
    return listings
