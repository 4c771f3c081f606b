"""Bounded memories: an expiring set (which requests this worker answered or saw cancelled
recently) and a dict that forgets its oldest entries (what waits for an answer that may never come)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import TypeVar

__all__ = ["BoundedDict", "ExpiringSet"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


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


class BoundedDict(OrderedDict[K, V]):
    """A dict of at most `max_entries`: adding one more forgets the oldest. For what a peer can make
    us remember (its requests to us, which it may never see answered), so it cannot grow without end."""

    def __init__(self, max_entries: int) -> None:
        super().__init__()
        self.max_entries = max_entries

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        while len(self) > self.max_entries:
            self.popitem(last=False)
