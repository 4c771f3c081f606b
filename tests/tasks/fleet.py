"""A task server for a fleet of `asyncmcp serve` processes, and a client CLI for separate processes.

`asyncmcp serve ... tests.tasks.fleet:server` serves `long`, a task tool that records which
process ran it, with its tasks in the DynamoDB table `ASYNCMCP_TASK_TABLE` and the fleet's state
key. `python -m tests.tasks.fleet start QUEUE_URL` starts a task and prints its id;
`python -m tests.tasks.fleet fetch QUEUE_URL TASK_ID` waits for it and prints the result text.
"""

from __future__ import annotations

import os
import sys

import anyio
from mcp import Client
from mcp.server import MCPServer

from asyncmcp import SqsClientConfig
from asyncmcp.connecting import connect
from asyncmcp.tasks import CreateTaskResult, TasksClient, TasksExtension, start_task, wait_for_task
from asyncmcp.tasks.dynamodb import DynamoTaskStore

CLIENT_ID = "crash-test-app"

tasks = TasksExtension(
    {"long": "required"},
    store=DynamoTaskStore(os.environ.get("ASYNCMCP_TASK_TABLE", "tasks")),
    poll_interval_ms=100,
    heartbeat_seconds=0.5,
)
server = MCPServer("task-fleet", extensions=[tasks])


@server.tool()
async def long(seconds: float, runs: str) -> str:
    """Stands in for a two-hour tool: notes this process in `runs`, then takes `seconds`."""
    async with await anyio.open_file(runs, "a") as log:
        await log.write(f"{os.getpid()}\n")
    await anyio.sleep(seconds)
    return f"finished by {os.getpid()}"


def _client(queue_url: str) -> Client:
    config = SqsClientConfig(read_queue_url=queue_url, client_id=CLIENT_ID)
    return Client(connect(config), mode="2026-07-28", extensions=[TasksClient()])


async def _start(queue_url: str, seconds: str, runs: str) -> None:
    async with _client(queue_url) as client:
        created = await start_task(client, "long", {"seconds": float(seconds), "runs": runs})
        assert isinstance(created, CreateTaskResult)
        print(created.task_id, flush=True)


async def _fetch(queue_url: str, task_id: str) -> None:
    async with _client(queue_url) as client:
        result = await wait_for_task(client, task_id)
        print(getattr(result.content[0], "text", ""), flush=True)


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    anyio.run(_start if command == "start" else _fetch, *rest)
