"""Which connections of a process may be treated as one: those opened from equal configs.

Connections that differ only in what the client transport applies per connection (its client id,
its timeout) reach the same server with the same credentials (and read the same reply address, when
the config names one); what one of them learns or holds may serve the others. Two things are
shared that way: the receiver of a reply address (`shared_receivers.py`) and the answers a server
lets its clients keep (`kept_answers.py`; a connection whose config says `keep_fresh_answers=False`
neither reads nor fills them).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from asyncmcp.channels.config import ClientSettings

__all__ = ["PER_CONNECTION_FIELDS", "settings_key"]

PER_CONNECTION_FIELDS = frozenset({"client_id", "keep_fresh_answers", "transport_timeout_seconds"})
"""Config fields the client transport applies per connection: configs differing only in these share."""


class _Unshareable(Exception):
    """A config field whose value cannot be compared by value (an object without a hash)."""


def _frozen(value: Any) -> Hashable:
    if isinstance(value, dict):
        items: list[tuple[str, Hashable]] = [(str(k), _frozen(v)) for k, v in value.items()]  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        return tuple(sorted(items, key=repr))
    if isinstance(value, set | frozenset):
        return frozenset(_frozen(item) for item in value)  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)  # pyright: ignore[reportUnknownVariableType]
    try:
        hash(value)
    except TypeError:
        raise _Unshareable from None
    return value


def settings_key(config: ClientSettings) -> Hashable | None:
    """Equal for configs of one type that are equal but for `PER_CONNECTION_FIELDS`; None (share
    nothing) when a field holds a value without a hash: its identity could not tell two configs apart
    once one is gone (a new object may get the same id)."""
    fields = {name: getattr(config, name) for name in type(config).model_fields if name not in PER_CONNECTION_FIELDS}
    try:
        return (type(config), _frozen(fields))
    except _Unshareable:
        return None
