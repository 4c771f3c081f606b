"""What the bridge serves: an MCP server run as a stdio command, or reached at a Streamable HTTP URL.

Each kind is a frozen description (`StdioUpstream`, `HttpUpstream`) that opens `relay.Link`s:

- a stdio link is one child process, started with a minimal environment (PATH and HOME, plus
  what the operator gives with `env` or names in `pass_env`), so the worker's own secrets (AWS
  keys, `ASYNCMCP_*`) never reach a server that was not handed them. Its stdout and stdin are MCP
  stdio framing (one JSON-RPC message a line); the last lines of its stderr are kept to say why
  it died. The process is ours rather than the SDK's `stdio_client`, because the bridge must know
  its exit status to tell the callers it failed;
- an HTTP link is the SDK's `streamable_http_client` with the operator's headers on every request.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field

import anyio
import anyio.abc
import httpx2
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from mcp_types import CONNECTION_CLOSED, INTERNAL_ERROR, jsonrpc_message_adapter
from pydantic import ValidationError

from asyncmcp.relay import Link, Streams

__all__ = ["ChildLink", "HttpLink", "HttpUpstream", "StdioUpstream", "Upstream"]

logger = logging.getLogger(__name__)

INHERITED_ENV = ("PATH", "HOME")
"""The only variables a child gets from the worker unasked: enough to find `npx` or `uvx` and
their caches, nothing that authenticates."""

STDERR_TAIL_LINES = 20
"""Lines of a child's stderr kept to explain its death in the log."""

MAX_LINE_BYTES = 16 * 1024 * 1024
"""Longest stdout line (one JSON-RPC message) read from a child; no channel carries more."""

EXIT_WAIT_SECONDS = 2.0
"""How long a caller whose child went silent waits for its exit status before failing anyway."""

STOP_GRACE_SECONDS = 2.0
"""A child told to stop (stdin closed, then SIGTERM) gets this long before the next step, as the
SDK's own stdio client gives its server."""

HTTP_TIMEOUT_SECONDS = 30.0
"""Connecting to, writing to and waiting for a connection to an HTTP upstream (the SDK's default)."""

HTTP_READ_TIMEOUT_SECONDS = 300.0
"""Silence on an HTTP upstream's response stream before giving up (the SDK's default: a server
may hold a stream open through a long tool)."""


@dataclass(frozen=True)
class StdioUpstream:
    """An MCP server started as a command (`npx -y @modelcontextprotocol/server-everything`).

    Args:
        command: the program and its arguments.
        env: variables set in the child (`--env KEY=VALUE`).
        pass_env: names of the worker's variables passed on to the child (`--pass-env KEY`).
        cwd: the child's working directory (the worker's when None).
        pool: children run at once; requests go to the least busy one.
    """

    command: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict[str, str])
    pass_env: Sequence[str] = ()
    cwd: str | None = None
    pool: int = 1

    def __post_init__(self) -> None:
        if not self.command:
            raise ValueError("StdioUpstream needs a command (everything after `--`)")
        if self.pool < 1:
            raise ValueError(f"pool must be 1 or more, got {self.pool}")

    def describe(self) -> str:
        return shlex.join(self.command)

    def environment(self) -> dict[str, str]:
        names = (*INHERITED_ENV, *self.pass_env)
        child = {name: os.environ[name] for name in names if name in os.environ}
        child.update(self.env)
        return child

    def open_link(self) -> ChildLink:
        return ChildLink(self)


@dataclass(frozen=True)
class HttpUpstream:
    """An MCP server at a Streamable HTTP URL.

    Args:
        url: the server's MCP endpoint (`http://host:port/mcp`).
        headers: sent with every request (`--upstream-header 'Authorization: Bearer ...'`).
    """

    url: str
    headers: Mapping[str, str] = field(default_factory=dict[str, str])

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"upstream URL {self.url!r} must start with http:// or https://")

    def describe(self) -> str:
        return self.url

    @property
    def pool(self) -> int:
        return 1  # an HTTP server serves concurrent requests itself

    def open_link(self) -> HttpLink:
        return HttpLink(self)


Upstream = StdioUpstream | HttpUpstream


def describe_exit(status: int | None) -> str:
    if status is None:
        return "stopped answering"
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"was killed by {name}"
    return f"exited with status {status}"


