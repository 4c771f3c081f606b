"""The upstream connections one worker keeps: a pool restarted with backoff, and per-session links.

Each of the pool's `pool` slots holds one link (a stdio child, or one HTTP client) and keeps it
alive: a link that ends (the child died) is replaced after a delay that starts at 0.5 s and
doubles to 30 s, back to 0.5 s once a child has lived a minute. A slot's first start must succeed:
a command that cannot start, or dies or says nothing before its handshake, fails the worker at
start-up (`UpstreamStartError`, one line) rather than failing every request later.

The handshake is the bridge's own, once per link: `server/discover` first (a 2026-07-28 server
answers it and is then called statelessly, every request carrying the caller's envelope), and
`initialize` when that fails (a 2025 server: one session per link, opened with the bridge's own
client info and with sampling, elicitation and roots declared, so the server offers what needs
them; a caller whose client cannot do them gets its client's error back).

With `session_mode="per-session"` a 2025 queue session gets an upstream session of its own,
opened lazily on the worker that serves its request with the caller's own client info and
capabilities (from the session token, so any worker can), for servers that keep state per
session; on a stdio upstream that is a child per session. They are closed after 10 idle minutes,
and at most 64 are kept (the least recently used goes first).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal, cast

import anyio
import anyio.abc
from mcp.shared.exceptions import MCPError
from mcp_types import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    INTERNAL_ERROR,
    PROTOCOL_VERSION_META_KEY,
)
from mcp_types.version import LATEST_HANDSHAKE_VERSION, LATEST_PROTOCOL_VERSION, MODERN_PROTOCOL_VERSIONS

from asyncmcp.bridge.upstream import ChildLink, HttpLink, Upstream
from asyncmcp.errors import AsyncMcpError, root_cause

__all__ = ["BRIDGE_CAPABILITIES", "Handshake", "SessionMode", "UpstreamPool", "UpstreamStartError"]

logger = logging.getLogger(__name__)

SessionMode = Literal["per-child", "per-session"]

RESTART_FIRST_DELAY = 0.5
"""Seconds before restarting a link that died: soon, so callers queue behind it only briefly."""

RESTART_MAX_DELAY = 30.0
"""Longest wait between restarts of a link that keeps dying (a broken server is not hammered)."""

STABLE_AFTER_SECONDS = 60.0
"""A link that lived this long resets its restart delay: its next death is news, not a crash loop."""

READY_WAIT_SECONDS = 10.0
"""How long a request that finds every link restarting waits for one, before failing with why."""

HANDSHAKE_TIMEOUT_SECONDS = 60.0
"""Bound on a new link's handshake: `npx -y` may first download its package."""

SESSION_IDLE_SECONDS = 600.0
"""A per-session upstream session unused this long is closed (the queue session may be gone)."""

MAX_SESSION_LINKS = 64
"""Per-session upstream sessions one worker keeps at most (each may be a child process)."""

BRIDGE_CLIENT_INFO = {"name": "asyncmcp-bridge", "version": "1"}
"""How the bridge introduces itself to a 2025 upstream in per-child mode."""

BRIDGE_CAPABILITIES: dict[str, Any] = {
    "sampling": {},
    "elicitation": {"form": {}, "url": {}},
    "roots": {"listChanged": True},
}
"""Declared to the upstream on behalf of every caller: what the callers' clients cannot do, they
answer with an error themselves."""

UpstreamLink = ChildLink | HttpLink


class UpstreamStartError(AsyncMcpError):
    """The upstream could not be started (at a worker's start-up)."""


@dataclass(frozen=True)
class Handshake:
    """What the upstream said when a link opened: a `server/discover` or an `initialize` result."""

    modern: bool
    result: dict[str, Any]


def modern_envelope(client_info: Any, capabilities: Any) -> dict[str, Any]:
    """The 2026-07-28 `_meta` keys a request to a modern upstream carries."""
    return {
        PROTOCOL_VERSION_META_KEY: LATEST_PROTOCOL_VERSION,
        CLIENT_INFO_META_KEY: client_info,
        CLIENT_CAPABILITIES_META_KEY: capabilities,
    }


