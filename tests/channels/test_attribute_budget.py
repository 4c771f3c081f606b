"""The attribute budget holds on every channel: the widest frame asyncmcp builds, plus the most
attributes a config may add, is at most ten attributes, which SQS accepts and SNS raw delivery
does not silently drop (the SNS+SQS channel refuses more than ten before publishing)."""

from __future__ import annotations

import uuid
from typing import Any

import anyio
import pytest
from mcp.shared.message import ClientMessageMetadata, SessionMessage
from mcp.types import JSONRPCRequest
from pydantic import ValidationError

from asyncmcp import SqsClientConfig
from asyncmcp.client.transport import _ClientSide  # pyright: ignore[reportPrivateUsage]
from asyncmcp.codec import MAX_FRAME_ATTRIBUTES, MAX_ROUTING_ATTRIBUTES, MAX_USER_ATTRIBUTES

pytestmark = pytest.mark.anyio

USER_ATTRIBUTES = {f"team-{n}": f"value {n}" for n in range(MAX_USER_ATTRIBUTES)}


def widest_request(channel: Any, *, in_session: bool = True) -> Any:
    """A `tools/call` with everything the client transport labels a request with: a 2025 one in a
    session (its SDK headers naming the tool too) or a 2026 one, both with a timeout (keep-alives)."""
    send, _ = anyio.create_memory_object_stream[Any](1)
    side = _ClientSide(channel, "arn:aws:sns:us-east-1:123456789012:requests", "arn:reply", "c" * 40, 45.0, send)
    if in_session:
        side.session_id = "s1.payload.signature"
    version = "2025-11-25" if in_session else "2026-07-28"
    headers = {"mcp-protocol-version": version, "mcp-method": "tools/call", "mcp-name": "echo"}
    request = JSONRPCRequest(jsonrpc="2.0", id=1, method="tools/call", params={"name": "echo", "arguments": {}})
    return side.frame_for(SessionMessage(request, ClientMessageMetadata(headers=headers)))


@pytest.mark.parametrize("in_session", [True, False], ids=["2025", "2026"])
def test_no_request_carries_more_than_the_routing_budget(in_session: bool) -> None:
    frame = widest_request(None, in_session=in_session)
    assert len(frame.attributes) == MAX_ROUTING_ATTRIBUTES


async def test_the_widest_frame_with_every_user_attribute_passes_the_sns_channel(endpoint: Any) -> None:
    from asyncmcp.channels.sns_sqs.api import SnsApi
    from asyncmcp.channels.sns_sqs.channel import MAX_ATTRIBUTES, SnsSqsChannel
    from asyncmcp.channels.sns_sqs.provision import create_reply_topology
    from asyncmcp.channels.sqs.api import SqsApi
    from asyncmcp.channels.sqs.channel import SqsChannel

    assert MAX_ATTRIBUTES == MAX_FRAME_ATTRIBUTES
    with anyio.fail_after(30):
        async with (
            SqsApi() as sqs,
            SnsApi() as sns,
            SqsChannel(sqs, wait_time_seconds=1, message_attributes=USER_ATTRIBUTES) as queues,
            SnsSqsChannel(queues, sns) as channel,
        ):
            frame = widest_request(channel)
            assert len(frame.attributes) == MAX_ROUTING_ATTRIBUTES
            topology = await create_reply_topology(
                f"budget-{uuid.uuid4().hex[:8]}", sqs=sqs, sns=sns, visibility_timeout=5
            )
            await channel.send(topology.topic_arn, frame)  # the channel refuses more than ten
            (delivery,) = await channel.receive(topology.queue_url, 1)
            assert delivery.frame.attributes == {**USER_ATTRIBUTES, **frame.attributes}
            delivery.ack()


def test_a_config_cannot_add_a_fourth_attribute() -> None:
    too_many = {**USER_ATTRIBUTES, "one-more": "x"}
    with pytest.raises(ValidationError, match="message_attributes takes at most 3"):
        SqsClientConfig(
            read_queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/q", message_attributes=too_many
        )
