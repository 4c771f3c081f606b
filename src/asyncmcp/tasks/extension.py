"""The server side of the Tasks extension (SEP-2663, Final) as an SDK `Extension`.

`MCPServer(..., extensions=[TasksExtension(tools={"render": "optional"})])`, or
`TasksExtension(...).install(lowlevel_server)` for a lowlevel `Server`. What it does:

- advertises `io.modelcontextprotocol/tasks` in `server/discover` (no settings);
- intercepts `tools/call` at 2026-07-28 for the tools it was given: a call from a client that
  declared the extension on that request becomes a task (`CreateTaskResult`, returned only once
  the store holds the task); a `required` tool called without the declaration is refused with
  `-32021`; every other call, and everything at 2025-11-25, passes through untouched;
- serves `tasks/get`, `tasks/update` and `tasks/cancel` from the store on any worker
  (`tasks/result` and `tasks/list` stay unregistered, so the SDK answers them `-32601`).

Tasks belong to the client that made them: the owner is the client's configured `client_id`
(the part of its wire id before the per-connection suffix, so a later process with the same
`client_id` can fetch the result), kept in the store as a keyed hash. Another client is told
the task is unknown (`-32602`), as for an id that never existed. Over plain HTTP, without
asyncmcp's request facts, there is no client id and the 128-bit task id alone is the handle.

The task runs after its `CreateTaskResult` is sent (`tasks/running.py`). Served by asyncmcp's
engine it runs on the worker that holds the request's queue message, which stays held until
the task ends, so a worker's death hands the task to another (`RequestFacts.after_answer`);
served any other way (the SDK's own HTTP server) it runs in the background of this process.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding, compose_tool_call_handler
from mcp.server.mcpserver import require_client_extension
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, METHOD_NOT_FOUND, CallToolRequestParams
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from asyncmcp.server.engine import RequestFacts, lowlevel_server
from asyncmcp.server.state_key import StateKey
from asyncmcp.tasks.routing import check_task_name_header
from asyncmcp.tasks.running import TaskRunner
from asyncmcp.tasks.sealing import TaskSealer
from asyncmcp.tasks.store import MemoryTaskStore, TaskRecord, TaskStore, mutate
from asyncmcp.tasks.wire import EXTENSION_ID, TaskIdParams, TaskUpdateParams, iso_time

__all__ = ["TaskMode", "TaskTool", "TasksExtension", "adopt_fleet_key"]

logger = logging.getLogger(__name__)

TaskMode = Literal["forbidden", "optional", "required"]

DEFAULT_TTL_MS: Final = 86_400_000
"""A day: long enough for a two-hour tool and a client that comes back for it the next morning."""

DEFAULT_POLL_INTERVAL_MS: Final = 1_000
"""What clients are asked to poll at: a second is quick for a human and cheap for the store."""

DEFAULT_HEARTBEAT_SECONDS: Final = 5.0
"""Lease renewal interval; the lease lasts three of these, so a dead runner is replaced within 15 s
(after its message reappears) and a cancel reaches a running tool within 5 s."""

TASK_ID_BYTES: Final = 16
"""128 random bits: a task id is a bearer handle and must not be guessable."""

_installed: weakref.WeakKeyDictionary[Any, TasksExtension] = weakref.WeakKeyDictionary()
"""Lowlevel servers `install` put an extension on (MCPServer keeps its own list)."""


@dataclass(frozen=True)
class TaskTool:
    """How one tool takes part: `mode`, and optionally `when`, the server's per-call decision.

    `when(params)` returning False runs that call synchronously even for a client that declared
    the extension (for example a tool that first gathers input by `input_required` rounds and
    becomes a task only once it has its answers: `when=lambda p: bool(p.input_responses)`).
    """

    mode: TaskMode = "optional"
    when: Callable[[CallToolRequestParams], bool] | None = None


class TasksExtension(Extension):
    """Tasks for the tools named in `tools` (name -> mode or `TaskTool`); others never become tasks.

    Args:
        tools: Each task tool's mode: `optional` (a task when the client declared the extension,
            a plain call otherwise) or `required` (refused with `-32021` without the declaration).
        store: Where tasks live; every worker of a fleet needs the same one (`DynamoTaskStore`).
            Defaults to this process's memory.
        key: The secret task payloads are encrypted with. Defaults to the fleet's state key
            (given by asyncmcp's `Worker`), else `ASYNCMCP_STATE_KEY`, else this process's own.
        ttl_ms: How long a task is kept after it was created (`ttlMs`; None keeps it).
        poll_interval_ms: The `pollIntervalMs` clients are asked to poll at.
        heartbeat_seconds: How often a running task's lease is renewed (see the constant).
    """

    identifier = EXTENSION_ID

    def __init__(
        self,
        tools: Mapping[str, TaskMode | TaskTool],
        *,
        store: TaskStore | None = None,
        key: bytes | str | None = None,
        ttl_ms: int | None = DEFAULT_TTL_MS,
        poll_interval_ms: int = DEFAULT_POLL_INTERVAL_MS,
        heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
    ) -> None:
        if ttl_ms is not None and ttl_ms <= 0:
            raise ValueError(f"ttl_ms must be a positive number of milliseconds or None, got {ttl_ms}")
        if poll_interval_ms <= 0:
            raise ValueError(f"poll_interval_ms must be a positive number of milliseconds, got {poll_interval_ms}")
        self.task_tools = {name: spec if isinstance(spec, TaskTool) else TaskTool(spec) for name, spec in tools.items()}
        self.store: TaskStore = store if store is not None else MemoryTaskStore()
        self.ttl_ms = ttl_ms
        self.poll_interval_ms = poll_interval_ms
        self._sealer: TaskSealer | None = None
        if key is not None:
            self._sealer = TaskSealer(key.encode() if isinstance(key, str) else key)
        self.runner = TaskRunner(
            self.store,
            self.sealer,
            worker=uuid.uuid4().hex,
            heartbeat_seconds=heartbeat_seconds,
            watch_seconds=poll_interval_ms / 1000,
        )
        self._background: set[asyncio.Task[None]] = set()

    # -- keys ------------------------------------------------------------------------------------

    def sealer(self) -> TaskSealer:
        if self._sealer is None:
            self._sealer = TaskSealer(StateKey.resolve(None).secret)
        return self._sealer

    def adopt_fleet_key(self, secret: bytes) -> None:
        """Use the fleet's shared key, unless one was given or tasks were already sealed."""
        if self._sealer is None:
            self._sealer = TaskSealer(secret)

    def _keyed(self, *parts: str) -> str:
        message = "\x00".join(parts).encode()
        return hmac.new(self.sealer().hmac_key, message, hashlib.sha256).hexdigest()[:32]

    def _principal(self, ctx: ServerRequestContext[Any, Any]) -> str:
        facts = ctx.request if isinstance(ctx.request, RequestFacts) else None
        wire_id = facts.client_id if facts is not None else None
        configured = (wire_id.rpartition(".")[0] or wire_id) if wire_id else ""
        return self._keyed("owner", configured)

    # -- the SDK's extension seams ---------------------------------------------------------------

    def methods(self) -> Sequence[MethodBinding]:
        versions = frozenset(MODERN_PROTOCOL_VERSIONS)
        return (
            MethodBinding("tasks/get", TaskIdParams, self._get, versions),
            MethodBinding("tasks/update", TaskUpdateParams, self._update, versions),
            MethodBinding("tasks/cancel", TaskIdParams, self._cancel, versions),
        )

    def install(self, server: Any) -> None:
        """Enable tasks on a lowlevel `Server` (an `MCPServer` takes `extensions=[...]` instead)."""
        lowlevel = lowlevel_server(server)
        entry = lowlevel.get_request_handler("tools/call")
        if entry is None:
            raise ValueError("install the tasks extension after the server's tools/call handler is registered")
        for method in self.methods():
            lowlevel.add_request_handler(method.method, method.params_type, method.handler)
        lowlevel.add_request_handler(
            "tools/call", CallToolRequestParams, compose_tool_call_handler([self], entry.handler)
        )
        lowlevel.extensions[self.identifier] = self.settings()
        _installed[lowlevel] = self

    async def intercept_tool_call(
        self, params: CallToolRequestParams, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        tool = self.task_tools.get(params.name)
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS or tool is None or tool.mode == "forbidden":
            return await call_next(ctx)
        if not _declares(ctx):
            if tool.mode == "required":
                require_client_extension(ctx, EXTENSION_ID)
            return await call_next(ctx)
        if tool.when is not None and not tool.when(params):
            return await call_next(ctx)
        record = await self._create(ctx)
        if not record.terminal:
            self._start(ctx, lambda: self.runner.drive(record.task_id, params, lambda: call_next(ctx)))
        return {"resultType": "task", **_task_fields(record)}

    # -- tasks/* ---------------------------------------------------------------------------------

    async def _create(self, ctx: ServerRequestContext[Any, Any]) -> TaskRecord:
        facts = ctx.request if isinstance(ctx.request, RequestFacts) else None
        request_key = None
        if facts is not None and ctx.request_id is not None:
            request_key = self._keyed("request", facts.client_id or facts.reply_to, str(ctx.request_id))
        now = time.time()
        task_id = secrets.token_hex(TASK_ID_BYTES)
        principal = self._principal(ctx)
        record = TaskRecord(
            task_id=task_id,
            principal=principal,
            status="working",
            created_at=now,
            updated_at=now,
            ttl_ms=self.ttl_ms,
            poll_interval_ms=self.poll_interval_ms,
            sealed=self.sealer().seal({}, task_id, principal),
        )
        stored = await self.store.create(record, request_key)
        if stored.task_id != task_id:
            logger.info("request %r was delivered again; it resumes task %s", ctx.request_id, stored.task_id)
        return stored

    def _start(self, ctx: ServerRequestContext[Any, Any], work: Callable[[], Awaitable[None]]) -> None:
        facts = ctx.request if isinstance(ctx.request, RequestFacts) else None
        if facts is not None and facts.after_answer is not None:
            facts.after_answer(work)
            return
        # Not served by asyncmcp's engine (the SDK's own HTTP server): the task runs in the
        # background of this process, owned by this extension until it ends.
        background = asyncio.get_running_loop().create_task(self._guarded(work()))
        self._background.add(background)
        background.add_done_callback(self._background.discard)

    async def _guarded(self, work: Awaitable[None]) -> None:
        try:
            await work
        except Exception:
            logger.exception("a task failed in the background")

    async def _owned(self, ctx: ServerRequestContext[Any, Any], task_id: str) -> TaskRecord:
        require_client_extension(ctx, EXTENSION_ID)
        headers: object = getattr(ctx.request, "headers", None)
        if isinstance(headers, Mapping):  # served over HTTP directly (behind a queue, the proxy checked)
            check_task_name_header(ctx.method, ctx.params, cast("Mapping[str, str]", headers))
        record = await self.store.get(task_id)
        if record is None or not hmac.compare_digest(record.principal, self._principal(ctx)):
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown task {task_id!r}", data={"taskId": task_id})
        return record

    async def _get(self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams) -> HandlerResult:
        _gate(ctx)
        record = await self._owned(ctx, params.task_id)
        detailed: dict[str, Any] = {"resultType": "complete", **_task_fields(record)}
        payload = self.runner.payload(record)
        if record.status == "completed":
            detailed["result"] = payload.get("result") or {"content": []}
        elif record.status == "failed":
            detailed["error"] = payload.get("error") or {"code": -32603, "message": "the task failed"}
        elif record.status == "input_required":
            detailed["inputRequests"] = payload.get("inputRequests") or {}
        return detailed

    async def _update(self, ctx: ServerRequestContext[Any, Any], params: TaskUpdateParams) -> HandlerResult:
        _gate(ctx)
        record = await self._owned(ctx, params.task_id)
        answers = params.input_responses

        def record_answers(current: TaskRecord) -> TaskRecord | None:
            if current.status != "input_required":
                return None
            payload = self.runner.payload(current)
            pending: dict[str, Any] = dict(payload.get("inputRequests") or {})
            taken = {key: value for key, value in answers.items() if key in pending}
            if not taken:
                return None  # unknown or already answered keys: nothing to record
            responses: dict[str, Any] = {**(payload.get("inputResponses") or {}), **taken}
            remaining = {key: value for key, value in pending.items() if key not in taken}
            payload.update(inputRequests=remaining, inputResponses=responses)
            status = "input_required" if remaining else "working"
            return current.changed(status=status, sealed=self.runner.sealed(current, payload))

        await mutate(self.store, record.task_id, record_answers)
        return {"resultType": "complete"}

    async def _cancel(self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams) -> HandlerResult:
        _gate(ctx)
        record = await self._owned(ctx, params.task_id)

        def cancel(current: TaskRecord) -> TaskRecord | None:
            if current.terminal:
                return None
            return current.changed(status="cancelled", status_message="Cancelled by the client")

        await mutate(self.store, record.task_id, cancel)
        return {"resultType": "complete"}


def adopt_fleet_key(server: Any, secret: bytes) -> None:
    """Give the tasks extensions of `server` the fleet's key (`serving.Worker` calls this)."""
    extensions: list[Any] = list(getattr(server, "_extensions", ()))
    installed = _installed.get(lowlevel_server(server))
    if installed is not None:
        extensions.append(installed)
    for extension in extensions:
        if isinstance(extension, TasksExtension):
            extension.adopt_fleet_key(secret)


def _declares(ctx: ServerRequestContext[Any, Any]) -> bool:
    capabilities = ctx.session.client_capabilities
    declared = capabilities.extensions if capabilities else None
    return bool(declared) and EXTENSION_ID in (declared or {})


def _gate(ctx: ServerRequestContext[Any, Any]) -> None:
    """`tasks/*` exist only at 2026-07-28 (a lowlevel install has no per-version binding table)."""
    if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        raise MCPError(code=METHOD_NOT_FOUND, message="Method not found")


def _task_fields(record: TaskRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "taskId": record.task_id,
        "status": record.status,
        "createdAt": iso_time(record.created_at),
        "lastUpdatedAt": iso_time(record.updated_at),
        "ttlMs": record.ttl_ms,
        "pollIntervalMs": record.poll_interval_ms,
    }
    if record.status_message is not None:
        fields["statusMessage"] = record.status_message
    return fields
