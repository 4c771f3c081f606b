"""`serve_asgi` leaves the event loop clean however its block ends, cancellation included.

A uvicorn server cancelled mid-flight once kept its listener registered with the loop after the
socket was closed; the next socket given the same file descriptor never saw a read event, and
every HTTP exchange on it hung (this hung whole benchmark runs after the section that was cut short).
"""

from __future__ import annotations

import anyio
import httpx2 as httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from asyncmcp.channels.http_server import serve_asgi

pytestmark = pytest.mark.anyio


async def _hello(_request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


APP = Starlette(routes=[Route("/", _hello)])


async def _get(port: int) -> str:
    async with httpx.AsyncClient(timeout=5.0) as http:
        return (await http.get(f"http://127.0.0.1:{port}/")).text


async def test_a_server_cancelled_in_its_block_leaves_nothing_that_takes_a_later_sockets_reads() -> None:
    for _ in range(3):
        with anyio.move_on_after(0.2) as cut:
            async with serve_asgi(APP, "127.0.0.1", 0) as port:
                assert await _get(port) == "hello"
                await anyio.sleep(5)
        assert cut.cancelled_caught
    # Fresh sockets now reuse the descriptors the cancelled servers listened on.
    with anyio.fail_after(20):
        async with serve_asgi(APP, "127.0.0.1", 0) as port:
            for _ in range(5):
                assert await _get(port) == "hello"


async def test_a_server_stops_when_its_block_ends_and_its_port_is_free_again() -> None:
    async with serve_asgi(APP, "127.0.0.1", 0) as port:
        assert await _get(port) == "hello"
    with pytest.raises(httpx.ConnectError):
        await _get(port)
