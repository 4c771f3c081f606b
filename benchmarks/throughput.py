"""Throughput with one and with two worker processes, when each worker's in-flight limit binds.

Each worker is a separate `asyncmcp serve` process with `--max-in-flight K`, serving a tool that
sleeps 50 ms; with more concurrent clients than 2*K the ideal ceiling is K / 50 ms per worker,
so doubling the workers should double the rate if nothing else (endpoint, client process)
is the bottleneck. Both set-ups run side by side on their own request queues and the rounds
alternate (1 worker, 2 workers, 1 worker, ...), so the 1-worker floor and the 2-worker figure
see the same machine speed; the report takes the median round of each.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio
from mcp import Client

from benchmarks.server import WORK_SECONDS

__all__ = ["Throughput", "measure_throughput"]


@dataclass
class Throughput:
    """Calls per second per round, keyed by (clients, workers)."""

    max_in_flight: int
    window_seconds: float
    rounds: dict[tuple[int, int], list[float]] = field(default_factory=dict[tuple[int, int], list[float]])

    def ceiling(self, workers: int) -> float:
        """What `workers` workers could do if only their in-flight limit mattered."""
        return workers * self.max_in_flight / WORK_SECONDS


async def _round(clients: Sequence[Client], window: float, warmup: float) -> float:
    """Every client calls `work` back to back; returns completions per second inside the window."""
    done = 0
    count = 0
    elapsed = 0.0
    stop = False

    async def loop(client: Client) -> None:
        nonlocal done
        while not stop:
            result = await client.call_tool("work", {"seconds": WORK_SECONDS})
            if result.is_error:
                raise RuntimeError(f"work failed: {result.content}")
            done += 1

    async with anyio.create_task_group() as tg:
        for client in clients:
            tg.start_soon(loop, client)
        await anyio.sleep(warmup)
        start, first = time.perf_counter(), done
        await anyio.sleep(window)
        elapsed, count = time.perf_counter() - start, done - first
        stop = True  # in-flight calls finish, so the queues are empty before the next round
    return count / elapsed


async def measure_throughput(
    one_worker: Sequence[Client],
    two_workers: Sequence[Client],
    *,
    concurrency: Sequence[int],
    rounds: int,
    window: float,
    max_in_flight: int,
    warmup: float = 1.0,
) -> Throughput:
    """`one_worker`/`two_workers`: connected clients of each set-up, at least max(concurrency) each."""
    out = Throughput(max_in_flight, window)
    for clients in concurrency:
        for _ in range(rounds):
            for workers, pool in ((1, one_worker), (2, two_workers)):
                rate = await _round(pool[:clients], window, warmup)
                out.rounds.setdefault((clients, workers), []).append(rate)
    return out
