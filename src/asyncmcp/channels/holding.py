"""The deliveries a channel holds for their handlers, and the heartbeat that keeps them held.

A pull broker hides a received frame for a while (SQS: its visibility timeout) and hands it out
again when the hold lapses, which is how a dead worker's request reaches another one. A live
handler may run longer than one hold, so the channel renews each hold shortly before it would
lapse, and only then: a quick request costs no renewal call at all. Every pull channel does this
the same way; only the renewal call differs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

import anyio

__all__ = ["Holds"]

D = TypeVar("D")


class Holds(Generic[D]):
    """Held deliveries by key (a receipt), each with the time its hold lapses."""

    def __init__(self, hold_seconds: float, *, min_interval: float = 1.0) -> None:
        self.hold_seconds = hold_seconds
        self.interval = max(min_interval, hold_seconds / 3)
        """How often holds are looked at; a hold that lapses within 1.5 of these is renewed."""
        self._held: dict[str, tuple[D, float]] = {}

    def add(self, key: str, delivery: D) -> None:
        self._held[key] = (delivery, time.monotonic() + self.hold_seconds)

    def pop(self, key: str) -> tuple[D, float] | None:
        """Stop holding `key`: the delivery and when its hold lapses (`time.monotonic()`), or None
        when it was not held (already settled)."""
        return self._held.pop(key, None)

    def __len__(self) -> int:
        return len(self._held)

    async def heartbeat(self, renew: Callable[[D, float, float], None]) -> None:
        """Renew holds about to lapse with `renew(delivery, hold_seconds, lapses)` (the renewal must
        reach the broker before `lapses`, a `time.monotonic()`), forever; returns when `renew`
        raises `anyio.ClosedResourceError` (the channel is closing)."""
        while True:
            await anyio.sleep(self.interval)
            now = time.monotonic()
            for key, (delivery, lapses) in list(self._held.items()):
                if lapses - now > self.interval * 1.5:
                    continue
                self._held[key] = (delivery, now + self.hold_seconds)
                try:
                    renew(delivery, self.hold_seconds, lapses)
                except anyio.ClosedResourceError:
                    return
