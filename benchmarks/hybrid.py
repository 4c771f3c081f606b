"""The Streamable HTTP + webhook hybrid against the SDK's plain Streamable HTTP server, and what it holds open.

Round trips: one in-process `MCPServer` served two ways at once, as a hybrid (its `echo` answered
inline, its `echo_later` the same tool answered by webhook) and by the SDK's own
`streamable_http_app()` on uvicorn (the floor). A hybrid client and a plain SDK client of each era,
interleaved call by call, back to back, all on 127.0.0.1.

Each timed call comes right after an untimed call of the same figure (`interleaved(lead_in=True)`).
Without it every sample paid for the figure timed before it: a call's wind-down (its SSE stream and
server task closing, the 2025 session's bookkeeping, a webhook's delivery finishing) and the switch to
another client, server and connection, up to 0.5 ms on a 2 ms call. Which figure came first then
decided the ratio more than the transport did: the same build measured 0.94x or 1.28x for the inline
call at 2026-07-28 with only the order of the figures swapped.

Both sides are set up alike: both servers run under `serve_asgi` (the same uvicorn settings, the
listening socket TCP, so accepted connections get TCP_NODELAY), both clients are httpx2 clients with
the SDK's timeouts (30 s, 300 s to read) and default keep-alive pools. At 2025-11-25 the SDK's client
closes each POST's SSE answer before its end, which drops the connection, so every 2025 call of
either server pays a TCP connect. The hybrid's app sits inside an `InFlight` counter (for the
held-open figure; a few attribute updates per request).

Held open: 100 calls of a webhook tool that sleeps 5 s, all running at once; while they run, the
HTTP requests in progress on the server (the proxy's `InFlight` counter around the app: POSTs and
DELETEs, not a 2025 session's standing GET stream) and the TCP connections
established to its port (/proc/net/tcp, seen from the server's side; idle keep-alive connections of
the clients' pools count there, held requests are what matters) are read.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
from mcp import Client
from mcp.server import MCPServer
from starlette.applications import Starlette

from asyncmcp.channels.http_server import serve_asgi
from asyncmcp.proxy.http import InFlight
from asyncmcp.streamable_http_webhook import (
    HybridServer,
    StreamableHTTPWebhookClientConfig,
    StreamableHTTPWebhookConfig,
    generate_secret,
    mount_streamable_http_webhook,
    streamable_http_webhook_client,
)
from benchmarks.latency import RoundTrips, http_server, interleaved

__all__ = ["HeldOpen", "HybridStack", "hybrid_stack", "measure_held_open", "measure_hybrid_round_trips"]

_ARGS = {"text": "hello"}


def _bench_server() -> MCPServer:
    server = MCPServer("asyncmcp-bench-hybrid", log_level="WARNING")

    @server.tool()
    async def echo(text: str) -> str:
        """Return the text (answered inline)."""
        return text

    @server.tool()
    async def echo_later(text: str) -> str:
        """Return the text (answered by webhook)."""
        return text

    @server.tool()
    async def wait(seconds: float) -> str:
        """Sleep `seconds` (answered by webhook): the held-open figure."""
        await anyio.sleep(seconds)
        return "done"

    return server


def established_to(port: int) -> int:
    """TCP connections in state ESTABLISHED whose local port is `port` (the server's side of each)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


@dataclass
class HybridStack:
    url: str
    port: int
    hybrid: HybridServer
    in_progress: InFlight
    secret: str
    clients: dict[str, Client]

    def client_config(self) -> StreamableHTTPWebhookClientConfig:
        return StreamableHTTPWebhookClientConfig(server_url=self.url, signing_secrets=(self.secret,))


@asynccontextmanager
async def hybrid_stack() -> AsyncIterator[HybridStack]:
    server = _bench_server()
    secret = generate_secret()
    config = StreamableHTTPWebhookConfig(
        signing_secrets=(secret,), allow_loopback=True, webhook_tools=frozenset({"echo_later", "wait"})
    )
    app = Starlette()
    in_progress = InFlight(app)
    async with AsyncExitStack() as stack:
        hybrid = await stack.enter_async_context(mount_streamable_http_webhook(app, server, config))
        port = await stack.enter_async_context(serve_asgi(in_progress, "127.0.0.1", 0))
        url = f"http://127.0.0.1:{port}/mcp"
        base = await stack.enter_async_context(http_server(_bench_server()))
        client_config = StreamableHTTPWebhookClientConfig(server_url=url, signing_secrets=(secret,))
        clients = {
            "hybrid-modern": Client(streamable_http_webhook_client(client_config)),
            "hybrid-legacy": Client(streamable_http_webhook_client(client_config), mode="legacy"),
            "http-modern": Client(f"{base}/mcp"),
            "http-legacy": Client(f"{base}/mcp", mode="legacy"),
        }
        for client in clients.values():
            await stack.enter_async_context(client)
        yield HybridStack(url, port, hybrid, in_progress, secret, clients)


async def _call(client: Client, tool: str) -> None:
    result = await client.call_tool(tool, _ARGS)
    if result.is_error:
        raise RuntimeError(f"{tool} failed: {result.content}")


async def measure_hybrid_round_trips(stack: HybridStack, *, samples: int, warmup: int) -> RoundTrips:
    """Per iteration, one sample of each figure, each after an untimed call of its own: `echo` plainly,
    `echo` inline and `echo_later` by webhook on the hybrid, per era; `warmup` iterations discarded."""
    figures: list[tuple[str, Callable[[], Awaitable[None]]]] = []
    for era in ("modern", "legacy"):
        http, hybrid = stack.clients[f"http-{era}"], stack.clients[f"hybrid-{era}"]
        figures += [
            (f"http-{era}", lambda client=http: _call(client, "echo")),
            (f"inline-{era}", lambda client=hybrid: _call(client, "echo")),
            (f"webhook-{era}", lambda client=hybrid: _call(client, "echo_later")),
        ]
    return await interleaved(figures, samples=samples, warmup=warmup, lead_in=True)


@dataclass
class HeldOpen:
    calls: int
    tool_seconds: float
    requests_in_progress: int = -1
    """POSTs the server was still answering while every call ran (the target: none)."""
    connections: int = -1
    """TCP connections established to the server meanwhile (idle keep-alive ones included)."""
    running: int = -1
    """Webhook tools the server was running when the counts were read (all `calls`, or the read was early)."""
    wall_seconds: float = 0.0


async def measure_held_open(stack: HybridStack, *, calls: int, tool_seconds: float) -> HeldOpen:
    """`calls` webhook calls of `wait(tool_seconds)` at once over one hybrid client."""
    out = HeldOpen(calls, tool_seconds)
    client = stack.clients["hybrid-modern"]
    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(calls):
            tg.start_soon(client.call_tool, "wait", {"seconds": tool_seconds})
        with anyio.move_on_after(tool_seconds / 2):  # read once every call runs, while all of them still do
            while len(stack.hybrid.calls.running()) < calls:  # noqa: ASYNC110 (the server offers no event)
                await anyio.sleep(0.01)
        out.running = len(stack.hybrid.calls.running())
        out.requests_in_progress = stack.in_progress.count
        out.connections = established_to(stack.port)
    out.wall_seconds = time.perf_counter() - start
    return out