class ChildLink(Link):
    """A link to one child process; it ends when the child does."""

    guesses_caller = True  # a stdio server does not say which of its requests a message serves

    def __init__(self, upstream: StdioUpstream) -> None:
        super().__init__()
        self.upstream = upstream
        self.exit_status: int | None = None
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self.pid: int | None = None
        self._exited = anyio.Event()

    def death(self) -> str:
        """`npx ... exited with status 1` (what callers and the log are told)."""
        return f"the upstream `{self.upstream.describe()}` {describe_exit(self.exit_status)}"

    def streams(self) -> AbstractAsyncContextManager[Streams]:
        return self._child_streams()

    @asynccontextmanager
    async def _child_streams(self) -> AsyncIterator[Streams]:
        upstream = self.upstream
        try:
            process = await anyio.open_process(
                list(upstream.command),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=upstream.environment(),
                cwd=upstream.cwd,
                start_new_session=True,  # a terminal's Ctrl-C is for the worker, which stops its children
            )
        except OSError as exc:
            self._exited.set()
            raise MCPError(code=INTERNAL_ERROR, message=f"cannot start `{upstream.describe()}`: {exc}") from None
        self.pid = process.pid
        inbound_send, inbound_receive = anyio.create_memory_object_stream[SessionMessage | Exception](16)
        outbound_send, outbound_receive = anyio.create_memory_object_stream[SessionMessage](16)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._read_stdout, process, inbound_send)
            tg.start_soon(self._write_stdin, process, outbound_receive)
            tg.start_soon(self._read_stderr, process)
            tg.start_soon(self._wait_exit, process)
            try:
                yield inbound_receive, outbound_send
            finally:
                with anyio.CancelScope(shield=True):
                    await self._stop(process)
                # Here too, not only in `_wait_exit`: cancelling the task group below may cancel that
                # task just as its wait returns, and callers must still learn how the child ended.
                self._ended(process.returncode)
                tg.cancel_scope.cancel()

    async def _read_stdout(
        self, process: anyio.abc.Process, inbound: anyio.abc.ObjectSendStream[SessionMessage | Exception]
    ) -> None:
        assert process.stdout is not None
        reader = BufferedByteReceiveStream(process.stdout)
        async with inbound:
            while True:
                try:
                    line = await reader.receive_until(b"\n", MAX_LINE_BYTES)
                except (anyio.EndOfStream, anyio.IncompleteRead, anyio.ClosedResourceError, anyio.BrokenResourceError):
                    return
                except anyio.DelimiterNotFound:
                    logger.warning(
                        "%s wrote a line over %d bytes; stopping it", self.upstream.describe(), MAX_LINE_BYTES
                    )
                    return
                if not line.strip():
                    continue
                try:
                    message = jsonrpc_message_adapter.validate_json(line, by_name=False)
                except ValidationError:
                    logger.warning("%s wrote a line that is not JSON-RPC: %.200r", self.upstream.describe(), line)
                    continue
                await inbound.send(SessionMessage(message))

    async def _write_stdin(
        self, process: anyio.abc.Process, outbound: anyio.abc.ObjectReceiveStream[SessionMessage]
    ) -> None:
        assert process.stdin is not None
        async with outbound:
            async for item in outbound:
                line = item.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n"
                try:
                    await process.stdin.send(line.encode())
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    return  # the child is gone; its stdout's end tells the dispatcher

    async def _read_stderr(self, process: anyio.abc.Process) -> None:
        assert process.stderr is not None
        reader = BufferedByteReceiveStream(process.stderr)
        while True:
            try:
                line = await reader.receive_until(b"\n", MAX_LINE_BYTES)
            except anyio.DelimiterNotFound:
                continue
            except (anyio.EndOfStream, anyio.IncompleteRead, anyio.ClosedResourceError, anyio.BrokenResourceError):
                return
            text = line.decode(errors="replace").rstrip()
            self.stderr_tail.append(text)
            logger.debug("%s: %s", self.upstream.describe(), text)

    async def _wait_exit(self, process: anyio.abc.Process) -> None:
        self._ended(await process.wait())

    def _ended(self, status: int | None) -> None:
        if status is not None and not self._exited.is_set():
            self.exit_status = status
            self._exited.set()

    async def _stop(self, process: anyio.abc.Process) -> None:
        if process.returncode is not None:
            return
        if process.stdin is not None:
            await process.stdin.aclose()
        for stop in (process.terminate, process.kill):
            with anyio.move_on_after(STOP_GRACE_SECONDS):
                await process.wait()
                return
            try:
                stop()
            except ProcessLookupError:
                return
        await process.wait()

    async def connection_lost(self, method: str, error: MCPError) -> MCPError:
        if error.error.code != CONNECTION_CLOSED:
            return error  # the child answered this error itself
        with anyio.move_on_after(EXIT_WAIT_SECONDS):
            await self._exited.wait()
        return MCPError(code=INTERNAL_ERROR, message=f"{self.death()} while serving {method}; it is being restarted")


class HttpLink(Link):
    """A link to a Streamable HTTP server."""

    guesses_caller = True  # the SDK's HTTP client does not say which request a message serves

    def __init__(self, upstream: HttpUpstream) -> None:
        super().__init__()
        self.upstream = upstream

    def death(self) -> str:
        return f"the upstream {self.upstream.url} closed the connection"

    async def connection_lost(self, method: str, error: MCPError) -> MCPError:
        if error.error.code != CONNECTION_CLOSED:
            return error  # the server answered this error itself
        return MCPError(code=INTERNAL_ERROR, message=f"{self.death()} while serving {method}; reconnecting")

    def streams(self) -> AbstractAsyncContextManager[Streams]:
        return self._http_streams()

    @asynccontextmanager
    async def _http_streams(self) -> AsyncIterator[Streams]:
        http = httpx2.AsyncClient(
            headers=dict(self.upstream.headers),
            timeout=httpx2.Timeout(HTTP_TIMEOUT_SECONDS, read=HTTP_READ_TIMEOUT_SECONDS),
        )
        async with http, streamable_http_client(self.upstream.url, http_client=http) as streams:
            yield streams
