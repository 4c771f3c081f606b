"""The Batcher's rules: due items share calls, nothing is late, closing flushes everything."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import pytest

from asyncmcp.channels.batching import Batcher, BatchOutcome

pytestmark = pytest.mark.anyio


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[int], float]] = []

    async def flush(self, key: str, items: Sequence[int]) -> Sequence[BatchOutcome]:
        self.calls.append((key, list(items), anyio.current_time()))
        return [None] * len(items)


async def test_items_that_may_wait_share_one_call_sent_when_the_first_falls_due() -> None:
    recorder = Recorder()
    async with Batcher(recorder.flush, name="test") as batcher:
        start = anyio.current_time()
        for item in range(5):
            batcher.submit_nowait("q", item, due=start + 0.3)
            await anyio.sleep(0.01)
        with anyio.fail_after(5):
            while not recorder.calls:  # noqa: ASYNC110 - the flush is the only signal there is
                await anyio.sleep(0.01)
    assert [items for _, items, _ in recorder.calls] == [[0, 1, 2, 3, 4]]
    (_, _, at) = recorder.calls[0]
    assert at >= start + 0.3  # not before it was due: it waited for company


async def test_a_full_batch_goes_at_once_whatever_its_due_time() -> None:
    recorder = Recorder()
    async with Batcher(recorder.flush, name="test", max_batch=3) as batcher:
        far = anyio.current_time() + 3600
        for item in range(7):
            batcher.submit_nowait("q", item, due=far)
        with anyio.fail_after(5):
            while len(recorder.calls) < 2:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        assert [items for _, items, _ in recorder.calls] == [[0, 1, 2], [3, 4, 5]]
        assert batcher.pending == 1
    assert [items for _, items, _ in recorder.calls][-1] == [6]  # closing flushed the rest


async def test_an_awaited_item_is_due_now_and_takes_the_waiting_ones_with_it() -> None:
    recorder = Recorder()
    async with Batcher(recorder.flush, name="test") as batcher:
        batcher.submit_nowait("q", 1, due=anyio.current_time() + 3600)
        with anyio.fail_after(5):
            await batcher.submit("q", 2)
    assert [sorted(items) for _, items, _ in recorder.calls] == [[1, 2]]


async def test_keys_do_not_share_calls() -> None:
    recorder = Recorder()
    async with Batcher(recorder.flush, name="test") as batcher:
        batcher.submit_nowait("a", 1)
        batcher.submit_nowait("b", 2)
    assert sorted((key, items) for key, items, _ in recorder.calls) == [("a", [1]), ("b", [2])]


async def test_an_item_due_sooner_than_the_waiting_ones_wakes_the_flusher() -> None:
    recorder = Recorder()
    async with Batcher(recorder.flush, name="test") as batcher:
        start = anyio.current_time()
        batcher.submit_nowait("q", 1, due=start + 5)
        await anyio.wait_all_tasks_blocked()  # the flusher now sleeps until the first is due
        batcher.submit_nowait("q", 2, due=start + 0.1)
        with anyio.fail_after(2):
            while not recorder.calls:  # noqa: ASYNC110 - the flush is the only signal there is
                await anyio.sleep(0.01)
    (_, items, _) = recorder.calls[0]
    assert 2 in items


async def test_a_batch_at_its_weight_limit_goes_at_once() -> None:
    recorder = Recorder()
    async with Batcher(recorder.flush, name="test", max_weight=10) as batcher:
        far = anyio.current_time() + 3600
        batcher.submit_nowait("q", 1, weight=4, due=far)
        await anyio.wait_all_tasks_blocked()
        batcher.submit_nowait("q", 2, weight=6, due=far)
        with anyio.fail_after(2):
            while not recorder.calls:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        assert [items for _, items, _ in recorder.calls] == [[1, 2]]
