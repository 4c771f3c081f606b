"""An HTTP endpoint in front of the moto server that fails chosen AWS calls, for transport tests.

moto cannot be told to throttle or to deny access, so this forwards every request to it unchanged
(over real HTTP) except those `should_fail` picks, which get the error SQS answers a throttled call
with (or another `Refusal`, such as `ACCESS_DENIED`). The client under test talks to this endpoint
with a real aiobotocore client; nothing is mocked.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

ShouldFail = Callable[[str, bytes], bool]
"""Given the call's `X-Amz-Target` (for example `AmazonSQS.SendMessage`) and its body: fail it?"""


@dataclass(frozen=True)
class Refusal:
    """The error SQS answers a refused call with: its JSON body and its query-compatible code header."""

    body: str
    query_error: str


THROTTLED = Refusal(
    json.dumps({"__type": "com.amazonaws.sqs#RequestThrottled", "message": "Request is throttled."}),
    "AWS.SimpleQueueService.RequestThrottled;Sender",
)
ACCESS_DENIED = Refusal(
    json.dumps({"__type": "com.amazon.coral.service#AccessDeniedException", "message": "not authorized"}),
    "AccessDenied;Sender",
)


class FaultyForwarder:
    """ASGI app: forward to `target`, or answer 400 with `refusal` when `should_fail` says so."""

    def __init__(self, target: str, should_fail: ShouldFail, refusal: Refusal = THROTTLED) -> None:
        self.target = target
        self.should_fail = should_fail
        self.refusal = refusal
        self.failed: list[str] = []
        self.failed_at: list[float] = []
        """`time.monotonic()` of each refusal, in order."""
        self.worker: Any = None
        """Set by tests that put a worker behind this endpoint."""
        # trust_env=False: an HTTP_PROXY on the machine must not capture 127.0.0.1 traffic.
        self.client = httpx2.AsyncClient(timeout=60, trust_env=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        body = await request.body()
        operation = request.headers.get("x-amz-target", "")
        if self.should_fail(operation, body):
            self.failed.append(operation)
            self.failed_at.append(time.monotonic())
            response = Response(
                self.refusal.body,
                status_code=400,
                media_type="application/x-amz-json-1.0",
                headers={"x-amzn-query-error": self.refusal.query_error},
            )
        else:
            headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
            query = f"?{request.url.query}" if request.url.query else ""
            upstream = await self.client.request(
                request.method, f"{self.target}{request.url.path}{query}", content=body, headers=headers
            )
            dropped = ("content-length", "transfer-encoding", "connection", "content-encoding")
            kept = {k: v for k, v in upstream.headers.items() if k.lower() not in dropped}
            response = Response(upstream.content, status_code=upstream.status_code, headers=kept)
        await response(scope, receive, send)


@asynccontextmanager
async def faulty_endpoint(
    target: str, should_fail: ShouldFail, refusal: Refusal = THROTTLED
) -> AsyncIterator[tuple[str, FaultyForwarder]]:
    """Serve a `FaultyForwarder` to `target` on 127.0.0.1; yields its URL and the forwarder."""
    app = FaultyForwarder(target, should_fail, refusal)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
        server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off", access_log=False))
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(server.serve, [sock])
                with anyio.fail_after(10):
                    while not server.started:  # noqa: ASYNC110  (uvicorn offers a flag, not an event)
                        await anyio.sleep(0.01)
                try:
                    yield f"http://127.0.0.1:{port}", app
                finally:
                    server.should_exit = True
        finally:
            await app.client.aclose()


@asynccontextmanager
async def sqs_behind_faults(
    target: str, should_fail: ShouldFail, refusal: Refusal = THROTTLED
) -> AsyncIterator[tuple[Any, FaultyForwarder]]:
    """An aiobotocore SQS client whose calls go through a `faulty_endpoint` to `target`.

    botocore's own retries are off, so each refused call surfaces to asyncmcp as it happens.
    """
    from aiobotocore.session import get_session
    from botocore.config import Config

    no_retries = Config(retries={"mode": "standard", "max_attempts": 1})
    async with (
        faulty_endpoint(target, should_fail, refusal) as (url, forwarder),
        get_session().create_client(
            "sqs", endpoint_url=url, region_name=os.environ["AWS_REGION"], config=no_retries
        ) as client,
    ):
        yield client, forwarder
