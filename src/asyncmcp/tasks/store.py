"""Where tasks live: one record per task, shared by every worker of a fleet.

The store is deliberately small: `create`, `get` and a conditional `replace` (the stored version
must be the one the caller read). Every change to a task (a lease taken or renewed, a status set,
an answer recorded, a cancel) is a read-modify-write through `mutate`, retried when another worker
wrote first, so one rule decides every race and a store needs only a conditional write to be
correct: DynamoDB's `ConditionExpression` (`tasks/dynamodb.py`), a dict in one process
(`MemoryTaskStore`). What a record holds in the clear is routing and status only; results, errors,
input requests and answers are in `sealed`, encrypted by `tasks/sealing.py` before they reach
the store.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from asyncmcp.tasks.wire import TERMINAL, TaskStatus

__all__ = ["MemoryTaskStore", "TaskRecord", "TaskStore", "mutate"]

MUTATE_ATTEMPTS = 8
"""Conflicting writers per change before giving up: a task has a runner and the odd client call."""


@dataclass(frozen=True)
class TaskRecord:
    """One task as stored. Times are epoch seconds; `version` grows by one with every write."""

    task_id: str
    principal: str
    """Keyed hash of the client the task belongs to (`tasks/extension.py`); others are told it is unknown."""
    status: TaskStatus
    created_at: float
    updated_at: float
    ttl_ms: int | None
    poll_interval_ms: int
    sealed: bytes
    """Encrypted payload: result, error, input requests and answers, request state."""
    version: int = 1
    status_message: str | None = None
    lease_owner: str | None = None
    lease_until: float = 0.0
    """Until when `lease_owner` runs the task; past it, any worker may take it over."""

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def expires_at(self) -> float | None:
        """When the store may drop the record (DynamoDB's TTL attribute); None keeps it."""
        return None if self.ttl_ms is None else self.created_at + self.ttl_ms / 1000

    def expired(self, now: float) -> bool:
        expires = self.expires_at
        return expires is not None and now >= expires

    def changed(self, **changes: object) -> TaskRecord:
        """The next version of this record, stamped `updated_at` now."""
        return replace(self, version=self.version + 1, updated_at=time.time(), **changes)  # pyright: ignore[reportArgumentType]


class TaskStore(Protocol):
    """A task store every worker of a fleet shares."""

    calls: Counter[str]
    """Store calls made, by operation (the benchmark reports them per task)."""

    async def create(self, record: TaskRecord, request_key: str | None) -> TaskRecord:
        """Store a new task durably and return it; `tasks/get` resolves it once this returns.

        `request_key` names the request that made it: if a task was already made for that key
        (the request's message was redelivered), that task is returned and nothing is written.
        """
        ...

    async def get(self, task_id: str) -> TaskRecord | None:
        """The task as stored, or None (never made, or past its TTL)."""
        ...

    async def replace(self, record: TaskRecord) -> bool:
        """Store `record` if the stored version is `record.version - 1`; False if someone wrote first."""
        ...


async def mutate(
    store: TaskStore, task_id: str, change: Callable[[TaskRecord], TaskRecord | None]
) -> TaskRecord | None:
    """Apply `change` to the stored task, retrying on a conflicting write.

    `change` returns the next record (`record.changed(...)`) or None to leave it as it is; the
    result is the record as stored afterwards (None if the task is unknown, or if every attempt
    lost a race, which only a hot loop of writers can cause).
    """
    for _ in range(MUTATE_ATTEMPTS):
        current = await store.get(task_id)
        if current is None:
            return None
        updated = change(current)
        if updated is None:
            return current
        if await store.replace(updated):
            return updated
    return None


class MemoryTaskStore:
    """Tasks in this process's memory: one process (a single worker, tests); lost when it exits."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._tasks: dict[str, TaskRecord] = {}
        self._by_request: dict[str, str] = {}

    async def create(self, record: TaskRecord, request_key: str | None) -> TaskRecord:
        self.calls["create"] += 1
        self._drop_expired()
        if request_key is not None:
            existing = self._by_request.get(request_key)
            if existing is not None and existing in self._tasks:
                return self._tasks[existing]
            self._by_request[request_key] = record.task_id
        self._tasks[record.task_id] = record
        return record

    async def get(self, task_id: str) -> TaskRecord | None:
        self.calls["get"] += 1
        record = self._tasks.get(task_id)
        if record is not None and record.expired(time.time()):
            return None
        return record

    async def replace(self, record: TaskRecord) -> bool:
        self.calls["replace"] += 1
        current = self._tasks.get(record.task_id)
        if current is None or current.version != record.version - 1:
            return False
        self._tasks[record.task_id] = record
        return True

    def _drop_expired(self) -> None:
        now = time.time()
        for task_id in [t for t, r in self._tasks.items() if r.expired(now)]:
            del self._tasks[task_id]
        self._by_request = {k: v for k, v in self._by_request.items() if v in self._tasks}
