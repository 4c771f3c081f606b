"""Batches calls to a broker: items going to the same place share one request.

SQS bills per API call and accepts up to ten entries per batch call, so sends, deletes and
visibility changes all funnel through a `Batcher`. Each item says by when it must be sent (`due`):

- an item someone waits for (`submit`: a send on the reply path) is due at once; it never waits to
  fill a batch, but shares a call with whatever accumulated while earlier calls were in flight;
- an item nobody waits for (`submit_nowait` with a `due` time: a delete, a visibility renewal) may
  wait for company until then, so one caller doing one call after another acknowledges many
  messages per batch call instead of one per call, and none of those calls lands on the path of
  the next request. A batch goes out when it is full, when its earliest item falls due, or when
  the batcher closes (leaving the block flushes everything, bounded by `close_timeout`).

At most `max_concurrency` calls are outstanding; keys take turns, so one busy destination cannot
starve the others.
"""

from __future__ import annotations

import logging
import math
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
    due: float
    done: anyio.Event = field(default_factory=anyio.Event)
    error: Exception | None = None
    waited: bool = True


class Batcher(Generic[K, T]):
    """Groups items by key and flushes up to `max_batch` items (and `max_weight`) per call.

    `flush(key, items)` performs one broker call and returns one outcome per item, in order.
    Run it with `async with batcher:`.
    """

    def __init__(
        self,
        flush: Callable[[K, Sequence[T]], Awaitable[Sequence[BatchOutcome]]],
        *,
        name: str,
        max_batch: int = 10,
        max_weight: int | None = None,
        max_concurrency: int = 16,
        close_timeout: float = 5.0,
    ) -> None:
        self._flush = flush
        self._name = name
        self._max_batch = max_batch
        self._max_weight = max_weight
        self._limiter = anyio.Semaphore(max_concurrency)
        self._close_timeout = close_timeout
        self._pending: OrderedDict[K, deque[_Slot[T]]] = OrderedDict()
        self._wake = anyio.Event()
        # The time the flusher sleeps until (inf: until woken). An item due sooner must wake it.
        self._deadline = math.inf
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
            # Flush what is queued from here, due or not: when the owner is being cancelled, the
            # batcher's own task is cancelled too, and queued deletes must still reach the broker.
            while taken := self._take(ready_only=False):
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

    @property
    def pending(self) -> int:
        """Items waiting to be sent."""
        return sum(len(queue) for queue in self._pending.values())

    async def submit(self, key: K, item: T, *, weight: int = 0) -> None:
        """Queue `item`, due now, and wait until its batch call finished; raises that item's error."""
        slot = self._enqueue(key, item, weight, anyio.current_time(), waited=True)
        await slot.done.wait()
        if slot.error is not None:
            raise slot.error

    def submit_nowait(self, key: K, item: T, *, weight: int = 0, due: float | None = None) -> None:
        """Queue `item` and return at once; it is sent by `due` (an `anyio.current_time()`; None: now).
        A failure is logged, not raised."""
        self._enqueue(key, item, weight, anyio.current_time() if due is None else due, waited=False)

    def discard(self, key: K) -> None:
        """Drop the items queued for `key` (their destination is gone); waiters see `ClosedResourceError`."""
        for slot in self._pending.pop(key, ()):
            slot.error = anyio.ClosedResourceError()
            slot.done.set()

    def _enqueue(self, key: K, item: T, weight: int, due: float, *, waited: bool) -> _Slot[T]:
        if self._closing or self._tg is None:
            raise anyio.ClosedResourceError(f"{self._name} batcher is closed")
        slot = _Slot(item, weight, due, waited=waited)
        queue = self._pending.setdefault(key, deque())
        queue.append(slot)
        if due < self._deadline or self._ready(queue, anyio.current_time()):
            self._wake.set()  # due before the flusher would wake, full (count or weight), or due now
        return slot

    def _ready(self, queue: deque[_Slot[T]], now: float) -> bool:
        if len(queue) >= self._max_batch:
            return True
        if self._max_weight is not None and sum(slot.weight for slot in queue) >= self._max_weight:
            return True
        return min(slot.due for slot in queue) <= now

    def _take(self, *, ready_only: bool = True) -> tuple[K, list[_Slot[T]]] | None:
        """Pop the next batch (of a ready key, unless closing), rotating keys for fairness."""
        now = anyio.current_time()
        for key, queue in self._pending.items():
            if ready_only and not self._ready(queue, now):
                continue
            ordered = sorted(queue, key=lambda slot: slot.due)  # the most urgent go first
            batch: list[_Slot[T]] = []
            weight = 0
            for slot in ordered:
                if len(batch) >= self._max_batch:
                    break
                if batch and self._max_weight is not None and weight + slot.weight > self._max_weight:
                    break
                batch.append(slot)
                weight += slot.weight
            taken = set(map(id, batch))
            rest = deque(slot for slot in queue if id(slot) not in taken)
            del self._pending[key]
            if rest:
                self._pending[key] = rest  # re-inserted at the end: round robin
            return key, batch
        return None

    def _next_due(self) -> float | None:
        return min((slot.due for queue in self._pending.values() for slot in queue), default=None)

    def _any_ready(self) -> bool:
        now = anyio.current_time()
        return any(self._ready(queue, now) for queue in self._pending.values())

    async def _run(self) -> None:
        assert self._tg is not None
        while True:
            while self._any_ready():
                # A call slot first, then the batch: what arrives while waiting for a slot joins it.
                await self._limiter.acquire()
                taken = self._take()
                if taken is None:
                    self._limiter.release()
                    break
                self._in_flight += 1
                self._tg.start_soon(self._flush_batch, *taken)
            if not self._in_flight:
                self._idle.set()
            self._wake = anyio.Event()
            due = self._next_due()
            self._deadline = math.inf if due is None else due
            try:
                with anyio.move_on_after(max(0.0, self._deadline - anyio.current_time())):
                    await self._wake.wait()
            finally:
                self._deadline = -math.inf  # not sleeping: the next pass looks at every item

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
            self._wake.set()  # a freed call slot: batches that waited for one may go now
