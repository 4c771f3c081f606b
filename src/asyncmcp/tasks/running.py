"""Running a task: take its lease, run the tool, record how it ended; or watch another worker do it.

A task runs on whichever worker holds its request's queue message (`RequestFacts.after_answer`
keeps the message held while the task runs). Exactly one worker runs it at a time: the runner
holds a lease in the store (`lease_owner`, `lease_until`) and renews it every `heartbeat_seconds`;
a worker that finds a live lease held by another (a duplicate delivery) only watches. If the
runner dies, its message reappears, its lease lapses, and the worker that took the message takes
the lease and runs the tool again from the start (at-least-once, as for any queued request).

The heartbeat also carries cancellation: `tasks/cancel` marks the stored task `cancelled` on
whichever worker receives it, and the runner's next renewal sees that and cancels the tool.
Input works the SEP way for tools that return `InputRequiredResult` (the guard pattern): the task
becomes `input_required` with the tool's requests, `tasks/update` records answers on any worker,
and once every request is answered the runner calls the tool again with them.

An outcome the store refuses for good (DynamoDB takes no item over 400 KB) would leave the task
`working` until its TTL, and a redelivery would only run the tool into the same refusal; so the
task is recorded as failed instead, with a small last-resort write (`UNSTORABLE_MESSAGE`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import anyio
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, CallToolRequestParams, InputRequiredResult
from pydantic import BaseModel

from asyncmcp.errors import ChannelError
from asyncmcp.tasks.sealing import TaskSealer
from asyncmcp.tasks.store import TaskRecord, TaskStore, mutate

__all__ = ["TaskRunner"]

logger = logging.getLogger(__name__)

ToolCall = Callable[[], Awaitable[Any]]

RELEASE_TIMEOUT_SECONDS: Final = 2.0
"""How long a stopping worker tries to hand a lease back; if it cannot, the lease lapses anyway."""

UNSTORABLE_MESSAGE: Final = "the task's outcome could not be stored"
"""Why a task failed whose result, error or input requests the store refused for good."""


class TaskRunner:
    """Drives tasks to an end on this worker; one per `TasksExtension`."""

    def __init__(
        self,
        store: TaskStore,
        sealer: Callable[[], TaskSealer],
        *,
        worker: str,
        heartbeat_seconds: float,
        watch_seconds: float,
    ) -> None:
        self.store = store
        self._sealer = sealer
        self.worker = worker
        self.heartbeat_seconds = heartbeat_seconds
        self.lease_seconds = heartbeat_seconds * 3
        self.watch_seconds = watch_seconds

    def payload(self, record: TaskRecord) -> dict[str, Any]:
        return self._sealer().open(record.sealed, record.task_id, record.principal)

    def sealed(self, record: TaskRecord, payload: dict[str, Any]) -> bytes:
        return self._sealer().seal(payload, record.task_id, record.principal)

    async def drive(self, task_id: str, params: CallToolRequestParams, call: ToolCall) -> None:
        """Run the task here, or watch the worker whose lease is live until the task ends."""
        while True:
            record = await self.store.get(task_id)
            if record is None or record.terminal:
                return
            claimed = await mutate(self.store, task_id, self._take_lease)
            if claimed is not None and claimed.lease_owner == self.worker and not claimed.terminal:
                await self._run(claimed, params, call)
                return
            await anyio.sleep(self.watch_seconds)

    def _take_lease(self, record: TaskRecord) -> TaskRecord | None:
        now = time.time()
        if record.terminal or (record.lease_owner not in (None, self.worker) and record.lease_until > now):
            return None
        return record.changed(lease_owner=self.worker, lease_until=now + self.lease_seconds)

    async def _run(self, record: TaskRecord, params: CallToolRequestParams, call: ToolCall) -> None:
        task_id = record.task_id
        try:
            with anyio.CancelScope() as tool_scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._heartbeat, task_id, tool_scope)
                    try:
                        await self._rounds(record, params, call)
                    finally:
                        tg.cancel_scope.cancel()
            if tool_scope.cancelled_caught:
                logger.info("task %s was cancelled or lost its lease; its tool was stopped", task_id)
        finally:
            # Also when this worker stops mid-run: hand the lease back so the worker that takes
            # the redelivered message need not wait for it to lapse.
            with anyio.CancelScope(shield=True), anyio.move_on_after(RELEASE_TIMEOUT_SECONDS):
                await mutate(self.store, task_id, self._release_lease)

    def _release_lease(self, record: TaskRecord) -> TaskRecord | None:
        if record.lease_owner != self.worker:
            return None
        return record.changed(lease_owner=None, lease_until=0.0)

    async def _heartbeat(self, task_id: str, tool_scope: anyio.CancelScope) -> None:
        """Renew the lease; stop the tool when the task was cancelled or the lease was lost.

        A store that fails for a moment (throttling, a dropped connection) costs one renewal, not
        the run: the lease lasts three heartbeats, so the next renewal still finds it ours.
        """
        while True:
            await anyio.sleep(self.heartbeat_seconds)
            try:
                renewed = await mutate(self.store, task_id, self._renew)
            except ChannelError as exc:
                if exc.permanent:
                    raise
                logger.warning("task %s: could not renew its lease (%s); trying again next heartbeat", task_id, exc)
                continue
            if renewed is None or renewed.lease_owner != self.worker or renewed.terminal:
                tool_scope.cancel()
                return

    def _renew(self, record: TaskRecord) -> TaskRecord | None:
        if record.lease_owner != self.worker or record.terminal:
            return None
        return record.changed(lease_until=time.time() + self.lease_seconds)

    async def _rounds(self, record: TaskRecord, params: CallToolRequestParams, call: ToolCall) -> None:
        """Call the tool, and again with the client's answers for as long as it asks for input."""
        payload = self.payload(record)
        if payload.get("inputResponses") is not None or payload.get("requestState") is not None:
            _feed(params, payload.get("inputResponses"), payload.get("requestState"))
        while True:
            try:
                result = await call()
            except MCPError as exc:
                await self._finish(
                    record.task_id, "failed", error=exc.error.model_dump(by_alias=True, mode="json", exclude_none=True)
                )
                return
            except Exception as exc:  # a tool that failed outside the SDK's own error handling
                logger.exception("task %s: the tool raised", record.task_id)
                await self._finish(record.task_id, "failed", error={"code": INTERNAL_ERROR, "message": str(exc)})
                return
            if isinstance(result, InputRequiredResult):
                answers = await self._ask(record.task_id, result)
                if answers is None:
                    return
                _feed(params, *answers)
                continue
            await self._finish(record.task_id, "completed", result=_dumped(result))
            return

    async def _finish(self, task_id: str, status: str, **fields: Any) -> None:
        def change(record: TaskRecord) -> TaskRecord | None:
            if record.terminal:
                return None  # cancelled meanwhile: the cancel stands
            payload = {k: v for k, v in self.payload(record).items() if k not in ("inputRequests",)}
            payload.update(fields)
            return record.changed(status=status, sealed=self.sealed(record, payload))

        await self._write_outcome(task_id, change)

    async def _write_outcome(
        self, task_id: str, change: Callable[[TaskRecord], TaskRecord | None]
    ) -> TaskRecord | None:
        """`mutate`; when the store refuses the write for good, the task is recorded as failed."""
        try:
            return await mutate(self.store, task_id, change)
        except ChannelError as exc:
            if not exc.permanent:
                raise
            logger.error("task %s: the store refused its outcome (%s); recording the task as failed", task_id, exc)
        return await mutate(self.store, task_id, self._unstorable)

    def _unstorable(self, record: TaskRecord) -> TaskRecord | None:
        if record.terminal:
            return None
        # Only the error: whatever else the payload held (answers, request state) may be what was too large.
        sealed = self.sealed(record, {"error": {"code": INTERNAL_ERROR, "message": UNSTORABLE_MESSAGE}})
        return record.changed(status="failed", status_message=UNSTORABLE_MESSAGE, sealed=sealed)

    async def _ask(self, task_id: str, asked: InputRequiredResult) -> tuple[dict[str, Any], str | None] | None:
        """Publish the tool's input requests and wait until all are answered (None: the task ended)."""
        requests: dict[str, Any] = _dumped(asked).get("inputRequests") or {}

        def park(record: TaskRecord) -> TaskRecord | None:
            if record.terminal:
                return None
            payload = self.payload(record)
            payload.update(inputRequests=requests, inputResponses={}, requestState=asked.request_state)
            return record.changed(status="input_required", sealed=self.sealed(record, payload))

        parked = await self._write_outcome(task_id, park)
        if parked is None or parked.terminal:
            return None
        while True:
            await anyio.sleep(self.watch_seconds)
            record = await self.store.get(task_id)
            if record is None or record.terminal:
                return None
            if record.status == "working":
                payload = self.payload(record)
                return payload.get("inputResponses") or {}, payload.get("requestState")


def _feed(params: CallToolRequestParams, responses: Any, state: Any) -> None:
    """Give the tool the client's answers on its next call.

    The SDK calls the tool with the very `params` object the interceptor received (the
    extension seam passes no other), so the answers are set on it, validated as the SDK would
    have validated them on a retried `tools/call`.
    """
    parsed = CallToolRequestParams.model_validate(
        {"name": params.name, "inputResponses": responses or None, "requestState": state}
    )
    params.input_responses = parsed.input_responses
    params.request_state = parsed.request_state


def _dumped(result: Any) -> dict[str, Any]:
    if isinstance(result, BaseModel):
        return result.model_dump(by_alias=True, mode="json", exclude_none=True)
    if isinstance(result, dict):
        return dict(result)  # pyright: ignore[reportUnknownArgumentType]
    return {}
