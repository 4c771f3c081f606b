"""MCP servers the tests serve over the queues: real `MCPServer` and lowlevel `Server` apps."""

from __future__ import annotations

import os

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context

from asyncmcp.server.engine import RequestFacts

CALLS: list[str] = []
"""Tool invocations in this process, for tests that count how often a tool ran."""


def build_server(name: str = "test-server") -> MCPServer:
    mcp = MCPServer(name)

    @mcp.tool()
    async def echo(text: str) -> str:
        """Return the text."""
        CALLS.append(f"echo:{text}")
        return text

    @mcp.tool()
    async def slow(steps: int, ctx: Context, delay: float = 0.05) -> str:
        """Report progress for `steps` steps."""
        CALLS.append("slow")
        for step in range(1, steps + 1):
            await anyio.sleep(delay)
            await ctx.report_progress(step, steps, f"step {step}")
        return f"done {steps}"

    @mcp.tool()
    async def block(marker: str) -> str:
        """Block until cancelled; records that it started."""
        CALLS.append(f"block:{marker}")
        try:
            await anyio.sleep(3600)
        finally:
            CALLS.append(f"block-ended:{marker}")
        return "unreachable"

    @mcp.tool()
    async def whoami(ctx: Context) -> str:
        """Where this worker runs and what the transport told the handler."""
        facts = ctx.request_context.request
        client = facts.client_id if isinstance(facts, RequestFacts) else None
        return f"pid={os.getpid()} client={client}"

    @mcp.tool()
    async def big(size: int) -> str:
        """Return `size` characters."""
        return "x" * size

    @mcp.resource("memo://greeting")
    def greeting() -> str:
        """A fixed resource."""
        return "hello from a resource"

    @mcp.prompt()
    def review(code: str) -> str:
        """A prompt with one argument."""
        return f"Please review: {code}"

    return mcp


server = build_server()
