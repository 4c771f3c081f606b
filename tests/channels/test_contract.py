"""The contract every registered channel must keep, run against each one.

One set of tests, parametrized by channel: the memory channel, SQS and SNS+SQS (on the moto
endpoint over HTTP) and webhooks (real HTTP on 127.0.0.1), and every channel added later. A
channel joins by adding a `ChannelCase` to `CASES`. What a test checks follows what the channel
declares in its `Capabilities`: on a channel that says it cannot redeliver, a test of redelivery
checks that the released frame stays gone.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import boto3
import pytest

from asyncmcp.channels import registry
from asyncmcp.channels.base import Channel, Delivery
from asyncmcp.channels.memory import MemoryBroker, MemoryChannel
from asyncmcp.codec import ATTR_CLIENT_ID, ENVELOPE_ATTRIBUTES, MAX_ROUTING_ATTRIBUTES, Frame, wake_frame
from asyncmcp.errors import AddressNotFoundError, FrameTooLargeError

pytestmark = pytest.mark.anyio

HOLD_SECONDS = 2
"""How long a received frame stays hidden in these tests (short, so lapses are quick to observe)."""
WITHIN = 15.0
"""Bound on any wait for something that must happen."""


@dataclass(frozen=True)
class Route:
    """Where a frame is sent and where it is then received: one queue on SQS; a topic and the queue
    subscribed to it on SNS+SQS."""

    send_to: str
    receive_from: str


@dataclass
class Opened:
    channel: Channel
    new_route: Callable[[], Awaitable[Route]]
    """A fresh, empty route of this channel."""
    limited_route: Callable[[int], Awaitable[Route]]
    """A fresh route that accepts frames up to the given size."""


@dataclass(frozen=True)
class ChannelCase:
    name: str
    open: Callable[[dict[str, Any]], AbstractAsyncContextManager[Opened]]


def _same(address: str) -> Route:
    return Route(address, address)


@asynccontextmanager
async def _memory(shared: dict[str, Any]) -> AsyncIterator[Opened]:
    broker: MemoryBroker = shared.setdefault("broker", MemoryBroker())

    async def route() -> Route:
        return _same(broker.create_queue(f"q-{uuid.uuid4().hex[:8]}", visibility_timeout=HOLD_SECONDS))

    async def limited(size: int) -> Route:
        return _same(broker.create_queue(f"q-{uuid.uuid4().hex[:8]}", max_frame_size=size))

    async with MemoryChannel(broker, wait_seconds=1.0, visibility_timeout_seconds=HOLD_SECONDS) as channel:
        yield Opened(channel, route, limited)


def _queue(**attributes: str) -> str:
    name = f"contract-{uuid.uuid4().hex[:8]}"
    sqs = boto3.client("sqs")
    return sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": str(HOLD_SECONDS), **attributes})[
        "QueueUrl"
    ]


@asynccontextmanager
async def _sqs(shared: dict[str, Any]) -> AsyncIterator[Opened]:
    from asyncmcp.channels.sqs.api import SqsApi
    from asyncmcp.channels.sqs.channel import SqsChannel

    async def route() -> Route:
        return _same(_queue())

    async def limited(size: int) -> Route:
        return _same(_queue(MaximumMessageSize=str(size)))

    async with (
        SqsApi() as api,
        SqsChannel(api, wait_time_seconds=1, visibility_timeout_seconds=HOLD_SECONDS) as channel,
    ):
        yield Opened(channel, route, limited)


@asynccontextmanager
async def _sns_sqs(shared: dict[str, Any]) -> AsyncIterator[Opened]:
    from asyncmcp.channels.sns_sqs.api import SnsApi
    from asyncmcp.channels.sns_sqs.channel import SnsSqsChannel
    from asyncmcp.channels.sns_sqs.provision import create_reply_topology
    from asyncmcp.channels.sqs.api import SqsApi
    from asyncmcp.channels.sqs.channel import SqsChannel

    async with (
        SqsApi() as sqs,
        SnsApi() as sns,
        SqsChannel(sqs, wait_time_seconds=1, visibility_timeout_seconds=HOLD_SECONDS) as queues,
        SnsSqsChannel(queues, sns) as channel,
    ):

        async def route() -> Route:
            topology = await create_reply_topology(
                f"contract-{uuid.uuid4().hex[:8]}", sqs=sqs, sns=sns, visibility_timeout=HOLD_SECONDS
            )
            return Route(topology.topic_arn, topology.queue_url)

        async def limited(size: int) -> Route:
            made = await route()
            # moto ignores a topic's MaximumMessageSize; the channel learns a raised limit by this call
            # on real SNS (`learn_topic_limit`), so the test sets what it would have learned.
            channel._limits[made.send_to] = size  # pyright: ignore[reportPrivateUsage]
            return made

        yield Opened(channel, route, limited)


@asynccontextmanager
async def _webhook(shared: dict[str, Any]) -> AsyncIterator[Opened]:
    """A webhook channel POSTing to its own ingress on 127.0.0.1: every frame crosses real HTTP."""
    from asyncmcp.channels.http_server import serve_asgi
    from asyncmcp.channels.webhook.channel import WebhookChannel
    from asyncmcp.channels.webhook.delivery import RetrySchedule, WebhookSender
    from asyncmcp.channels.webhook.egress import EgressPolicy
    from asyncmcp.channels.webhook.ingress import WebhookIngress
    from asyncmcp.channels.webhook.signing import Signer, generate_secret

    signer = Signer([shared.setdefault("secret", generate_secret())])
    schedule = RetrySchedule((0.1,))
    async with WebhookSender(signer, EgressPolicy(allow_loopback=True), schedule=schedule) as sender:
        channel = WebhookChannel(sender, "inbox", wait_seconds=1.0)
        async with serve_asgi(WebhookIngress(signer, channel.sink, path="/hook"), "127.0.0.1", 0) as port:

            async def route() -> Route:
                return Route(f"http://127.0.0.1:{port}/hook", "inbox")

            async def limited(size: int) -> Route:
                sender.max_frame_bytes = size  # the sender's limit is the receiver's body limit
                return await route()

            yield Opened(channel, route, limited)


CASES = [
    ChannelCase("memory", _memory),
    ChannelCase("sqs", _sqs),
    ChannelCase("sns_sqs", _sns_sqs),
    ChannelCase("webhook", _webhook),
]


@pytest.fixture(params=CASES, ids=[case.name for case in CASES])
def case(request: pytest.FixtureRequest, endpoint: Any) -> tuple[ChannelCase, Any]:
    """The channel under test and what its openings within one test share (the moto endpoint is
    the `endpoint` fixture's; a memory broker is made per test)."""
    endpoint.reset()
    return request.param, {}


def _frame(text: str = "hello", **attributes: str) -> Frame:
    return Frame(
        body=f'{{"jsonrpc":"2.0","method":"notifications/test","params":{{"t":"{text}"}}}}', attributes=attributes
    )


async def _receive_one(channel: Channel, address: str, *, within: float = WITHIN) -> Delivery:
    with anyio.fail_after(within):
        while True:
            got = await channel.receive(address, 10)
            if got:
                assert len(got) == 1, f"expected one frame, got {len(got)}"
                return got[0]


async def _nothing_for(channel: Channel, address: str, seconds: float) -> bool:
    """True when no frame arrives on `address` for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = await channel.receive(address, 10)
        if got:
            for delivery in got:
                delivery.release(0)
            return False
    return True


def test_every_builtin_channel_is_under_contract() -> None:
    """Every built-in transport that carries frames; one that speaks MCP itself (`serves_mcp`: the
    hybrid, over the SDK's own Streamable HTTP) has no channel to hold to this contract."""
    carrying_frames = {name for name in registry.BUILTIN if not registry.get(name).serves_mcp}
    assert carrying_frames <= {case.name for case in CASES}
    assert "sqs" in carrying_frames


async def test_a_sent_frame_is_received_with_its_attributes(case: tuple[ChannelCase, Any]) -> None:
    kind, endpoint = case
    async with kind.open(endpoint) as opened:
        route = await opened.new_route()
        await opened.channel.send(route.send_to, _frame("a", **{ATTR_CLIENT_ID: "c1"}))
        delivery = await _receive_one(opened.channel, route.receive_from)
        assert '"t":"a"' in delivery.frame.body
        assert delivery.frame.attributes[ATTR_CLIENT_ID] == "c1"
        assert delivery.receive_count == 1
        assert delivery.age_seconds >= 0
        delivery.ack()


async def test_every_routing_attribute_arrives_as_sent(case: tuple[ChannelCase, Any]) -> None:
    # The request token among them: an answer that loses it on the way is refused by its client.
    kind, endpoint = case
    names = list(ENVELOPE_ATTRIBUTES)
    async with kind.open(endpoint) as opened:
        for start in range(0, len(names), MAX_ROUTING_ATTRIBUTES):
            sent = {name: f"{name}:{uuid.uuid4().hex}" for name in names[start : start + MAX_ROUTING_ATTRIBUTES]}
            route = await opened.new_route()
            await opened.channel.send(route.send_to, _frame("routed", **sent))
            delivery = await _receive_one(opened.channel, route.receive_from)
            assert {name: delivery.frame.attributes.get(name) for name in sent} == sent
            delivery.ack()


async def test_an_acknowledged_frame_never_comes_back(case: tuple[ChannelCase, Any]) -> None:
    kind, endpoint = case
    async with kind.open(endpoint) as opened:
        route = await opened.new_route()
        await opened.channel.send(route.send_to, _frame())
        (await _receive_one(opened.channel, route.receive_from)).ack()
        assert await _nothing_for(opened.channel, route.receive_from, HOLD_SECONDS + 1.5)


async def test_a_released_frame_comes_back_counting_its_receives(case: tuple[ChannelCase, Any]) -> None:
    kind, endpoint = case
    async with kind.open(endpoint) as opened:
        route = await opened.new_route()
        await opened.channel.send(route.send_to, _frame())
        (await _receive_one(opened.channel, route.receive_from)).release(0)
        if not opened.channel.capabilities.redelivers:  # as declared: a released frame is gone
            assert await _nothing_for(opened.channel, route.receive_from, 1.5)
            return
        again = await _receive_one(opened.channel, route.receive_from)
        assert again.receive_count == 2
        again.ack()


async def test_a_frame_released_with_a_delay_stays_away_until_then(case: tuple[ChannelCase, Any]) -> None:
    kind, endpoint = case
    async with kind.open(endpoint) as opened:
        route = await opened.new_route()
        await opened.channel.send(route.send_to, _frame())
        (await _receive_one(opened.channel, route.receive_from)).release(4)
        assert await _nothing_for(opened.channel, route.receive_from, 1.5)
        if opened.channel.capabilities.delayed_release:
            (await _receive_one(opened.channel, route.receive_from)).ack()
        else:  # as declared: nothing brings it back
            assert await _nothing_for(opened.channel, route.receive_from, 4)


async def test_a_frame_whose_hold_lapses_comes_back(case: tuple[ChannelCase, Any]) -> None:
    """`release(None)` stops holding without touching the broker: the frame returns when its hold lapses."""
    kind, endpoint = case
    async with kind.open(endpoint) as opened:
        route = await opened.new_route()
        await opened.channel.send(route.send_to, _frame())
        (await _receive_one(opened.channel, route.receive_from)).release(None)
        if not opened.channel.capabilities.redelivers:  # as declared: nothing brings it back
            assert await _nothing_for(opened.channel, route.receive_from, HOLD_SECONDS + 1.5)
            return
        again = await _receive_one(opened.channel, route.receive_from, within=HOLD_SECONDS + WITHIN)
        assert again.receive_count == 2
        again.ack()


async def test_a_held_frame_is_not_handed_to_anyone_else_past_its_hold(case: tuple[ChannelCase, Any]) -> None:
    kind, endpoint = case
    async with kind.open(endpoint) as opened, kind.open(endpoint) as other:
        route = await opened.new_route()
        await opened.channel.send(route.send_to, _frame())
        held = await _receive_one(opened.channel, route.receive_from)
        # Two holds' worth of time: only the heartbeat keeps it hidden from the second receiver.
        assert await _nothing_for(other.channel, route.receive_from, 2 * HOLD_SECONDS + 1)
        held.ack()


async def test_a_frame_over_the_limit_is_refused_before_sending(case: tuple[ChannelCase, Any]) -> None:
    kind, endpoint = case
    async with kind.open(endpoint) as opened:
        route = await opened.limited_route(1024)
        fits = Frame("x" * 100)
        too_big = Frame("x" * 5000)
        assert opened.channel.frame_size(too_big) > 1024 >= opened.channel.frame_size(fits)
        with pytest.raises(FrameTooLargeError) as refused:
            await opened.channel.send(route.send_to, too_big)
        assert refused.value.permanent
        assert refused.value.size == opened.channel.frame_size(too_big)
        await opened.channel.send(route.send_to, fits)
        (await _receive_one(opened.channel, route.receive_from)).ack()


async def test_frame_size_counts_the_body_in_utf8_bytes(case: tuple[ChannelCase, Any]) -> None:
    kind, endpoint = case
    async with kind.open(endpoint) as opened:
        assert opened.channel.frame_size(Frame("é" * 10)) >= 20


async def test_receiving_from_a_missing_address_is_a_permanent_error(case: tuple[ChannelCase, Any]) -> None:
    kind, endpoint = case
    async with kind.open(endpoint) as opened:
        receive_from = (await opened.new_route()).receive_from
        missing = receive_from.rsplit("/", 1)[0] + "/no-such-queue-" + uuid.uuid4().hex[:6]
        with pytest.raises(AddressNotFoundError) as error:
            await opened.channel.receive(missing, 1)
        assert error.value.permanent


async def test_a_stopping_receiver_ends_its_outstanding_receive_without_losing_a_frame(
    case: tuple[ChannelCase, Any],
) -> None:
    """With wake frames: the wake ends the long poll. Without: an abandoned receive takes nothing."""
    kind, endpoint = case
    async with kind.open(endpoint) as opened:
        route = await opened.new_route()
        address = route.receive_from  # a receiver wakes its own receive address
        channel = opened.channel
        if channel.capabilities.wake_frames:
            got: list[Delivery] = []

            async def poll() -> None:
                got.extend(await channel.receive(address, 10))

            async with anyio.create_task_group() as tg:
                tg.start_soon(poll)
                await anyio.sleep(0.3)
                await channel.send(address, wake_frame("me"), urgent=True)
            assert [d.frame.attributes.get(ATTR_CLIENT_ID) for d in got] == ["me"]
            got[0].ack()
        else:
            with anyio.move_on_after(0.3):
                await channel.receive(address, 10)  # abandoned mid-wait
        await channel.send(route.send_to, _frame("after"))
        delivery = await _receive_one(channel, address, within=5)
        assert '"t":"after"' in delivery.frame.body
        delivery.ack()


async def test_an_acknowledgement_made_just_before_closing_reaches_the_broker(case: tuple[ChannelCase, Any]) -> None:
    kind, endpoint = case
    async with kind.open(endpoint) as opened:
        route = await opened.new_route()
        await opened.channel.send(route.send_to, _frame())
        (await _receive_one(opened.channel, route.receive_from)).ack()
    async with kind.open(endpoint) as reopened:
        assert await _nothing_for(reopened.channel, route.receive_from, HOLD_SECONDS + 1.5)


async def test_calls_are_counted_per_operation(case: tuple[ChannelCase, Any]) -> None:
    kind, endpoint = case
    async with kind.open(endpoint) as opened:
        route = await opened.new_route()
        before = sum(opened.channel.calls.values())
        await opened.channel.send(route.send_to, _frame())
        (await _receive_one(opened.channel, route.receive_from)).ack()
        assert sum(opened.channel.calls.values()) >= before + 2
