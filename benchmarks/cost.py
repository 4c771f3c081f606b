"""Billable SQS calls per tools/call round trip, counted on both sides, at low and high concurrency.

Every SQS request is billed (empty receives included), so the count is the cost. The worker runs
in this process so its `SqsApi.calls` can be read next to the client channel's; the counters are
read before and after a batch of calls, so idle long polls made meanwhile are charged to the
calls, as they would be on a bill. At high concurrency one receive returns up to ten messages and
sends and deletes share batch calls, which is what brings the per-call count down.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import anyio
from mcp import Client

from benchmarks.harness import client_pool
from benchmarks.latency import SqsStack

__all__ = ["CallCost", "measure_cost"]

PRICE_PER_MILLION_REQUESTS = 0.40
"""USD per million SQS requests, standard queues (first million a month free; FIFO is $0.50)."""


@dataclass
class CallCost:
    label: str
    clients: int
    tool_calls: int
    calls: Counter[str]

    @property
    def per_call(self) -> float:
        return sum(self.calls.values()) / self.tool_calls

    @property
    def dollars_per_million_calls(self) -> float:
        return self.per_call * PRICE_PER_MILLION_REQUESTS


async def _calls_of(stack: SqsStack, clients: list[Client], per_client: int) -> Counter[str]:
    async def loop(client: Client) -> None:
        for _ in range(per_client):
            result = await client.call_tool("echo", {"text": "cost"})
            if result.is_error:
                raise RuntimeError(f"echo failed: {result.content}")

    await anyio.sleep(0.5)  # earlier deletes flush before counting starts
    before = stack.calls()
    async with anyio.create_task_group() as tg:
        for client in clients:
            tg.start_soon(loop, client)
    await anyio.sleep(0.5)  # this batch's deletes are counted too
    return stack.calls() - before


async def measure_cost(
    stack: SqsStack, *, low_calls: int, high_clients: int, high_calls_per_client: int
) -> list[CallCost]:
    out = [
        CallCost("1 client, 2026-07-28", 1, low_calls, await _calls_of(stack, [stack.modern], low_calls)),
        CallCost("1 client, 2025-11-25", 1, low_calls, await _calls_of(stack, [stack.legacy], low_calls)),
    ]
    async with client_pool(stack.config, stack.router, high_clients) as many:
        calls = await _calls_of(stack, many, high_calls_per_client)
    out.append(
        CallCost(f"{high_clients} clients, 2026-07-28", high_clients, high_clients * high_calls_per_client, calls)
    )
    return out
