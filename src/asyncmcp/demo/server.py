"""The demo server: an ordinary `MCPServer`, nothing queue-specific in it.

`asyncmcp serve asyncmcp.demo.server:server --request-queue-url URL` puts it behind a queue.
"""

from __future__ import annotations

import anyio
from mcp.server import MCPServer
from mcp.server.caching import CacheHint
from mcp.server.mcpserver import Context

server = MCPServer(
    "asyncmcp-demo",
    instructions="A demo server with a slow tool that reports progress.",
    # Its tools and capabilities never change: clients may keep its discover answer and its listing a
    # minute (SEP-2549), so a client process's later connections open without discovering and make
    # their first call without listing again (docs/architecture.md).
    cache_hints={"server/discover": CacheHint(ttl_ms=60_000), "tools/list": CacheHint(ttl_ms=60_000)},
)


@server.tool()
async def crunch(rows: int, ctx: Context) -> str:
    """Pretend to process `rows` rows in batches, reporting progress after each batch."""
    batches = 5
    for batch in range(1, batches + 1):
        await anyio.sleep(0.3)
        await ctx.report_progress(batch, batches, f"processed {rows * batch // batches} of {rows} rows")
    return f"processed {rows} rows"


@server.tool()
async def echo(text: str) -> str:
    """Return the text unchanged."""
    return text
