"""A bounded, expiring set: which requests this worker answered or saw cancelled recently."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable

__all__ = ["ExpiringSet"]


class ExpiringSet:
    """Remembers keys for `ttl_seconds`, holding at most `max_entries` (oldest forgotten first)."""

    def __init__(self, ttl_seconds: float, max_entries: int = 100_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: OrderedDict[Hashable, float] = OrderedDict()

    def add(self, key: Hashable) -> None:
        if self._ttl <= 0:
            return
        self._entries[key] = time.monotonic() + self._ttl
        self._entries.move_to_end(key)
        self._expire()

    def __contains__(self, key: Hashable) -> bool:
        expires = self._entries.get(key)
        if expires is None:
            return False
        if expires < time.monotonic():
            del self._entries[key]
            return False
        return True

    def __len__(self) -> int:
        self._expire()
        return len(self._entries)

    def _expire(self) -> None:
        now = time.monotonic()
        while self._entries:
            key, expires = next(iter(self._entries.items()))
            if expires >= now and len(self._entries) <= self._max:
                break
            del self._entries[key]
