"""Bridging a stdio server (`asyncmcp serve -- <command>`) against calling it directly over stdio.

One stdio server (the benchmark server run as `python -c ... server.run("stdio")`, so the tool is
the same as everywhere else) is reached three ways, interleaved call by call, back to back:

- directly by the SDK's stdio client (the floor: what a client on the same host pays);
- through SQS and an in-process worker bridging it (`bridge_server(StdioUpstream(...))`);
- through SQS and an in-process worker serving the same server as a Python object (what the
  bridge's stdio hop adds over `asyncmcp serve module:server`).

All three clients speak 2026-07-28.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from mcp import Client, StdioServerParameters

from asyncmcp.bridge import StdioUpstream, bridge_server
from asyncmcp.sqs import SqsClientConfig, sqs_client, sqs_reply_queue
from benchmarks.harness import in_process_worker
from benchmarks.latency import Figure, RoundTrips, echo, interleaved
from benchmarks.server import server

__all__ = ["BRIDGE_FIGURES", "bridge_clients", "measure_bridge_round_trips"]

ROOT = Path(__file__).resolve().parents[1]
STDIO_COMMAND = [sys.executable, "-c", "from benchmarks.server import server; server.run('stdio')"]
"""The benchmark server over stdio (run from the checkout, which is how the child imports it)."""

BRIDGE_FIGURES = ("stdio-direct", "bridge-stdio", "object")
"""The series, in the order each iteration takes them."""


@asynccontextmanager
async def bridge_clients(bridge_req: str, object_req: str, reply: str) -> AsyncIterator[dict[str, Client]]:
    """A client per figure, connected, with the workers they need running."""
    async with AsyncExitStack() as stack:
        upstream = StdioUpstream(STDIO_COMMAND, cwd=str(ROOT))
        await stack.enter_async_context(in_process_worker(bridge_server(upstream), bridge_req))
        await stack.enter_async_context(in_process_worker(server, object_req))
        direct = StdioServerParameters(command=STDIO_COMMAND[0], args=STDIO_COMMAND[1:], cwd=str(ROOT))
        bridged = SqsClientConfig(read_queue_url=bridge_req, response_queue_url=reply)
        # One receiver on the shared reply queue: two would take each other's answers and hand them back.
        router = await stack.enter_async_context(sqs_reply_queue(bridged))
        clients = {
            "stdio-direct": Client(direct),
            "bridge-stdio": Client(sqs_client(bridged, replies=router)),
            "object": Client(
                sqs_client(SqsClientConfig(read_queue_url=object_req, response_queue_url=reply), replies=router)
            ),
        }
        for client in clients.values():
            await stack.enter_async_context(client)
        yield clients


async def measure_bridge_round_trips(clients: dict[str, Client], *, samples: int, warmup: int) -> RoundTrips:
    """One sample of each figure per iteration, back to back; `warmup` iterations discarded."""
    figures: list[Figure] = [(name, lambda client=clients[name]: echo(client)) for name in BRIDGE_FIGURES]
    return await interleaved(figures, samples=samples, warmup=warmup)
