"""MCP servers the tests serve over the queues: real `MCPServer` and lowlevel `Server` apps."""

from __future__ import annotations

import os
from typing import Annotated

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context, Elicit, Resolve, Sample
from mcp.types import CreateMessageResult, SamplingMessage, TextContent
from pydantic import BaseModel

from asyncmcp.server.engine import RequestFacts

CALLS: list[str] = []
"""Tool invocations in this process, for tests that count how often a tool ran."""


class Favourite(BaseModel):
    """What the elicitation tools ask the user for."""

    colour: str


async def ask_colour() -> Elicit[Favourite]:
    """Resolver: ask the client's user for a colour (push on 2025, input_required on 2026)."""
    return Elicit("Which colour?", Favourite)


async def ask_model(topic: str) -> Sample:
    """Resolver: sample the client's LLM about `topic`."""
    return Sample([SamplingMessage(role="user", content=TextContent(type="text", text=f"say {topic}"))], max_tokens=16)


def _text_of(result: CreateMessageResult) -> str:
    content = result.content
    return content.text if isinstance(content, TextContent) else repr(content)


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
    def record(path: str) -> str:
        """Append this worker's pid to the file at `path` (how a test counts runs across processes)."""
        with open(path, "a", encoding="utf-8") as file:
            file.write(f"{os.getpid()}\n")
        return "recorded"

    @mcp.tool()
    async def attributes(ctx: Context) -> str:
        """The message attributes the request arrived with, as `name=value` lines (sorted)."""
        facts = ctx.request_context.request
        seen = facts.attributes if isinstance(facts, RequestFacts) else {}
        return "\n".join(f"{name}={value}" for name, value in sorted(seen.items()))

    @mcp.tool()
    async def big(size: int) -> str:
        """Return `size` characters."""
        return "x" * size

    @mcp.tool()
    async def chatty(ctx: Context) -> str:
        """Send log messages at two levels while running."""
        await ctx.debug("a debug line")
        await ctx.info("an info line")
        await ctx.log("warning", {"detail": "a warning"}, logger_name="tests")
        return "logged"

    @mcp.tool()
    async def ask_push(ctx: Context) -> str:
        """Elicit with a 2025 server-to-client request (`ctx.elicit`)."""
        outcome = await ctx.elicit("Which colour?", Favourite)
        return f"{outcome.action}:{outcome.data.colour}" if outcome.action == "accept" else outcome.action

    @mcp.tool()
    async def sample_push(topic: str, ctx: Context) -> str:
        """Sample with a 2025 server-to-client request (`ctx.session.create_message`)."""
        result = await ctx.session.create_message(
            [SamplingMessage(role="user", content=TextContent(type="text", text=f"say {topic}"))], max_tokens=16
        )
        return f"model said {_text_of(result)}"

    @mcp.tool()
    async def ask_resolved(favourite: Annotated[Favourite, Resolve(ask_colour)]) -> str:
        """Elicit through `Resolve(Elicit)`: era-portable."""
        return f"colour {favourite.colour}"

    @mcp.tool()
    async def sample_resolved(topic: str, answer: Annotated[CreateMessageResult, Resolve(ask_model)]) -> str:
        """Sample through `Resolve(Sample)`: era-portable."""
        return f"model said {_text_of(answer)} about {topic}"

    @mcp.tool()
    async def grow(name: str, ctx: Context) -> str:
        """Add a tool named `name` and tell `subscriptions/listen` subscribers the tool list changed."""

        async def added() -> str:
            return f"I am {name}"

        mcp.add_tool(added, name=name, description="Added at run time.")
        await ctx.notify_tools_changed()
        return f"added {name}"

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


class ProgressProbe:
    """A server with a `counted` tool that reports `steps` steps and answers only once the client saw them all.

    Pass `probe.on_progress` as the call's progress callback; `probe.seen` collects what arrived and
    `probe.expected` is what must arrive (in any order: a standard queue may reorder frames).
    """

    def __init__(self, steps: int = 4) -> None:
        self.steps = steps
        self.seen: list[tuple[float, float | None, str | None]] = []
        self._all_seen = anyio.Event()
        self.server = build_server()

        @self.server.tool()
        async def counted(ctx: Context) -> str:
            """Report the steps, then wait for the client to have seen them all."""
            for step in range(1, steps + 1):
                await ctx.report_progress(step, steps, f"step {step}")
            await self._all_seen.wait()
            return "counted"

    @property
    def expected(self) -> list[tuple[float, float | None, str | None]]:
        return [(step, self.steps, f"step {step}") for step in range(1, self.steps + 1)]

    async def on_progress(self, progress: float, total: float | None, message: str | None) -> None:
        self.seen.append((progress, total, message))
        if len(self.seen) == self.steps:
            self._all_seen.set()
