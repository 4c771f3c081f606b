"""Billable calls per tools/call round trip, counted on both sides, at low and high concurrency.

Every request to SQS or SNS is billed (empty receives included), so the count is the cost. The
worker runs in this process so its channel's counters can be read next to the client channel's;
they are read before and after a batch of calls, so idle long polls made meanwhile are charged to
the calls, as they would be on a bill. The calls run back to back (as an agent makes them), and
the count waits for the deletes that linger to share a batch (`DELETE_LINGER_SECONDS`) to be sent.
Every client has made one call before counting starts: the `tools/list` that mcp's client sends
after a session's first call of a tool is a cost of opening a client (time to first result
measures it), not of each call.
At high concurrency one receive returns up to ten messages and sends, publishes and deletes share
batch calls, which is what brings the per-call count down.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
from mcp import Client

from asyncmcp.channels.sqs.channel import DELETE_LINGER_SECONDS
from benchmarks.harness import client_pool

__all__ = ["PRICE_PER_MILLION_REQUESTS", "PRICE_PER_MILLION_SNS_PUBLISHES", "CallCost", "measure_cost"]

PRICE_PER_MILLION_REQUESTS = 0.40
"""USD per million SQS requests, standard queues (first million a month free; FIFO is $0.50)."""

PRICE_PER_MILLION_SNS_PUBLISHES = 0.50
"""USD per million SNS publish requests (delivery to SQS is not charged separately)."""

SNS_OPERATIONS = frozenset({"Publish", "PublishBatch"})

SETTLE_SECONDS = DELETE_LINGER_SECONDS + 1.0
"""Wait before and after counting, so deletes still waiting for company are sent and counted."""


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
        sns = sum(count for name, count in self.calls.items() if name in SNS_OPERATIONS)
        sqs = sum(self.calls.values()) - sns
        return (sqs * PRICE_PER_MILLION_REQUESTS + sns * PRICE_PER_MILLION_SNS_PUBLISHES) / self.tool_calls


class CostedStack(Protocol):
    """What `measure_cost` needs of a stack (`SqsStack`, `SnsStack`)."""

    modern: Client
    legacy: Client
    config: Any
    router: Any

    def calls(self) -> Counter[str]: ...


async def _calls_of(stack: CostedStack, clients: list[Client], per_client: int) -> Counter[str]:
    async def loop(client: Client) -> None:
        for _ in range(per_client):
            result = await client.call_tool("echo", {"text": "cost"})
            if result.is_error:
                raise RuntimeError(f"echo failed: {result.content}")

    await anyio.sleep(SETTLE_SECONDS)  # earlier deletes flush before counting starts
    before = stack.calls()
    async with anyio.create_task_group() as tg:
        for client in clients:
            tg.start_soon(loop, client)
    await anyio.sleep(SETTLE_SECONDS)  # this batch's deletes are counted too
    return stack.calls() - before


async def measure_cost(
    stack: CostedStack, *, low_calls: int, high_clients: int, high_calls_per_client: int, label: str = ""
) -> list[CallCost]:
    out = [
        CallCost(f"{label}1 client, 2026-07-28", 1, low_calls, await _calls_of(stack, [stack.modern], low_calls)),
        CallCost(f"{label}1 client, 2025-11-25", 1, low_calls, await _calls_of(stack, [stack.legacy], low_calls)),
    ]
    async with client_pool(stack.config, stack.router, high_clients) as many:
        # Each client's first call is made before counting: after it, the SDK lists the tools once per
        # session (to check results against output schemas), a cost of opening a client, not of a call.
        # The 1-client rows use clients that have called before, so both count calls in steady state.
        async with anyio.create_task_group() as tg:
            for client in many:
                tg.start_soon(client.call_tool, "echo", {"text": "first"})
        calls = await _calls_of(stack, many, high_calls_per_client)
    out.append(
        CallCost(
            f"{label}{high_clients} clients, 2026-07-28", high_clients, high_clients * high_calls_per_client, calls
        )
    )
    return out