async def handshake(
    link: UpstreamLink,
    *,
    client_info: Mapping[str, Any] = BRIDGE_CLIENT_INFO,
    capabilities: Mapping[str, Any] = BRIDGE_CAPABILITIES,
    protocol_version: str = LATEST_HANDSHAKE_VERSION,
    legacy_only: bool = False,
) -> Handshake:
    """Open `link`'s conversation: `server/discover`, or `initialize` for a 2025 server."""
    with anyio.fail_after(HANDSHAKE_TIMEOUT_SECONDS):
        if not legacy_only:
            try:
                found = await link.request("server/discover", {"_meta": modern_envelope(client_info, capabilities)})
            except MCPError as exc:
                if not link.running:
                    raise
                logger.debug("%s does not answer server/discover (%s): a 2025 server", link.upstream.describe(), exc)
            else:
                versions = found.get("supportedVersions")
                listed = {str(v) for v in cast(list[Any], versions)} if isinstance(versions, list) else set[str]()
                if listed & set(MODERN_PROTOCOL_VERSIONS):
                    return Handshake(modern=True, result=found)
        params = {"protocolVersion": protocol_version, "capabilities": capabilities, "clientInfo": client_info}
        result = await link.request("initialize", params)
        await link.notify("notifications/initialized", None)
        return Handshake(modern=False, result=result)


