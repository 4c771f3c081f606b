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

import logging
import socket
from collections.abc import Mapping, Sequence
from typing import Any

import anyio
import anyio.abc
import uvicorn

from asyncmcp.errors import AsyncMcpError
from asyncmcp.proxy.backend import BackendOpener
from asyncmcp.proxy.forwarding import build_proxy_server
from asyncmcp.proxy.http import FrontSecurity, build_http_app

__all__ = ["ProxyServer", "create_proxy_server"]

logger = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN_SECONDS = 10.0
"""On stop, how long in-flight calls may finish before connections are closed."""


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
        self.app = build_http_app(self.mcp_server, opener, host=host, security=self.security)
        self._uvicorn: uvicorn.Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/mcp"

    async def run(self, *, task_status: anyio.abc.TaskStatus[str] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled or `stop()`; reports the bound URL through `task_status`."""
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=int(self.graceful_shutdown_seconds),
        )
        server = self._uvicorn = uvicorn.Server(config)
        finished = anyio.Event()
        listening = self._listen()

        async def serve() -> None:
            # Shielded: cancelling `run()` must shut uvicorn down (closing the backend in its
            # lifespan), not abandon its lifespan task with the backend still open.
            try:
                with anyio.CancelScope(shield=True), listening:
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
                self.port = int(listening.getsockname()[1])
                task_status.started(self.url)
                await finished.wait()
            finally:
                server.should_exit = True  # graceful, bounded by timeout_graceful_shutdown

    def _listen(self) -> socket.socket:
        """Bind the listening socket here, before the backend opens, so a port in use is one clear
        error (uvicorn would log it and exit the process)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise AsyncMcpError(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}; choose another port with "
                "--port (or PORT), or stop the process using it"
            ) from None
        sock.listen(2048)
        sock.setblocking(False)
        return sock

    def stop(self) -> None:
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True

    async def run_stdio(self) -> None:
        """Serve one client on stdin/stdout (what Claude Desktop's `command` launches)."""
        from mcp.server.stdio import stdio_server

        async with stdio_server() as (read, write):
            await self.mcp_server.run(read, write, self.mcp_server.create_initialization_options())


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
) -> ProxyServer:
    """Build a proxy in front of a server reached over `backend_transport` (the original asyncmcp API).

    `backend_transport` is a registered channel name (`asyncmcp.channels.registry.names()`),
    `backend_config` that channel's client config, `backend_clients` its broker clients by name
    (for SQS: `{"sqs_client": boto3.client("sqs")}`; optional).
    """
    opener = BackendOpener(backend_transport, backend_config, backend_clients)
    security = FrontSecurity(
        auth_token=auth_token,
        allowed_hosts=allowed_hosts,
        allowed_origins=allowed_origins,
        max_body_bytes=max_body_bytes,
    )
    return ProxyServer(opener, host=host, port=port, security=security)
