"""The Tasks extension's wire shapes (SEP-2663, Final): what a client sends and what it is answered.

Built as plain dicts from a `TaskRecord` rather than as result models: `CreateTaskResult` is a
flat `Result & Task` with `resultType: "task"`, a shape outside the SDK's core result vocabulary,
which its runner passes through untouched at 2026-07-28 (and the extension never returns at
2025-11-25). Field names and units are the Final SEP's: `ttlMs` and `pollIntervalMs` in integer
milliseconds, ISO 8601 UTC timestamps, no `requestState` on any task shape.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Final, Literal

from mcp_types import RequestParams
from pydantic import Field

__all__ = [
    "EXTENSION_ID",
    "TERMINAL",
    "TaskIdParams",
    "TaskStatus",
    "TaskUpdateParams",
    "iso_time",
]

EXTENSION_ID: Final = "io.modelcontextprotocol/tasks"
"""The extension's identifier in `capabilities.extensions` (client per request, server in discover)."""

TaskStatus = Literal["working", "input_required", "completed", "failed", "cancelled"]

TERMINAL: Final[frozenset[str]] = frozenset({"completed", "failed", "cancelled"})
"""Statuses a task never leaves."""


class TaskIdParams(RequestParams):
    """`tasks/get` and `tasks/cancel` params."""

    task_id: str = Field(max_length=256)


class TaskUpdateParams(TaskIdParams):
    """`tasks/update` params: answers to the task's `inputRequests`, keyed as they were."""

    input_responses: dict[str, Any] = Field(default_factory=lambda: {})


def iso_time(epoch_seconds: float) -> str:
    """An ISO 8601 UTC timestamp with milliseconds, as the SEP's examples write them."""
    moment = datetime.fromtimestamp(epoch_seconds, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
