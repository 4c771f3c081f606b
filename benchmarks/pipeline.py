"""Concurrent throughput against the raw pipeline: K clients, one worker holding K requests at once.

The raw pipeline (`raw_worker.py` in its own process, and K raw client loops here sharing one
receiver on their reply queue) does with plain SQS calls what an MCP round trip needs: send,
receive, a fixed service time, reply, delete. The MCP side is one `asyncmcp serve --max-in-flight K`
process serving the `work` tool and K `Client`s on one shared reply router. Rounds alternate
(raw, MCP, raw, ...) so both see the same machine speed; the report takes the median round.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp import Client

from asyncmcp.channels.sqs.api import create_sqs_client
from asyncmcp.codec import ATTR_CLIENT_ID, ATTR_REPLY_TO
from benchmarks.harness import start_banner_process, stop_processes
from benchmarks.server import WORK_SECONDS

__all__ = ["Pipeline", "measure_pipeline"]


@dataclass
class Pipeline:
    concurrency: int
    window_seconds: float
    raw: list[float] = field(default_factory=list[float])
    mcp: list[float] = field(default_factory=list[float])


async def _round(loops: Sequence[Callable[[], Awaitable[None]]], window: float, warmup: float) -> float:
    """Each of `loops` calls back to back; completions per second inside the window."""
    done = 0
    stop = False
    elapsed, count = 0.0, 0

    async def run(loop: Callable[[], Awaitable[None]]) -> None:
        nonlocal done
        while not stop:
            await loop()
            done += 1

    async with anyio.create_task_group() as tg:
        for loop in loops:
            tg.start_soon(run, loop)
        await anyio.sleep(warmup)
        start, first = time.perf_counter(), done
        await anyio.sleep(window)
        elapsed, count = time.perf_counter() - start, done - first
        stop = True
    return count / elapsed


class _RawClients:
    """K raw request/reply loops sharing one long-poll receiver on their reply queue."""

    def __init__(self, sqs: Any, request_url: str, reply_url: str) -> None:
        self.sqs = sqs
        self.request_url = request_url
        self.reply_url = reply_url
        self.waiting: dict[str, anyio.Event] = {}

    async def receive(self) -> None:
        while True:
            response = await self.sqs.receive_message(
                QueueUrl=self.reply_url, MaxNumberOfMessages=10, WaitTimeSeconds=20, MessageAttributeNames=["All"]
            )
            messages = response.get("Messages", [])
            for message in messages:
                event = self.waiting.pop(message["MessageAttributes"][ATTR_CLIENT_ID]["StringValue"], None)
                if event is not None:
                    event.set()
            if messages:
                entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
                await self.sqs.delete_message_batch(QueueUrl=self.reply_url, Entries=entries)

    async def call(self) -> None:
        rid = uuid.uuid4().hex
        arrived = self.waiting[rid] = anyio.Event()
        await self.sqs.send_message(
            QueueUrl=self.request_url,
            MessageBody='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"work"}}',
            MessageAttributes={
                ATTR_CLIENT_ID: {"DataType": "String", "StringValue": rid},
                ATTR_REPLY_TO: {"DataType": "String", "StringValue": self.reply_url},
            },
        )
        await arrived.wait()


async def measure_pipeline(
    clients: Sequence[Client],
    mcp_request_url: str,
    raw_request_url: str,
    raw_reply_url: str,
    *,
    rounds: int,
    window: float,
    warmup: float = 1.0,
) -> Pipeline:
    """`clients`: MCP clients of a worker on `mcp_request_url` (started by the caller, `--max-in-flight K`)."""
    concurrency = len(clients)
    out = Pipeline(concurrency, window)
    command = [
        sys.executable, "-m", "benchmarks.raw_worker", raw_request_url,
        "--concurrency", str(concurrency), "--seconds", str(WORK_SECONDS),
    ]  # fmt: skip
    raw_worker = await start_banner_process(command)
    try:
        async with create_sqs_client() as sqs, anyio.create_task_group() as tg:
            raw = _RawClients(sqs, raw_request_url, raw_reply_url)
            tg.start_soon(raw.receive)

            def mcp_loop(client: Client) -> Callable[[], Awaitable[None]]:
                async def call() -> None:
                    result = await client.call_tool("work", {"seconds": WORK_SECONDS})
                    if result.is_error:
                        raise RuntimeError(f"work failed: {result.content}")

                return call

            raw_loops = [raw.call] * concurrency
            mcp_loops = [mcp_loop(client) for client in clients]
            for _ in range(rounds):
                out.raw.append(await _round(raw_loops, window, warmup))
                out.mcp.append(await _round(mcp_loops, window, warmup))
            tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await stop_processes([raw_worker])
    return out