class UpstreamPool:
    """A worker's links to its upstream (the bridge server's lifespan state)."""

    def __init__(self, upstream: Upstream, *, session_mode: SessionMode = "per-child") -> None:
        self.upstream = upstream
        self.session_mode: SessionMode = session_mode
        self.handshake: Handshake | None = None
        self._slots: list[UpstreamLink | None] = [None] * upstream.pool
        self._changed = anyio.Event()
        self._turn = 0
        self._sessions: OrderedDict[str, tuple[UpstreamLink, float]] = OrderedDict()
        self._session_lock = anyio.Lock()
        self._tg: anyio.abc.TaskGroup | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[UpstreamPool]:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            for index in range(len(self._slots)):
                await tg.start(self._keep, index)
            tg.start_soon(self._close_idle_sessions)
            try:
                yield self
            finally:
                tg.cancel_scope.cancel()
                self._tg = None

    async def _keep(self, index: int, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Keep slot `index` filled for as long as the pool runs."""
        delay = RESTART_FIRST_DELAY
        first = True
        while True:
            link = self.upstream.open_link()
            started = anyio.current_time()
            async with anyio.create_task_group() as tg:
                try:
                    await tg.start(_run_link, link)
                    found = await handshake(link)
                except (MCPError, TimeoutError) as exc:
                    reason = _start_failure(link, exc)
                    await link.close()
                    if first:
                        raise UpstreamStartError(f"asyncmcp serve: {reason}") from None
                    logger.warning("%s; retrying in %.1f s", reason, delay)
                else:
                    self.handshake = self.handshake or found
                    self._slots[index] = link
                    self._notify_changed()
                    if first:
                        first = False
                        task_status.started()
                    logger.info("upstream %s ready (pid %s)", link.upstream.describe(), getattr(link, "pid", None))
                    await link.wait_finished()
                    self._slots[index] = None
                    if anyio.current_time() - started >= STABLE_AFTER_SECONDS:
                        delay = RESTART_FIRST_DELAY
                    _log_death(link, delay)
            await anyio.sleep(delay)
            delay = min(delay * 2, RESTART_MAX_DELAY)

    @property
    def pids(self) -> list[int]:
        """Process ids of the running stdio children (operators' logs, tests)."""
        return [link.pid for link in self._slots if isinstance(link, ChildLink) and link.running and link.pid]

    def _notify_changed(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def pick(self) -> UpstreamLink:
        """The least busy running link, waiting briefly for one while all are restarting."""
        with anyio.move_on_after(READY_WAIT_SECONDS):
            while True:
                ready = [link for link in self._slots if link is not None and link.running]
                if ready:
                    self._turn += 1
                    return min(ready, key=lambda link: (link.in_flight, (id(link) + self._turn) % 7919))
                await self._changed.wait()
        raise MCPError(
            code=INTERNAL_ERROR,
            message=f"the upstream `{self.upstream.describe()}` is not running (it is being restarted); retry shortly",
        )

    async def session_link(
        self, session_id: str, protocol_version: str, client_info: Any, capabilities: Any
    ) -> UpstreamLink:
        """The upstream session of queue session `session_id` on this worker, opened on first use."""
        async with self._session_lock:
            held = self._sessions.get(session_id)
            if held is not None and held[0].running:
                self._sessions[session_id] = (held[0], anyio.current_time())
                self._sessions.move_to_end(session_id)
                return held[0]
            if self._tg is None:
                raise RuntimeError("the upstream pool is not running")
            while len(self._sessions) >= MAX_SESSION_LINKS:
                _, (oldest, _) = self._sessions.popitem(last=False)
                await oldest.close()
            link = self.upstream.open_link()
            link.one_caller = True
            try:
                await self._tg.start(_run_link, link)
                await handshake(
                    link,
                    client_info=client_info or BRIDGE_CLIENT_INFO,
                    capabilities=capabilities or {},
                    protocol_version=protocol_version,
                    legacy_only=True,
                )
            except (MCPError, TimeoutError) as exc:
                await link.close()
                raise MCPError(code=INTERNAL_ERROR, message=_start_failure(link, exc)) from None
            self._sessions[session_id] = (link, anyio.current_time())
            return link

    @property
    def open_sessions(self) -> int:
        """Per-session upstream sessions this worker holds."""
        return len(self._sessions)

    def session_link_if_open(self, session_id: str) -> UpstreamLink | None:
        held = self._sessions.get(session_id)
        return held[0] if held is not None and held[0].running else None

    async def _close_idle_sessions(self) -> None:
        while True:
            await anyio.sleep(SESSION_IDLE_SECONDS / 10)
            now = anyio.current_time()
            idle = [key for key, (_, used) in self._sessions.items() if now - used > SESSION_IDLE_SECONDS]
            for key in idle:
                link, _ = self._sessions.pop(key)
                if link.in_flight == 0:
                    await link.close()
                else:
                    self._sessions[key] = (link, now)


async def _run_link(link: UpstreamLink, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
    """Run `link` until it ends; a wire that fails (an HTTP upstream going away mid-stream) ends
    the link like a dead child does, and never the worker: the pool restarts it."""
    try:
        await link.run(task_status=task_status)
    except Exception as exc:
        cause = root_cause(exc)
        if not link.connected:
            raise MCPError(code=INTERNAL_ERROR, message=f"cannot reach `{link.upstream.describe()}`: {cause}") from None
        logger.warning("the connection to %s failed: %s", link.upstream.describe(), cause)


def _start_failure(link: UpstreamLink, exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        within = f"{HANDSHAKE_TIMEOUT_SECONDS:g} s"
        return f"the upstream `{link.upstream.describe()}` did not answer its handshake within {within}"
    message = exc.error.message if isinstance(exc, MCPError) else str(exc)
    if isinstance(link, ChildLink) and link.exit_status is not None:
        message = f"{link.death()} before answering its handshake"
    elif link.upstream.describe() not in message:
        message = f"the upstream `{link.upstream.describe()}` failed its handshake: {message}"
    if isinstance(link, ChildLink) and link.stderr_tail:
        message += f" (its stderr ends: {link.stderr_tail[-1]})"
    return message


def _log_death(link: UpstreamLink, delay: float) -> None:
    if isinstance(link, ChildLink):
        tail = "\n".join(link.stderr_tail) or "(nothing)"
        logger.warning("%s; restarting in %.1f s; the last lines of its stderr:\n%s", link.death(), delay, tail)
    else:
        logger.warning("%s; reconnecting in %.1f s", link.death(), delay)
