"""Deliveries over real HTTP on 127.0.0.1: retries, Retry-After, refusals, redirects, no head-of-line blocking."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from starlette.types import Receive, Scope, Send

from asyncmcp.channels.http_server import serve_asgi
from asyncmcp.channels.webhook.delivery import RetrySchedule, WebhookSender
from asyncmcp.channels.webhook.egress import EgressPolicy
from asyncmcp.channels.webhook.signing import Signer, generate_secret
from asyncmcp.codec import Frame
from asyncmcp.errors import AddressNotFoundError, ChannelError, FrameTooLargeError

pytestmark = pytest.mark.anyio

SIGNER = Signer([generate_secret()])
FAST = RetrySchedule((0.05, 0.05, 0.05))


class Receiver:
    """An ASGI app answering each POST with the next status of `statuses` (then 200), recording each."""

    def __init__(self, statuses: list[int] | None = None, headers: dict[int, list[tuple[bytes, bytes]]] | None = None):
        self.statuses = list(statuses or [])
        self.headers = headers or {}
        self.seen: list[dict[str, str]] = []
        self.pause: Callable[[], Awaitable[None]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        self.seen.append({k.decode(): v.decode() for k, v in scope["headers"]})
        if self.pause is not None:
            await self.pause()
        status = self.statuses.pop(0) if self.statuses else 200
        await send({"type": "http.response.start", "status": status, "headers": self.headers.get(status, [])})
        await send({"type": "http.response.body", "body": b"{}"})


@asynccontextmanager
async def receiving(app: Any) -> AsyncIterator[str]:
    async with serve_asgi(app, "127.0.0.1", 0) as port:
        yield f"http://127.0.0.1:{port}/hook"


def sender(schedule: RetrySchedule = FAST) -> WebhookSender:
    return WebhookSender(SIGNER, EgressPolicy(allow_loopback=True), schedule=schedule)


async def test_a_delivery_is_retried_on_5xx_and_429_with_the_same_id_and_fresh_signatures() -> None:
    receiver = Receiver([503, 429, 502])
    async with receiving(receiver) as url, sender() as out:
        await out.send(url, Frame('{"jsonrpc":"2.0","method":"x"}', {"mcp-client-id": "c1"}))
    assert len(receiver.seen) == 4
    assert len({seen["webhook-id"] for seen in receiver.seen}) == 1
    assert all(seen["mcp-client-id"] == "c1" for seen in receiver.seen)
    assert all(SIGNER.verify(seen, b'{"jsonrpc":"2.0","method":"x"}') for seen in receiver.seen)


async def test_retry_after_is_honoured() -> None:
    receiver = Receiver([429], headers={429: [(b"retry-after", b"1")]})
    start = anyio.current_time()
    async with receiving(receiver) as url, sender() as out:
        await out.send(url, Frame("{}"))
    assert anyio.current_time() - start >= 1.0  # waited as told, not the schedule's 50 ms


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
async def test_a_client_error_is_not_retried(status: int) -> None:
    receiver = Receiver([status])
    async with receiving(receiver) as url, sender() as out:
        with pytest.raises(ChannelError, match=f"answered {status}") as refused:
            await out.send(url, Frame("{}"))
    assert refused.value.permanent and not isinstance(refused.value, AddressNotFoundError)
    assert len(receiver.seen) == 1


async def test_413_says_the_frame_is_too_large() -> None:
    async with receiving(Receiver([413])) as url, sender() as out:
        with pytest.raises(FrameTooLargeError):
            await out.send(url, Frame("{}"))


async def test_a_redirect_to_a_private_address_is_not_followed() -> None:
    metadata_hits: list[str] = []
    receiver = Receiver([302], headers={302: [(b"location", b"http://169.254.169.254/latest/meta-data/")]})
    async with receiving(receiver) as url, sender() as out:
        with pytest.raises(ChannelError, match="redirect"):
            await out.send(url, Frame("{}"))
    assert len(receiver.seen) == 1 and metadata_hits == []


async def test_a_receiver_that_never_answers_fails_as_unreachable_after_the_schedule() -> None:
    async with receiving(Receiver()) as url:
        pass  # the server is gone now: connections are refused
    async with sender() as out:
        with pytest.raises(AddressNotFoundError, match="after 4 attempts"):
            await out.send(url, Frame("{}"))
        assert out.stats["undelivered"] == 1


async def test_a_url_the_egress_rules_refuse_is_never_requested() -> None:
    async with WebhookSender(SIGNER, EgressPolicy(), schedule=FAST) as out:  # loopback not allowed
        with pytest.raises(ChannelError, match="refused") as refused:
            await out.send("http://127.0.0.1:9/hook", Frame("{}"))
    assert refused.value.permanent
    assert out.calls["POST"] == 1 and out.stats["refused"] == 1


async def test_a_slow_receiver_does_not_delay_deliveries_to_another() -> None:
    slow, fast = Receiver(), Receiver()
    release = anyio.Event()
    slow.pause = release.wait
    async with (
        receiving(slow) as slow_url,
        receiving(fast) as fast_url,
        sender() as out,
        anyio.create_task_group() as tg,
    ):
        for _ in range(8):  # more than one lane's worth of deliveries to the slow receiver
            tg.start_soon(out.send, slow_url, Frame("{}"))
        with anyio.fail_after(10):
            for _ in range(20):
                await out.send(fast_url, Frame("{}"))  # each completes while the slow ones wait
        assert len(fast.seen) == 20
        release.set()
    assert len(slow.seen) == 8
