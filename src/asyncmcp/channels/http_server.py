"""Serving an ASGI app with uvicorn inside a task, on 127.0.0.1 or wherever told, for the body of a block.

The webhook server's ingress and a webhook client's receiver both need an HTTP server of their
own when they are not mounted into the user's app. The socket is opened first (`listening_socket`),
so port 0 gives a free port known before the app starts (the proxy names its own URL to a webhook
backend in its lifespan, before uvicorn would bind), and the server is told to exit and awaited on
the way out.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from starlette.types import ASGIApp

__all__ = ["listening_socket", "serve_asgi"]

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5
"""Seconds uvicorn gives open connections to finish on the way out (whole seconds: its
`timeout_graceful_shutdown` takes an int); one more bounds the wait before it is forced to exit."""


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to `host:port` (0: a free port) for uvicorn to serve on; a port in use is
    one line saying so."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say TCP, and without it a
    # response waits for a delayed ACK (40 ms) when requests come back to back.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another port") from None
    return sock


@asynccontextmanager
async def serve_asgi(app: ASGIApp, host: str, port: int, *, lifespan: bool = False) -> AsyncIterator[int]:
    """Serve `app` on `host:port` for the body of the block; yields the port actually bound.

    `lifespan` runs the app's lifespan (an SDK `streamable_http_app()` needs it); a bare receiver
    has none."""
    import uvicorn

    sock = listening_socket(host, port)
    bound = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            lifespan="on" if lifespan else "off",
            access_log=False,
            timeout_graceful_shutdown=STOP_TIMEOUT,
        )
    )
    done = anyio.Event()
    # uvicorn is never cancelled mid-flight: a cancelled `serve` skips its shutdown, which leaves
    # the listener registered with the event loop after the socket is closed; the next socket that
    # reuses the file descriptor then has its reads taken by the dead listener and hangs. So the
    # server runs shielded and is stopped by its own `should_exit`, and only a stop that overruns
    # its bound cancels it (the listeners are then closed here).
    shield = anyio.CancelScope(shield=True)

    async def serve() -> None:
        try:
            with shield:
                await server.serve([sock])
        finally:
            done.set()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(serve)
            with anyio.fail_after(START_TIMEOUT):
                while not server.started and not done.is_set():  # noqa: ASYNC110 (uvicorn offers a flag)
                    await anyio.sleep(0.01)
            try:
                yield bound
            finally:
                server.should_exit = True
                with anyio.CancelScope(shield=True):
                    with anyio.move_on_after(STOP_TIMEOUT + 1.0):
                        await done.wait()
                    if not done.is_set():
                        server.force_exit = True
                        shield.cancel()
                        await done.wait()
    finally:
        for listener in getattr(server, "servers", []):
            listener.close()
        sock.close()
