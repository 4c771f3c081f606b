"""The server every benchmark figure is measured against: an ordinary `MCPServer`.

It lives in the package so worker processes can load it by name
(`asyncmcp serve benchmarks.server:server ...`) and the in-process figures use the very same
object; the tools are as small as possible so the transport, not the tool, is what gets timed.

`keeping_server` serves the same tools and says its listing stays fresh for a minute (SEP-2549
`ttlMs`, what a server whose tools do not change can say), and `keeping_all_server` says so of its
`server/discover` answer too: the time-to-first-result figure is measured against all three, since
a client may then keep the listing a first call needs, and the discover a new client opens with.
"""

from __future__ import annotations

from collections.abc import Mapping

import anyio
from mcp.server import MCPServer
from mcp.server.caching import CacheableMethod, CacheHint

__all__ = ["LISTING_TTL_MS", "WORK_SECONDS", "keeping_all_server", "keeping_server", "server"]

WORK_SECONDS = 0.05
"""How long the `work` tool sleeps: the fixed service time the throughput figure is built on."""

LISTING_TTL_MS = 60_000
"""How long `keeping_server` says its `tools/list` answer stays fresh (and `keeping_all_server` both)."""


async def echo(text: str) -> str:
    """Return the text unchanged (the latency and cost figures)."""
    return text


async def blob(size: int) -> str:
    """Return `size` characters (the large-payload figures, carried through S3). Unstructured, so the
    result carries the text once (a structured `str` result carries it twice: content and structuredContent)."""
    return "x" * size


async def work(seconds: float = WORK_SECONDS) -> str:
    """Sleep for `seconds`, holding one of the worker's in-flight slots (the throughput figure)."""
    await anyio.sleep(seconds)
    return "done"


def _bench_server(name: str, cache_hints: Mapping[CacheableMethod, CacheHint] | None = None) -> MCPServer:
    built = MCPServer(name, log_level="WARNING", cache_hints=cache_hints)
    built.tool()(echo)
    built.tool(structured_output=False)(blob)
    built.tool()(work)
    return built


server = _bench_server("asyncmcp-bench")
keeping_server = _bench_server("asyncmcp-bench-keeping", {"tools/list": CacheHint(ttl_ms=LISTING_TTL_MS)})
keeping_all_server = _bench_server(
    "asyncmcp-bench-keeping-all",
    {"server/discover": CacheHint(ttl_ms=LISTING_TTL_MS), "tools/list": CacheHint(ttl_ms=LISTING_TTL_MS)},
)
