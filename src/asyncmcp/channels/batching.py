"""Batches calls to a broker: whatever is ready at the same moment goes out in one request.

SQS bills per API call and accepts up to ten entries per batch call, so sends, deletes and
visibility changes all funnel through a `Batcher`. It never waits to fill a batch (that would
add latency to the reply path); it batches what accumulates while earlier calls are in flight,
with at most `max_concurrency` calls outstanding. Callers either await their item's result
(`submit`) or hand it off and move on (`submit_nowait`, used for deletes, which must stay off
the reply's critical path).
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import anyio
import anyio.abc

__all__ = ["BatchOutcome", "Batcher"]

logger = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

BatchOutcome = Exception | None
"""Per item: `None` on success, the exception to raise to that item's submitter otherwise."""


@dataclass(eq=False)
class _Slot(Generic[T]):
    item: T
    weight: int
    done: anyio.Event = field(default_factory=anyio.Event)
    error: Exception | None = None
    waited: bool = True


class Batcher(Generic[K, T]):
    """Groups items by key and flushes up to `max_batch` items (and `max_weight`) per call.

    `flush(key, items)` performs one broker call and returns one outcome per item, in order.
    Run it with `async with batcher:`; leaving the block flushes what is queued, bounded by
    `close_timeout`.
    """

    def __init__(
        self,
        flush: Callable[[K, Sequence[T]], Awaitable[Sequence[BatchOutcome]]],
        *,
        name: str,
        max_batch: int = 10,
        max_weight: int | None = None,
        max_concurrency: int = 16,
        linger_seconds: float = 0.0,
        close_timeout: float = 5.0,
    ) -> None:
        self._flush = flush
        self._name = name
        self._max_batch = max_batch
        self._max_weight = max_weight
        self._limiter = anyio.Semaphore(max_concurrency)
        self._linger = linger_seconds
        self._close_timeout = close_timeout
        self._pending: OrderedDict[K, deque[_Slot[T]]] = OrderedDict()
        self._wake = anyio.Event()
        self._tg: anyio.abc.TaskGroup | None = None
        self._closing = False
        self._in_flight = 0
        self._idle = anyio.Event()

    async def __aenter__(self) -> Batcher[K, T]:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._run)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._tg is not None
        self._closing = True
        self._wake.set()
        with anyio.move_on_after(self._close_timeout, shield=True):
            # Flush what is queued from here: when the owner is being cancelled, the batcher's own
            # task is cancelled too, and queued deletes must still reach the broker.
            while taken := self._take():
                await self._deliver(*taken)
            while self._in_flight:
                self._idle = anyio.Event()
                await self._idle.wait()
        self._tg.cancel_scope.cancel()
        await self._tg.__aexit__(None, None, None)
        for queue in self._pending.values():
            for slot in queue:
                slot.error = anyio.ClosedResourceError()
                slot.done.set()
        self._pending.clear()

    async def submit(self, key: K, item: T, *, weight: int = 0) -> None:
        """Queue `item` and wait until its batch call finished; raises that item's error."""
        slot = self._enqueue(key, item, weight, waited=True)
        await slot.done.wait()
        if slot.error is not None:
            raise slot.error

    def submit_nowait(self, key: K, item: T, *, weight: int = 0) -> None:
        """Queue `item` and return at once; a failure is logged, not raised."""
        self._enqueue(key, item, weight, waited=False)

    def discard(self, key: K) -> None:
        """Drop the items queued for `key` (their destination is gone); waiters see `ClosedResourceError`."""
        for slot in self._pending.pop(key, ()):
            slot.error = anyio.ClosedResourceError()
            slot.done.set()

    def _enqueue(self, key: K, item: T, weight: int, *, waited: bool) -> _Slot[T]:
        if self._closing or self._tg is None:
            raise anyio.ClosedResourceError(f"{self._name} batcher is closed")
        slot = _Slot(item, weight, waited=waited)
        self._pending.setdefault(key, deque()).append(slot)
        self._wake.set()
        return slot

    def _take(self) -> tuple[K, list[_Slot[T]]] | None:
        """Pop the next batch, rotating keys so one busy destination cannot starve the others."""
        if not self._pending:
            return None
        key, queue = next(iter(self._pending.items()))
        batch: list[_Slot[T]] = []
        weight = 0
        while queue and len(batch) < self._max_batch:
            nxt = queue[0]
            if batch and self._max_weight is not None and weight + nxt.weight > self._max_weight:
                break
            batch.append(queue.popleft())
            weight += nxt.weight
        del self._pending[key]
        if queue:
            self._pending[key] = queue  # re-inserted at the end: round robin
        return key, batch

    async def _run(self) -> None:
        assert self._tg is not None
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            if self._linger and not self._closing:
                await anyio.sleep(self._linger)
            while self._pending:
                await self._limiter.acquire()
                taken = self._take()
                if taken is None:
                    self._limiter.release()
                    break
                self._in_flight += 1
                self._tg.start_soon(self._flush_batch, *taken)
            if not self._in_flight:
                self._idle.set()

    async def _deliver(self, key: K, batch: list[_Slot[T]]) -> None:
        """One broker call for `batch`; every slot gets its outcome."""
        try:
            outcomes = await self._flush(key, [slot.item for slot in batch])
        except Exception as exc:
            outcomes = [exc] * len(batch)
        for slot, outcome in zip(batch, outcomes, strict=True):
            slot.error = outcome
            if outcome is not None and not slot.waited:
                logger.warning("%s failed for %s: %s", self._name, key, outcome)
            slot.done.set()

    async def _flush_batch(self, key: K, batch: list[_Slot[T]]) -> None:
        try:
            await self._deliver(key, batch)
        finally:
            self._in_flight -= 1
            self._limiter.release()
            if not self._in_flight and not self._pending:
                self._idle.set()
