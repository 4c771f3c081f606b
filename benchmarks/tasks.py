"""Tasks (SEP-2663) over SQS with the DynamoDB store: what a task costs against a plain call.

Three figures, interleaved call by call on one client and one in-process worker, so the machine's
drift hits them alike:

- `plain`: a `tools/call` of a task-capable tool from a client that does not declare the
  extension (the same tool, answered directly): the floor;
- `create`: `tools/call` to `CreateTaskResult` from a client that declares it (the durable create
  in DynamoDB is inside this figure);
- `seen`: from the moment the tool returned (stamped by the tool, same process and clock) to the
  client's `tasks/get` seeing `completed`. The client polls at the task's `pollIntervalMs`
  (`POLL_INTERVAL_MS`), so this is about half that interval plus one round trip.

Store calls per task are counted by the store itself (`DynamoTaskStore.calls`, every task of the
run, the polls included) and priced at DynamoDB's on-demand rates (`cost_per_task`).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Final

import anyio
from mcp import Client
from mcp.server import MCPServer

from asyncmcp.sqs import SqsClientConfig, SqsServerConfig, SqsWorker, sqs_client, sqs_reply_queue
from asyncmcp.tasks import CreateTaskResult, TasksClient, TasksExtension, get_task, start_task
from asyncmcp.tasks.dynamodb import DynamoTaskStore, create_task_table

__all__ = ["POLL_INTERVAL_MS", "TaskFigures", "cost_per_task", "measure_tasks"]

POLL_INTERVAL_MS: Final = 100
"""What the bench server asks clients to poll at: short, so the figure is about the transport."""

PRICE_PER_MILLION_READS: Final = 0.125
"""DynamoDB on-demand, us-east-1: read request units (a consistent read of up to 4 KB is one)."""

PRICE_PER_MILLION_WRITES: Final = 0.625
"""DynamoDB on-demand, us-east-1: write request units (a write of up to 1 KB is one; a transactional
write costs two per item)."""

_UNITS: Final = {"GetItem": (1, 0), "PutItem": (0, 1), "TransactWriteItems": (0, 4)}
"""(read units, write units) per call for the small items a task writes (a create puts two items)."""


@dataclass
class TaskFigures:
    series: dict[str, list[float]] = field(default_factory=dict[str, list[float]])
    store_calls: Counter[str] = field(default_factory=Counter[str])
    tasks: int = 0

    def add(self, name: str, seconds: float) -> None:
        self.series.setdefault(name, []).append(seconds)

    def calls_per_task(self) -> dict[str, float]:
        return {name: count / self.tasks for name, count in sorted(self.store_calls.items())} if self.tasks else {}


def cost_per_task(figures: TaskFigures) -> float:
    """Dollars of DynamoDB on-demand capacity one task (create, run, polls until seen) costs."""
    reads = sum(_UNITS.get(name, (0, 0))[0] * n for name, n in figures.calls_per_task().items())
    writes = sum(_UNITS.get(name, (0, 0))[1] * n for name, n in figures.calls_per_task().items())
    return (reads * PRICE_PER_MILLION_READS + writes * PRICE_PER_MILLION_WRITES) / 1e6


async def _completed(client: Client, task_id: str) -> float:
    """Poll as a client does, at the task's interval; when `completed` was seen."""
    while True:
        if (await get_task(client, task_id)).status == "completed":
            return time.perf_counter()
        await anyio.sleep(POLL_INTERVAL_MS / 1000)


def _task_server(store: DynamoTaskStore, finished: dict[str, float]) -> MCPServer:
    tasks = TasksExtension({"job": "optional"}, store=store, key="bench", poll_interval_ms=POLL_INTERVAL_MS)
    server = MCPServer("asyncmcp-bench-tasks", log_level="WARNING", extensions=[tasks])

    @server.tool()
    async def job(label: str) -> str:
        """Returns at once and notes when, so the time until a client sees `completed` is measurable."""
        finished[label] = time.perf_counter()
        return label

    return server


async def measure_tasks(request_url: str, reply_url: str, *, samples: int, warmup: int) -> TaskFigures:
    """Interleave a plain call, a task's creation and its completion being seen, `samples` times each."""
    table = f"bench-tasks-{uuid.uuid4().hex[:8]}"
    await create_task_table(table)
    finished: dict[str, float] = {}
    figures = TaskFigures()
    config = SqsClientConfig(read_queue_url=request_url, response_queue_url=reply_url)
    async with (
        DynamoTaskStore(table) as store,
        SqsWorker(_task_server(store, finished), SqsServerConfig(read_queue_url=request_url)),
        # One receiver on the shared reply queue: two would take each other's answers and hand them back.
        sqs_reply_queue(config) as router,
        Client(sqs_client(config, replies=router), mode="2026-07-28") as plain,
        Client(sqs_client(config, replies=router), mode="2026-07-28", extensions=[TasksClient()]) as tasks,
    ):
        for index in range(warmup + samples):
            measured = index >= warmup
            label = f"call-{index}"
            start = time.perf_counter()
            await plain.call_tool("job", {"label": label})
            if measured:
                figures.add("plain", time.perf_counter() - start)
            start = time.perf_counter()
            created = await start_task(tasks, "job", {"label": f"task-{index}"})
            if not isinstance(created, CreateTaskResult):
                raise RuntimeError("the bench server answered a task tool without a task")
            created_at = time.perf_counter()
            seen = await _completed(tasks, created.task_id)
            if measured:
                figures.add("create", created_at - start)
                figures.add("seen", seen - finished[f"task-{index}"])
    # Counted once the worker has stopped, so each task's last write (its lease handed back) is in.
    figures.store_calls, figures.tasks = Counter(store.calls), warmup + samples
    return figures
