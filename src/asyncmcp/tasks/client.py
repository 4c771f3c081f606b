"""The client side of the Tasks extension: `mcp.Client` over any transport, asyncmcp's included.

`Client(transport, extensions=[TasksClient()])` declares the extension on every 2026-07-28
request and finishes a task transparently: `client.call_tool(...)` on a task tool returns the
tool's `CallToolResult` after polling `tasks/get` at the task's `pollIntervalMs`, as if the call
had been answered directly. Applications that want the handle (start now, come back later, maybe
from another process) use the functions below on a `Client` that has the same extension:
`start_task` returns the `CreateTaskResult` (or the plain result, when the server chose to
answer at once), and `get_task`, `wait_for_task`, `update_task`, `cancel_task` take a task id.
A task belongs to the client id that made it, so a later process fetching it connects with the
same `client_id` (asyncmcp's client configs; over plain HTTP the task id alone is the handle).

A task that asks for input (`input_required`) is answered by `on_input` when one is given
(`inputRequests` in, `inputResponses` out); without one, waiting fails with a message saying so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, Literal

import anyio
from mcp import Client, ClientSession
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, CallToolResult, ErrorData, Request, Result
from pydantic import Field

from asyncmcp.tasks.wire import EXTENSION_ID, TERMINAL, TaskIdParams, TaskUpdateParams

__all__ = [
    "CreateTaskResult",
    "DetailedTask",
    "InputAnswerer",
    "TasksClient",
    "cancel_task",
    "get_task",
    "start_task",
    "update_task",
    "wait_for_task",
]

DEFAULT_POLL_SECONDS: Final = 1.0
"""Poll interval when the server names none."""

InputAnswerer = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
"""Answers a task's `inputRequests` (key -> request) with `inputResponses` (key -> response)."""


class _Task(Result):
    """The fields every task shape carries (SEP-2663 `Task`)."""

    task_id: str
    status: str
    status_message: str | None = None
    created_at: str
    last_updated_at: str
    ttl_ms: int | None = None
    poll_interval_ms: int | None = None


class CreateTaskResult(_Task):
    """A `tools/call` answered with a task handle (`resultType: "task"`)."""

    result_type: Literal["task"] = "task"


class DetailedTask(_Task):
    """A task as `tasks/get` reports it: status, and the result, error or input requests it has."""

    result_type: str | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    input_requests: dict[str, Any] | None = Field(default=None)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


class _GetTask(Request[TaskIdParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    name_param = "taskId"


class _CancelTask(Request[TaskIdParams, Literal["tasks/cancel"]]):
    method: Literal["tasks/cancel"] = "tasks/cancel"
    name_param = "taskId"


class _UpdateTask(Request[TaskUpdateParams, Literal["tasks/update"]]):
    method: Literal["tasks/update"] = "tasks/update"
    name_param = "taskId"


class _Ack(Result):
    result_type: str | None = None


class TasksClient(ClientExtension):
    """Declares the Tasks extension and finishes tasks inside `Client.call_tool()`."""

    identifier = EXTENSION_ID

    def __init__(self, *, on_input: InputAnswerer | None = None) -> None:
        self.on_input = on_input

    def claims(self) -> Sequence[ResultClaim[Any]]:
        return (ResultClaim(result_type="task", model=CreateTaskResult, resolve=self._resolve),)

    async def _resolve(self, created: CreateTaskResult, ctx: ClaimContext) -> CallToolResult:
        return await _wait(ctx.session, created.task_id, _seconds(created.poll_interval_ms), self.on_input)


async def start_task(
    client: Client, name: str, arguments: dict[str, Any] | None = None
) -> CreateTaskResult | CallToolResult:
    """Call a tool and return its task handle, without waiting (the plain result if it is not a task).

    `client` must carry `TasksClient()` in its extensions, or the server makes no task.
    """
    result = await client.session.call_tool(name, arguments, allow_claimed=True)
    if isinstance(result, CreateTaskResult | CallToolResult):
        return result
    return CallToolResult.model_validate(result.model_dump(by_alias=True))


async def get_task(client: Client | ClientSession, task_id: str) -> DetailedTask:
    """The task's current state (`tasks/get`)."""
    return await _session(client).send_request(_GetTask(params=TaskIdParams(task_id=task_id)), DetailedTask)


async def cancel_task(client: Client | ClientSession, task_id: str) -> None:
    """Ask for the task to be cancelled (`tasks/cancel`; cooperative: see its status afterwards)."""
    await _session(client).send_request(_CancelTask(params=TaskIdParams(task_id=task_id)), _Ack)


async def update_task(client: Client | ClientSession, task_id: str, input_responses: dict[str, Any]) -> None:
    """Answer some or all of the task's `inputRequests` (`tasks/update`)."""
    params = TaskUpdateParams(task_id=task_id, input_responses=input_responses)
    await _session(client).send_request(_UpdateTask(params=params), _Ack)


async def wait_for_task(
    client: Client | ClientSession, task_id: str, *, on_input: InputAnswerer | None = None
) -> CallToolResult:
    """Poll the task until it ends and return its result (a failed task raises its error)."""
    return await _wait(_session(client), task_id, None, on_input)


async def _wait(
    session: ClientSession, task_id: str, interval: float | None, on_input: InputAnswerer | None
) -> CallToolResult:
    while True:
        task = await get_task(session, task_id)
        pause = interval if task.poll_interval_ms is None else _seconds(task.poll_interval_ms)
        if task.status == "completed":
            return CallToolResult.model_validate(task.result or {"content": []})
        if task.status == "failed":
            raise MCPError.from_error_data(ErrorData.model_validate(task.error or _unknown_failure()))
        if task.status == "cancelled":
            raise MCPError(code=INTERNAL_ERROR, message=f"task {task_id} was cancelled")
        if task.status == "input_required" and task.input_requests:
            if on_input is None:
                raise MCPError(
                    code=INTERNAL_ERROR,
                    message=f"task {task_id} asks for input: give TasksClient(on_input=...) or call update_task",
                )
            await update_task(session, task_id, await on_input(task.input_requests))
        await anyio.sleep(pause if pause is not None else DEFAULT_POLL_SECONDS)


def _session(client: Client | ClientSession) -> ClientSession:
    return client.session if isinstance(client, Client) else client


def _seconds(milliseconds: int | None) -> float | None:
    return None if milliseconds is None else milliseconds / 1000


def _unknown_failure() -> dict[str, Any]:
    return {"code": INTERNAL_ERROR, "message": "the task failed"}
