"""Everything a figure needs around it: the endpoint, queues, in-process and out-of-process workers.

The endpoint is moto in its own process (`LocalEndpoint.subprocess()`), so the benchmark's
clients, the workers and the endpoint do not share one GIL; the environment variables that point
aiobotocore at it are set for this process and inherited by every worker it starts. Worker
processes are started exactly as an operator would (`python -m asyncmcp serve ...`) and are always
terminated, then killed if they linger, so a failed run leaves no process behind.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import anyio.abc
from mcp import Client

from asyncmcp.channels.config import ClientSettings
from asyncmcp.channels.sqs.api import create_sqs_client
from asyncmcp.client.replies import ReplyRouter
from asyncmcp.connecting import connect
from asyncmcp.local.endpoint import LocalEndpoint
from asyncmcp.server.state_key import STATE_KEY_ENV
from asyncmcp.sqs import SqsServerConfig, SqsWorker

__all__ = [
    "BENCH_SERVER",
    "bench_endpoint",
    "client_pool",
    "create_queues",
    "in_process_worker",
    "raw_sqs",
    "start_banner_process",
    "stop_processes",
    "worker_processes",
]

BENCH_SERVER = "benchmarks.server:server"
WORKER_START_TIMEOUT = 60.0
WORKER_STOP_TIMEOUT = 15.0


@contextmanager
def bench_endpoint() -> Iterator[LocalEndpoint]:
    """Start moto as a child process and point this process (and its children) at it.

    A state key shared by every worker is set too, so any worker can serve any 2025 session.
    """
    with LocalEndpoint.subprocess() as endpoint, endpoint.exported(**{STATE_KEY_ENV: secrets.token_hex(32)}):
        yield endpoint


@asynccontextmanager
async def raw_sqs() -> AsyncIterator[Any]:
    """A plain aiobotocore SQS client from the environment, with asyncmcp's own botocore settings."""
    async with create_sqs_client() as client:
        yield client


async def create_queues(*names: str) -> list[str]:
    """Create standard queues with a unique suffix; returns their URLs in order."""
    suffix = uuid.uuid4().hex[:8]
    async with raw_sqs() as sqs:
        urls: list[str] = []
        for name in names:
            response = await sqs.create_queue(
                QueueName=f"bench-{name}-{suffix}", Attributes={"VisibilityTimeout": "30"}
            )
            urls.append(str(response["QueueUrl"]))
        return urls


@asynccontextmanager
async def in_process_worker(server: Any, request_url: str, *, max_in_flight: int = 64) -> AsyncIterator[SqsWorker]:
    """Serve `server` on `request_url` in this process; `worker.binding.channel.calls` counts its SQS calls."""
    async with SqsWorker(server, SqsServerConfig(read_queue_url=request_url, max_in_flight=max_in_flight)) as worker:
        yield worker


@asynccontextmanager
async def worker_processes(
    count: int, request_url: str, *, max_in_flight: int, reply_topic_arn: str | None = None
) -> AsyncIterator[list[anyio.abc.Process]]:
    """Start `count` single-worker `asyncmcp serve` processes on `request_url` and wait until each
    serves; with `reply_topic_arn` they serve SNS+SQS (the queue subscribed to the request topic,
    answers published to that topic), otherwise SQS."""
    if reply_topic_arn is None:
        channel = ["--transport", "sqs", "--request-queue-url", request_url]
    else:
        channel = ["--transport", "sns_sqs", "--queue-url", request_url, "--reply-topic-arn", reply_topic_arn]
    command = [
        sys.executable, "-m", "asyncmcp", "serve", *channel,
        "--max-in-flight", str(max_in_flight), "--grace", "1", BENCH_SERVER,
    ]  # fmt: skip
    processes: list[anyio.abc.Process] = []
    try:
        for _ in range(count):
            processes.append(await anyio.open_process(command, stdout=subprocess.PIPE, stderr=None))
        with anyio.fail_after(WORKER_START_TIMEOUT):
            for process in processes:
                await _wait_for_banner(process)
        yield processes
    finally:
        with anyio.CancelScope(shield=True):
            await stop_processes(processes)


@asynccontextmanager
async def proxy_process(request_url: str) -> AsyncIterator[str]:
    """Run `asyncmcp proxy` (its own process, as deployed) on a free port; yields its /mcp URL."""
    command = [sys.executable, "-m", "asyncmcp", "proxy", "--port", "0", "--request-queue-url", request_url]
    process = await anyio.open_process(command, stdout=subprocess.PIPE, stderr=None)
    try:
        with anyio.fail_after(WORKER_START_TIMEOUT):
            banner = await _wait_for_banner(process)
        # "asyncmcp proxy: http://127.0.0.1:PORT/mcp -> sqs URL"
        yield banner.split()[2]
    finally:
        with anyio.CancelScope(shield=True):
            await stop_processes([process])


async def start_banner_process(command: list[str]) -> anyio.abc.Process:
    """Start a child that prints one line once it serves, and wait for that line."""
    process = await anyio.open_process(command, stdout=subprocess.PIPE, stderr=None)
    try:
        with anyio.fail_after(WORKER_START_TIMEOUT):
            await _wait_for_banner(process)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await stop_processes([process])
        raise
    return process


async def _wait_for_banner(process: anyio.abc.Process) -> str:
    """`asyncmcp serve` and `asyncmcp proxy` print one line once they serve; returns it."""
    assert process.stdout is not None
    seen = b""
    async for chunk in process.stdout:
        seen += chunk
        if b"\n" in seen:
            return seen.split(b"\n", 1)[0].decode()
    raise RuntimeError(f"process {process.pid} exited before serving (code {process.returncode})")


async def stop_processes(processes: list[anyio.abc.Process]) -> None:
    for process in processes:
        if process.returncode is None:
            process.terminate()
    for process in processes:
        with anyio.move_on_after(WORKER_STOP_TIMEOUT):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
        await process.aclose()


@asynccontextmanager
async def client_pool(
    config: ClientSettings, router: ReplyRouter, count: int, *, mode: str = "auto", concurrency: int = 50
) -> AsyncIterator[list[Client]]:
    """`count` MCP clients on one shared reply queue, connected `concurrency` at a time.

    Each client lives in a task of its own (a client must be closed by the task that opened it),
    and all of them close when the pool exits.
    """
    clients: list[Client] = []
    limiter = anyio.Semaphore(concurrency)
    release = anyio.Event()

    async def hold(*, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        await limiter.acquire()
        connecting = True
        try:
            async with Client(connect(config, replies=router), mode=mode) as client:  # pyright: ignore[reportArgumentType]
                limiter.release()
                connecting = False
                clients.append(client)
                task_status.started()
                await release.wait()
        finally:
            if connecting:
                limiter.release()

    async with anyio.create_task_group() as tg:
        async with anyio.create_task_group() as starting:
            for _ in range(count):
                starting.start_soon(tg.start, hold)
        try:
            yield clients
        finally:
            release.set()
