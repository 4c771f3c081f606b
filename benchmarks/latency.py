"""Round-trip latency, measured call by call against its floor, plus the idle poller and cold call.

This machine's speed drifts by 10-30% within minutes, so a floor measured a minute apart from the
figure it judges would move the ratio more than the transport does. Every iteration of the loop
therefore takes one sample of each figure back to back: a raw SQS round trip (the floor), a
tools/call over SQS in the 2026-07-28 era, one in the 2025-11-25 era, one through the proxy (judged
against the direct 2026 call of the same iteration; the proxy runs in its own process, as deployed,
with its own temporary reply queue) next to a bare GET of the proxy's `/healthz` (the price of
reaching that process over HTTP at all), one through the proxy's stdio front (a child process, as a
desktop client runs it), and, for comparison, a
tools/call over direct Streamable HTTP next to a plain HTTP POST on the same server (its floor).
The report compares medians of these paired series.

The raw floor is what any request/response over SQS must pay with the same client library
(aiobotocore) and no MCP: send, long-poll receive and delete on the request queue, then the same
on the reply queue.

The headline run times calls **back to back**, as an agent makes them: no pause, so whatever one
call leaves behind (deletes waiting to batch, a poll being rebuilt) is charged to the next. A
second run pauses `QUIET_SECONDS` before each sample, which isolates one call's own cost; it is
also the run the proxy and HTTP figures use, so each is judged against a direct call measured the
same way.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
from mcp import Client, StdioServerParameters

from asyncmcp.channels.http_server import serve_asgi
from asyncmcp.channels.sqs.channel import DELETE_LINGER_SECONDS
from asyncmcp.client.replies import ReplyRouter
from asyncmcp.codec import ATTR_CLIENT_ID, ATTR_REPLY_TO
from asyncmcp.sqs import SqsClientConfig, SqsWorker, sqs_client, sqs_reply_queue
from benchmarks.harness import proxy_process, raw_sqs

__all__ = [
    "QUIET_SECONDS",
    "IdleResult",
    "RoundTrips",
    "SqsStack",
    "echo",
    "http_server",
    "long_poll",
    "measure_idle",
    "measure_round_trips",
    "sqs_stack",
    "timed",
]

QUIET_SECONDS = 0.04
"""Pause before each timed call of the paused run: time for a call's own follow-up work to settle."""

