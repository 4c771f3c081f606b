"""Serving an MCP server on any channel: the one assembly every face uses.

`Worker(server, config)` opens the channel the config belongs to (`channels.registry`), builds the
engine with the fleet's state key and the channel's reply policy, and serves until stopped;
`serve(...)` is the same as one call; `stream_pair(config)` is the original single-connection
entry (`async with ... as (read, write): await app.run(read, write, opts)`). The seed-named modules
(`asyncmcp.sqs`), `asyncmcp serve` and the benchmark all come through here, so a new channel is
served by every one of them once it is registered.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
from mcp.shared.message import SessionMessage
from typing_extensions import Self

from asyncmcp.channels import registry
from asyncmcp.channels.base import ServerBinding
from asyncmcp.channels.config import ServerSettings
from asyncmcp.server.engine import EngineOptions, ServerEngine
from asyncmcp.server.state_key import StateKey, share_request_state
from asyncmcp.server.stream_pair import serve_stream_pair
from asyncmcp.tasks.extension import adopt_fleet_key

__all__ = ["Worker", "serve", "stream_pair"]

logger = logging.getLogger(__name__)


class Worker:
    """One worker serving an MCP server on a channel; run several (processes) to scale out.

    `await worker.run()` serves until cancelled; `worker.stop()` stops receiving and lets in-flight
    requests finish within `shutdown_grace_seconds`, handing the rest back to the channel.
    `async with Worker(...) as worker:` serves in the background for the body of the block.
    `clients` maps the channel's client names (for example `"sqs_client"`) to broker clients.
    """

    def __init__(
        self,
        server: Any,
        config: ServerSettings,
        clients: Mapping[str, Any] | None = None,
        *,
        shutdown_grace_seconds: float = 0.0,
    ) -> None:
        self.server = server
        self.config = config
        self.transport = registry.for_config(config)
        self._clients = {name: client for name, client in (clients or {}).items() if client is not None}
        self._grace = shutdown_grace_seconds
        self.engine: ServerEngine | None = None
        self.binding: ServerBinding | None = None
        self._stop_requested = False
        self._tg: anyio.abc.TaskGroup | None = None
        self._stopped: anyio.Event | None = None
        self._served_at: str | None = None

    @property
    def endpoint(self) -> str | None:
        """Where clients reach this worker, once it serves (a URL, or the channel's request address)."""
        if self._served_at is not None:
            return self._served_at
        return (self.binding.endpoint or self.binding.address) if self.binding is not None else None

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        config = self.config
        if self.transport.serves_mcp:
            await self._serve_mcp(task_status)
            return
        async with self.transport.open_server(config, self._clients) as binding:
            key = await StateKey.for_fleet(config.state_key, self.transport, binding)
            share_request_state(self.server, key)
            adopt_fleet_key(self.server, key.secret)
            self.binding = binding
            self.engine = ServerEngine(
                self.server,
                binding,
                signer=key.signer(ttl_seconds=config.session_ttl_seconds),
                options=EngineOptions.from_settings(config, shutdown_grace_seconds=self._grace),
            )
            if self._stop_requested:
                return
            logger.info("serving %s on %s", self.engine.server.name, binding.address)
            await self.engine.run(task_status=task_status)

    async def _serve_mcp(self, task_status: anyio.abc.TaskStatus[None]) -> None:
        """A transport that speaks MCP itself (an HTTP app) serves the server; no engine, no channel."""
        self._stopped = anyio.Event()
        if self._stop_requested:
            return
        async with self.transport.serve_mcp(self.server, self.config, self._clients) as url:
            self._served_at = url
            logger.info("serving on %s", url)
            task_status.started()
            await self._stopped.wait()

    def stop(self) -> None:
        self._stop_requested = True
        if self.engine is not None:
            self.engine.stop()
        if self._stopped is not None:
            self._stopped.set()

    async def __aenter__(self) -> Self:
        """Serve in the background for the body of an `async with` block (tests, embedding)."""
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        try:
            await self._tg.start(self.run)
        except BaseException:
            # A worker that cannot start (a bridged upstream that dies at once) leaves the block
            # with its own error, not with the task group's cancel scope left open.
            self._tg.cancel_scope.cancel()
            await self._tg.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        await self._tg.__aexit__(None, None, None)


async def serve(
    server: Any,
    config: ServerSettings,
    clients: Mapping[str, Any] | None = None,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `server` (an mcp `Server` or `MCPServer`) on `config`'s channel until cancelled."""
    await Worker(server, config, clients).run(task_status=task_status)


@asynccontextmanager
async def stream_pair(
    config: ServerSettings, clients: Mapping[str, Any] | None = None
) -> AsyncIterator[
    tuple[anyio.abc.ObjectReceiveStream[SessionMessage | Exception], anyio.abc.ObjectSendStream[SessionMessage]]
]:
    """The single-connection stream pair over `config`'s channel (serves one client)."""
    transport = registry.for_config(config)
    given = {name: client for name, client in (clients or {}).items() if client is not None}
    async with (
        transport.open_server(config, given) as binding,
        serve_stream_pair(
            binding,
            on_bad_message=config.on_bad_message,
            max_batch=config.max_messages,
        ) as streams,
    ):
        yield streams
