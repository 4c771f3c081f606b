"""A small task server for the tests: a tool for each way a task can end."""

from __future__ import annotations

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp.types import ElicitRequest, ElicitRequestFormParams, ElicitResult, InputRequiredResult

from asyncmcp.tasks import TasksExtension, TaskStore

POLL_MS = 50
"""Tests poll fast; the default (1 s) would only make them slower."""


def task_server(store: TaskStore | None = None, *, key: str = "test-fleet-key", heartbeat: float = 0.2) -> MCPServer:
    tasks = TasksExtension(
        {"slow": "optional", "broken": "optional", "crashing": "optional", "ask": "optional", "strict": "required"},
        store=store,
        key=key,
        poll_interval_ms=POLL_MS,
        heartbeat_seconds=heartbeat,
    )
    server = MCPServer("tasks-test", extensions=[tasks])

    @server.tool()
    async def slow(seconds: float, label: str = "done") -> str:
        await anyio.sleep(seconds)
        return f"slow {label}"

    @server.tool()
    async def broken() -> str:
        raise ToolError("the tool reports an error")

    @server.tool()
    async def crashing() -> str:
        raise MCPError(code=-32603, message="the server failed")

    @server.tool()
    async def ask(ctx: Context) -> str | InputRequiredResult:
        answer = (ctx.input_responses or {}).get("name")
        if isinstance(answer, ElicitResult) and answer.content:
            return f"hello {answer.content['name']}"
        schema = {"type": "object", "properties": {"name": {"type": "string"}}}
        return InputRequiredResult(
            input_requests={
                "name": ElicitRequest(params=ElicitRequestFormParams(message="name?", requested_schema=schema))
            }
        )

    @server.tool()
    async def strict() -> str:
        return "strict"

    @server.tool()
    async def plain(text: str) -> str:
        return text

    return server