_ECHO_ARGS = {"text": "x" * 64}
_RAW_BODY = json.dumps(
    {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": _ECHO_ARGS}}
)
_RAW_ATTRIBUTES = {
    ATTR_CLIENT_ID: {"DataType": "String", "StringValue": "0" * 32},
    ATTR_REPLY_TO: {"DataType": "String", "StringValue": "http://127.0.0.1/000000000000/bench-reply"},
}
"""The routing attributes an MCP request carries, so the floor moves as many bytes as the transport."""


@dataclass
class RoundTrips:
    """Seconds per round trip, one list per figure, sample i of each taken in the same iteration."""

    series: dict[str, list[float]] = field(default_factory=dict[str, list[float]])

    def add(self, name: str, seconds: float) -> None:
        self.series.setdefault(name, []).append(seconds)


@dataclass
class SqsStack:
    """An in-process worker and MCP clients of both eras sharing one reply queue."""

    worker: SqsWorker
    router: ReplyRouter
    modern: Client
    legacy: Client
    config: SqsClientConfig
    stack: AsyncExitStack

    def calls(self) -> Counter[str]:
        """Billable SQS calls so far, server side plus client side."""
        assert self.worker.binding is not None
        return self.worker.binding.channel.calls + self.router.channel.calls


@asynccontextmanager
async def sqs_stack(worker: SqsWorker, request_url: str, reply_url: str) -> AsyncIterator[SqsStack]:
    config = SqsClientConfig(read_queue_url=request_url, response_queue_url=reply_url)
    async with AsyncExitStack() as stack:
        router = await stack.enter_async_context(sqs_reply_queue(config))
        modern = await stack.enter_async_context(Client(sqs_client(config, replies=router)))
        legacy = await stack.enter_async_context(Client(sqs_client(config, replies=router), mode="legacy"))
        yield SqsStack(worker, router, modern, legacy, config, stack)


async def echo(client: Client) -> None:
    result = await client.call_tool("echo", _ECHO_ARGS)
    if result.is_error:
        raise RuntimeError(f"echo failed: {result.content}")


async def long_poll(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Long-poll `url` with a plain client until something arrives (the floors' receive)."""
    messages: list[dict[str, Any]] = []
    while not messages:
        response = await sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=20, MessageAttributeNames=["All"]
        )
        messages = response.get("Messages", [])
    return messages


async def raw_round_trip(sqs: Any, request_url: str, reply_url: str) -> None:
    """The floor: send, long-poll receive, delete, on the request queue and then on the reply queue."""
    for url in (request_url, reply_url):
        await sqs.send_message(QueueUrl=url, MessageBody=_RAW_BODY, MessageAttributes=_RAW_ATTRIBUTES)
        for message in await long_poll(sqs, url):
            await sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


async def timed(action: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await action()
    return time.perf_counter() - start


Figure = tuple[str, Callable[[], Awaitable[None]]]
"""A named action whose every run is one sample of that figure."""


async def interleaved(
    figures: list[Figure],
    *,
    samples: int,
    warmup: int,
    quiet_seconds: float = 0.0,
    lead_in: bool = False,
    into: RoundTrips | None = None,
) -> RoundTrips:
    """One sample of each figure per iteration, in turn (so the machine's drift hits them alike), back
    to back unless `quiet_seconds` pause before each; the first `warmup` iterations are discarded.

    `lead_in` runs each figure once untimed right before its timed run: what a call leaves behind
    (its connection's wind-down, tasks still finishing) is then charged to the next call of the same
    figure, as for an agent calling one server back to back, and never to another figure's sample.
    """
    out = into if into is not None else RoundTrips()
    for iteration in range(warmup + samples):
        for name, action in figures:
            if quiet_seconds:
                await anyio.sleep(quiet_seconds)
            if lead_in:
                await action()
            seconds = await timed(action)
            if iteration >= warmup:
                out.add(name, seconds)
    return out


async def measure_round_trips(
    stack: SqsStack,
    raw_request_url: str,
    raw_reply_url: str,
    *,
    samples: int,
    warmup: int = 5,
    http: bool = True,
    proxy: bool = True,
    quiet_seconds: float = QUIET_SECONDS,
) -> RoundTrips:
    """Interleave one sample of every figure per iteration; `warmup` iterations are discarded.

    `quiet_seconds` pauses before each timed call; 0 times calls back to back, as an agent makes
    them (the headline figure: whatever one call leaves behind is charged to the next).
    """
    out = RoundTrips()
    async with raw_sqs() as sqs, AsyncExitStack() as exits:
        figures: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("raw", lambda: raw_round_trip(sqs, raw_request_url, raw_reply_url)),
            ("modern", lambda: echo(stack.modern)),
            ("legacy", lambda: echo(stack.legacy)),
        ]
        if proxy:
            proxy_url = await exits.enter_async_context(proxy_process(stack.config.read_queue_url))
            through_proxy = await exits.enter_async_context(Client(proxy_url))
            proxy_plain = httpx2.AsyncClient(base_url=proxy_url.removesuffix("/mcp"))
            exits.push_async_callback(proxy_plain.aclose)

            async def proxy_ping() -> None:
                (await proxy_plain.get("/healthz")).raise_for_status()

            # The stdio front, as a desktop client launches it (`command` + `args`).
            stdio_proxy = await exits.enter_async_context(Client(_stdio_proxy(stack.config.read_queue_url)))
            figures += [
                ("proxy", lambda: echo(through_proxy)),
                ("proxy-raw", proxy_ping),
                ("proxy-stdio", lambda: echo(stdio_proxy)),
            ]
        if http:
            base = await exits.enter_async_context(http_server(stack.worker.server))
            plain = httpx2.AsyncClient(base_url=base)
            exits.push_async_callback(plain.aclose)
            streamable = await exits.enter_async_context(Client(f"{base}/mcp"))

            async def ping() -> None:
                (await plain.post("/bench-ping", content=_RAW_BODY)).raise_for_status()

            figures += [("http-raw", ping), ("http", lambda: echo(streamable))]
        await interleaved(figures, samples=samples, warmup=warmup, quiet_seconds=quiet_seconds, into=out)
    return out


def _stdio_proxy(request_url: str) -> StdioServerParameters:
    """`asyncmcp proxy --stdio` as an MCP client launches it; it makes its own temporary reply queue."""
    args = ["-m", "asyncmcp", "proxy", "--stdio", "--request-queue-url", request_url]
    return StdioServerParameters(command=sys.executable, args=args, env=dict(os.environ))


@asynccontextmanager
async def http_server(server: Any) -> AsyncIterator[str]:
    """Serve `server.streamable_http_app()` with uvicorn on 127.0.0.1, plus a bare POST route as its floor."""
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def bench_ping(request: Request) -> Response:
        return Response(await request.body(), media_type="application/json")

    app = server.streamable_http_app()
    app.router.routes.append(Route("/bench-ping", bench_ping, methods=["POST"]))
    async with serve_asgi(app, "127.0.0.1", 0, lifespan=True) as port:
        yield f"http://127.0.0.1:{port}"


@dataclass
class IdleResult:
    """What an idle client and worker cost, and how the first call after the pause compares."""

    window_seconds: float
    pollers: int
    calls: Counter[str]
    receive_intervals: list[float]
    first_calls: list[float]
    """The first call after each pause (the first pause is the counted window, later ones `pause_seconds`)."""
    warm_after: list[float]
    """Warm calls taken right after each first call: the floor the first calls are judged against."""
    pause_seconds: float

    def other_calls_per_minute(self) -> float:
        """Calls other than long polls, per minute and poller (deletes, visibility changes)."""
        others = sum(count for name, count in self.calls.items() if name != "ReceiveMessage")
        return others / self.pollers / (self.window_seconds / 60)

    def counted_per_minute(self) -> float:
        """All calls in the window, per minute and poller (rounded by where the window cuts the polls)."""
        return sum(self.calls.values()) / self.pollers / (self.window_seconds / 60)

    def per_minute(self) -> float:
        """Steady rate per poller: 60 s over the mean gap between long polls, plus any other calls.

        Falls back to the count over the window when the window held fewer than two polls per poller.
        """
        if not self.receive_intervals:
            return self.counted_per_minute()
        gap = sum(self.receive_intervals) / len(self.receive_intervals)
        return 60.0 / gap + self.other_calls_per_minute()


async def measure_idle(
    stack: SqsStack, *, idle_seconds: float, pauses: int = 1, pause_seconds: float = 31.0, warm_calls: int = 10
) -> IdleResult:
    """Stay idle for `idle_seconds`, counting every SQS call, then time one tools/call (2026 era).

    Then `warm_calls` more calls give the warm median it is compared with, measured right next to
    it. One first call against a median is one sample against a typical value, so `pauses - 1`
    further pauses of `pause_seconds` add more first calls and the report takes their median.

    Two pollers run while idle: the worker's receive loop and the client's shared reply receiver.
    Counters are sampled every 50 ms so the gaps between consecutive long polls of each poller can
    be read off, which gives the poll rate without the rounding of a count over a short window.
    """
    assert stack.worker.binding is not None
    apis = [stack.worker.binding.channel, stack.router.channel]
    # What the calls before left is theirs, not idleness's (the cost rows count it): their deletes
    # wait up to DELETE_LINGER_SECONDS for company before they are sent.
    await anyio.sleep(DELETE_LINGER_SECONDS + 0.5)
    before = stack.calls()
    last_count = [api.calls["ReceiveMessage"] for api in apis]
    last_seen: list[float | None] = [None for _ in apis]
    intervals: list[float] = []
    start = time.monotonic()
    while (now := time.monotonic()) - start < idle_seconds:
        for index, api in enumerate(apis):
            count = api.calls["ReceiveMessage"]
            if count != last_count[index]:
                seen = last_seen[index]
                if seen is not None and count == last_count[index] + 1:
                    intervals.append(now - seen)
                last_seen[index] = now
                last_count[index] = count
        await anyio.sleep(0.05)
    window = time.monotonic() - start
    calls = stack.calls() - before
    firsts: list[float] = []
    warm: list[float] = []
    for pause in range(pauses):
        if pause:
            await anyio.sleep(pause_seconds)
        firsts.append(await timed(lambda: echo(stack.modern)))
        warm += [await timed(lambda: echo(stack.modern)) for _ in range(warm_calls)]
    return IdleResult(window, len(apis), calls, intervals, firsts, warm, pause_seconds if pauses > 1 else window)
