"""The server every benchmark figure is measured against: an ordinary `MCPServer`.

It lives in the package so worker processes can load it by name
(`asyncmcp serve benchmarks.server:server ...`) and the in-process figures use the very same
object; the tools are as small as possible so the transport, not the tool, is what gets timed.
"""

from __future__ import annotations

import anyio
from mcp.server import MCPServer

__all__ = ["WORK_SECONDS", "server"]

WORK_SECONDS = 0.05
"""How long the `work` tool sleeps: the fixed service time the throughput figure is built on."""

server = MCPServer("asyncmcp-bench", log_level="WARNING")


@server.tool()
async def echo(text: str) -> str:
    """Return the text unchanged (the latency and cost figures)."""
    return text


@server.tool(structured_output=False)
async def blob(size: int) -> str:
    """Return `size` characters (the large-payload figures, carried through S3). Unstructured, so the
    result carries the text once (a structured `str` result carries it twice: content and structuredContent)."""
    return "x" * size


@server.tool()
async def work(seconds: float = WORK_SECONDS) -> str:
    """Sleep for `seconds`, holding one of the worker's in-flight slots (the throughput figure)."""
    await anyio.sleep(seconds)
    return "done"
