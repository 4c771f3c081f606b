"""Memory: a server after many 2025 sessions, and a client process with many calls in flight.

Server: 2025 sessions are stateless here (the session id is signed and carries what later
requests need), so a worker should hold nothing per session. The figure is the RSS of a worker
process before and after N legacy `initialize`s whose clients stay connected and idle.

Client: one process (a child, so nothing else this benchmark loaded is counted) connects a few
clients on one shared reply queue and starts N concurrent `call_tool`s of a slow tool; its peak
RSS while they are in flight is compared with its RSS before. The child (`client_child`) reports
one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass

import anyio
from mcp import Client

from asyncmcp.sqs import SqsClientConfig, sqs_client, sqs_reply_queue
from benchmarks.harness import client_pool
from benchmarks.stats import rss_bytes

__all__ = ["ClientMemory", "ServerMemory", "measure_client_memory", "measure_server_memory"]

CONNECT_CONCURRENCY = 50
"""Sessions opened at once: enough to fill batch calls without deepening the request queue."""


@dataclass
class ServerMemory:
    sessions: int
    before: int
    after: int
    seconds: float


@dataclass
class ClientMemory:
    calls: int
    clients: int
    before: int
    peak: int
    completed: int


async def measure_server_memory(server_pid: int, request_url: str, reply_url: str, *, sessions: int) -> ServerMemory:
    """RSS of `server_pid` before and after `sessions` legacy clients initialized (kept open, idle)."""
    config = SqsClientConfig(read_queue_url=request_url, response_queue_url=reply_url)
    async with sqs_reply_queue(config) as router, AsyncExitStack() as stack:
        warm = await stack.enter_async_context(Client(sqs_client(config, replies=router), mode="legacy"))
        await warm.call_tool("echo", {"text": "warm"})
        await anyio.sleep(1.0)
        before = rss_bytes(server_pid)
        start = time.perf_counter()
        async with client_pool(config, router, sessions, mode="legacy", concurrency=CONNECT_CONCURRENCY):
            seconds = time.perf_counter() - start
            await anyio.sleep(1.0)
            after = rss_bytes(server_pid)
    return ServerMemory(sessions, before, after, seconds)


QUEUED_TIMEOUT_SECONDS = 300.0
"""The client memory figure's transport timeout. The embedded endpoint scans a queue per message it
hands out, so delivering 1000 requests held at once takes it about 45 s (measured: 100 receives of
10 from a queue of 1000 took 45.7 s), and the default 45 s timeout would fail calls that are only
queued; real SQS hands them out in well under a second. This figure measures memory, not waits."""


async def client_child(request_url: str, reply_url: str, calls: int, clients: int, seconds: float) -> ClientMemory:
    config = SqsClientConfig(
        read_queue_url=request_url, response_queue_url=reply_url, transport_timeout_seconds=QUEUED_TIMEOUT_SECONDS
    )
    async with sqs_reply_queue(config) as router, AsyncExitStack() as stack:
        pool = [await stack.enter_async_context(Client(sqs_client(config, replies=router))) for _ in range(clients)]
        for client in pool:
            await client.call_tool("echo", {"text": "warm"})
        before = peak = rss_bytes()
        completed = 0

        async def call(client: Client) -> None:
            nonlocal completed
            result = await client.call_tool("work", {"seconds": seconds})
            completed += 0 if result.is_error else 1

        async with anyio.create_task_group() as tg:
            for index in range(calls):
                tg.start_soon(call, pool[index % clients])
            while completed < calls:
                peak = max(peak, rss_bytes())
                await anyio.sleep(0.1)
    return ClientMemory(calls, clients, before, peak, completed)


async def measure_client_memory(
    request_url: str, reply_url: str, *, calls: int, clients: int, seconds: float, limit_seconds: float
) -> ClientMemory:
    """Run the client side in a child process and read its report."""
    command = [
        sys.executable, "-m", "benchmarks.client_child", request_url, reply_url,
        "--calls", str(calls), "--clients", str(clients), "--seconds", str(seconds),
    ]  # fmt: skip
    with anyio.fail_after(limit_seconds):
        result = await anyio.run_process(command, stderr=None, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"client memory child failed with code {result.returncode}")
    data = json.loads(result.stdout.decode().strip().splitlines()[-1])
    return ClientMemory(**data)
