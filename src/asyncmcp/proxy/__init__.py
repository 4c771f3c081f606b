"""The proxy: standard MCP clients (Streamable HTTP or stdio) reach servers behind a queue, unchanged.

```python
proxy = create_proxy_server(
    backend_transport="sqs",                      # any registered channel
    backend_config=SqsClientConfig(read_queue_url=..., response_queue_url=...),
    backend_clients={"sqs_client": boto3.client("sqs")},
    port=8080,
    auth_token=None,
)
await proxy.run()          # clients connect to http://127.0.0.1:8080/mcp
```

Every front session shares one backend reply address; replies are routed by client id, so
sessions never see each other's messages. See docs/proxy.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

import anyio
import anyio.abc
import anyio.from_thread
import anyio.lowlevel
import uvicorn

from asyncmcp.errors import AsyncMcpError
from asyncmcp.proxy.backend import BackendOpener
from asyncmcp.proxy.forwarding import build_proxy_server
from asyncmcp.proxy.http import FrontSecurity, build_http_app

__all__ = ["ProxyServer", "create_proxy_server"]

logger = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN_SECONDS = 10.0
"""On stop, how long in-flight calls may finish before the front sessions are ended (`--grace`)."""


class ProxyServer:
    """A configured proxy. `await run()` serves Streamable HTTP; `await run_stdio()` serves stdin/stdout."""

    def __init__(
        self,
        opener: BackendOpener,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        security: FrontSecurity | None = None,
        graceful_shutdown_seconds: float = GRACEFUL_SHUTDOWN_SECONDS,
    ) -> None:
        self.opener = opener
        self.host = host
        self.port = port
        self.security = security or FrontSecurity()
        self.graceful_shutdown_seconds = graceful_shutdown_seconds
        self.mcp_server = build_proxy_server(opener)
        self.app, self._sessions, self.in_flight = build_http_app(
            self.mcp_server, opener, host=host, security=self.security
        )
        self._stop_requested = anyio.Event()
        self._uvicorn: uvicorn.Server | None = None
        self._stdin: StdinLines | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/mcp"

    async def run(self, *, task_status: anyio.abc.TaskStatus[str] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled or `stop()`; reports the bound URL through `task_status`."""
        # Bound before the backend opens: a port in use is one clear error, and a backend that
        # receives by HTTP (webhooks) must name this port when it opens.
        listening = self._listen()
        self.port = int(listening.getsockname()[1])
        self.opener.offer_app(self.app, f"http://{self.host}:{self.port}")
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            # The proxy enters the app's lifespan (the backend) itself, so a backend that cannot open
            # is this coroutine's exception, not a traceback uvicorn logs before it exits the process.
            lifespan="off",
            timeout_graceful_shutdown=int(self.graceful_shutdown_seconds),
        )
        server = self._uvicorn = _QuietUvicorn(config)
        finished = anyio.Event()

        async def serve() -> None:
            # Shielded: cancelling `run()` must shut uvicorn down (closing the backend in its
            # lifespan), not abandon its lifespan task with the backend still open.
            try:
                with anyio.CancelScope(shield=True), listening:
                    async with self._sessions.run():
                        await server.serve(sockets=[listening])
            finally:
                finished.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(serve)
            try:
                while not server.started:
                    if finished.is_set():
                        return
                    await anyio.sleep(0.01)
                task_status.started(self.url)
                tg.start_soon(self._drain_on_stop, server)
                await finished.wait()
            finally:
                with anyio.move_on_after(SESSION_END_TIMEOUT, shield=True):
                    await self._sessions.terminate_sessions()
                server.should_exit = True  # graceful, bounded by timeout_graceful_shutdown

    async def _drain_on_stop(self, server: uvicorn.Server) -> None:
        """On `stop()`: let the calls in flight finish, their answers written (up to the grace period),
        then end the front sessions and shut the HTTP server down.

        Setting uvicorn's `should_exit` first would end every SSE stream at once (sse-starlette
        watches it), cutting off 2025-era calls whose answers travel on those streams.
        """
        await self._stop_requested.wait()
        with anyio.move_on_after(self.graceful_shutdown_seconds):
            await self.in_flight.wait_idle()
        if self.in_flight.count:
            logger.warning(
                "stopping with %d call(s) still in flight after %g s",
                self.in_flight.count,
                self.graceful_shutdown_seconds,
            )
        with anyio.move_on_after(SESSION_END_TIMEOUT):
            await self._sessions.terminate_sessions()
        server.should_exit = True

    def _listen(self) -> socket.socket:
        """Bind the listening socket here, before the backend opens, so a port in use is one clear
        error (uvicorn would log it and exit the process)."""
        from asyncmcp.channels.http_server import listening_socket

        try:
            sock = listening_socket(self.host, self.port)
        except OSError as exc:
            raise AsyncMcpError(f"{exc} with --port (or PORT), or stop the process using it") from None
        sock.listen(2048)
        sock.setblocking(False)
        return sock

    def stop(self) -> None:
        """Stop gracefully: calls in flight finish (up to `graceful_shutdown_seconds`), then it exits."""
        self._stop_requested.set()
        if self._stdin is not None:
            self._stdin.close()

    async def run_stdio(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve one client on stdin/stdout (what Claude Desktop's `command` launches) until stdin
        ends or `stop()`; either way the backend is closed (its temporary reply queue deleted).

        stdin is read by a thread that is abandoned on stop: the SDK's own reader would hold the
        process until the client closed the pipe, which is why Ctrl-C once waited for Ctrl-D.
        """
        from mcp.server.stdio import stdio_server

        # `stop()` ends stdin rather than cancelling: the server then winds down as on EOF, closing the
        # backend the normal way (a cancellation landing while the backend opens would tear it).
        self._stdin = stdin = StdinLines()
        task_status.started()
        async with stdio_server(stdin=cast("anyio.AsyncFile[str]", stdin)) as (read, write):
            await self.mcp_server.run(read, write, self.mcp_server.create_initialization_options())


SESSION_END_TIMEOUT = 2.0
"""Bound on ending the front sessions when the proxy stops (closing their streams takes no I/O wait)."""


class _QuietUvicorn(uvicorn.Server):
    """uvicorn without its own SIGINT/SIGTERM handlers: the proxy's owner decides when to stop
    (`asyncmcp proxy` stops gracefully on the first signal), and uvicorn's handler would end every
    SSE stream at once, in-flight calls included."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


STDIN_READ_BYTES = 65_536
"""Bytes asked for per read of stdin (a JSON-RPC line may span several reads)."""


class StdinLines:
    """This process's stdin as an async iterator of lines, read by a daemon thread of its own.

    A thread blocked in `readline` cannot be interrupted, and the SDK's reader (anyio's worker
    threads) would keep the process alive until the client closed the pipe. A daemon thread does
    not: when the proxy stops, the process exits with the read still pending.
    """

    def __init__(self) -> None:
        self._send, self._receive = anyio.create_memory_object_stream[bytes](0)
        self._reader: threading.Thread | None = None

    def __aiter__(self) -> StdinLines:
        return self

    def close(self) -> None:
        """End the lines now, as if the client had closed stdin."""
        self._send.close()

    async def __anext__(self) -> str:
        if self._reader is None:
            token = anyio.lowlevel.current_token()
            self._reader = threading.Thread(target=self._read, args=(token,), name="asyncmcp-stdin", daemon=True)
            self._reader.start()
        try:
            line = await self._receive.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None
        return line.decode("utf-8", errors="replace")

    def _read(self, token: anyio.lowlevel.EventLoopToken) -> None:
        # Plain reads of a private duplicate of fd 0: a thread blocked in `sys.stdin.buffer` would hold
        # that buffer's lock, and the interpreter takes it when it exits.
        fd = os.dup(0)
        pending = b""
        try:
            while chunk := os.read(fd, STDIN_READ_BYTES):
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    anyio.from_thread.run(self._send.send, line + b"\n", token=token)
            if pending:
                anyio.from_thread.run(self._send.send, pending, token=token)
            anyio.from_thread.run_sync(self._send.close, token=token)
        except (OSError, RuntimeError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            return  # the event loop or the reader is gone: the proxy stopped
        finally:
            os.close(fd)


def create_proxy_server(
    backend_transport: str,
    backend_config: Any,
    backend_clients: Mapping[str, Any] | None = None,
    port: int = 8080,
    auth_token: str | None = None,
    *,
    host: str = "127.0.0.1",
    allowed_hosts: Sequence[str] | None = None,
    allowed_origins: Sequence[str] | None = None,
    max_body_bytes: int = 4 * 1024 * 1024,
    graceful_shutdown_seconds: float = GRACEFUL_SHUTDOWN_SECONDS,
    max_large_bodies: int = 2,
    max_sessions: int = 1000,
    max_sessions_per_client: int | None = 100,
) -> ProxyServer:
    """Build a proxy in front of a server reached over `backend_transport` (the original asyncmcp API).

    `backend_transport` is a registered channel name (`asyncmcp.channels.registry.names()`),
    `backend_config` that channel's client config, `backend_clients` its broker clients by name
    (for SQS: `{"sqs_client": boto3.client("sqs")}`; optional). The limits are `FrontSecurity`'s
    (docs/proxy.md, "What it holds").
    """
    opener = BackendOpener(backend_transport, backend_config, backend_clients)
    security = FrontSecurity(
        auth_token=auth_token,
        allowed_hosts=allowed_hosts,
        allowed_origins=allowed_origins,
        max_body_bytes=max_body_bytes,
        max_large_bodies=max_large_bodies,
        max_sessions=max_sessions,
        max_sessions_per_client=max_sessions_per_client,
    )
    return ProxyServer(
        opener, host=host, port=port, security=security, graceful_shutdown_seconds=graceful_shutdown_seconds
    )
