"""The single-connection stream pair binds a client's answers and cancels to the request concerned.

The test plays both ends at the frame level: it is the client (raw frames on the memory channel)
and the server app (the stream pair's read and write ends), so what reaches the app is exactly
what the stream pair let through. Frames are taken from a queue in the order they were sent, so
the first message the app reads after frames it should refuse shows that those were refused.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc
import pytest
from mcp.shared.message import ServerMessageMetadata, SessionMessage
from mcp_types import JSONRPCNotification, JSONRPCRequest, JSONRPCResponse

from asyncmcp.channels.memory import MemoryChannel
from asyncmcp.codec import ATTR_CLIENT_ID, ATTR_REPLY_TO, ATTR_REQUEST_TOKEN, Frame
from asyncmcp.serving import stream_pair
from asyncmcp.testing import MemoryBroker, MemoryServerConfig
from tests.waiting import wait_for

pytestmark = pytest.mark.anyio

WITHIN = 10.0
TOKEN = "the-requesters-token"
SERVER_REQUEST_ID = 5


@dataclass
class Ends:
    broker: MemoryBroker
    channel: MemoryChannel
    request_queue: str
    reply_queue: str
    read: anyio.abc.ObjectReceiveStream[SessionMessage | Exception]
    write: anyio.abc.ObjectSendStream[SessionMessage]

    async def from_client(self, message: dict[str, Any], *, token: str | None = TOKEN) -> None:
        attributes = {ATTR_CLIENT_ID: "c1", ATTR_REPLY_TO: self.reply_queue}
        if token is not None:
            attributes[ATTR_REQUEST_TOKEN] = token
        await self.channel.send(self.request_queue, Frame(json.dumps({"jsonrpc": "2.0", **message}), attributes))

    async def app_reads(self) -> Any:
        item = await self.read.receive()
        assert isinstance(item, SessionMessage)
        return item.message


@asynccontextmanager
async def a_request_in_flight_with_a_question() -> AsyncIterator[Ends]:
    """Client request 1 (carrying `TOKEN`) reached the app, which asked the client request 5 about it."""
    broker = MemoryBroker()
    request_queue = broker.create_queue("requests")
    reply_queue = broker.create_queue("replies")
    with anyio.fail_after(WITHIN):
        async with (
            stream_pair(MemoryServerConfig(queue=request_queue, broker=broker)) as (read, write),
            MemoryChannel(broker) as channel,
        ):
            ends = Ends(broker, channel, request_queue, reply_queue, read, write)
            await ends.from_client({"id": 1, "method": "tools/call", "params": {"name": "ask"}})
            assert isinstance(await ends.app_reads(), JSONRPCRequest)
            question = JSONRPCRequest(
                jsonrpc="2.0", id=SERVER_REQUEST_ID, method="elicitation/create", params={"message": "colour?"}
            )
            await write.send(SessionMessage(question, ServerMessageMetadata(related_request_id=1)))
            await wait_for(lambda: broker.frames(reply_queue))  # the question reached the client
            yield ends


def answer(request_id: int | str, colour: str) -> dict[str, Any]:
    return {"id": request_id, "result": {"action": "accept", "content": {"colour": colour}}}


async def test_a_forged_answer_does_not_displace_the_real_one() -> None:
    async with a_request_in_flight_with_a_question() as ends:
        await ends.from_client(answer(SERVER_REQUEST_ID, "forged"), token="guessed")
        await ends.from_client(answer(SERVER_REQUEST_ID, "forged again"), token="guessed")
        await ends.from_client(answer(SERVER_REQUEST_ID, "blue"))
        received = await ends.app_reads()
    assert isinstance(received, JSONRPCResponse)
    assert received.result["content"] == {"colour": "blue"}


async def test_an_answer_to_no_pending_request_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    async with a_request_in_flight_with_a_question() as ends:
        await ends.from_client(answer(99, "unasked"))
        await ends.from_client(answer(SERVER_REQUEST_ID, "blue"))
        received = await ends.app_reads()
    assert isinstance(received, JSONRPCResponse)
    assert received.id == SERVER_REQUEST_ID
    assert any("to no pending request" in record.message for record in caplog.records)


async def test_an_answer_echoing_the_id_as_a_string_answers_the_request() -> None:
    async with a_request_in_flight_with_a_question() as ends:
        await ends.from_client(answer(str(SERVER_REQUEST_ID), "blue"))
        received = await ends.app_reads()
    assert isinstance(received, JSONRPCResponse)
    assert received.result["content"] == {"colour": "blue"}


async def test_a_cancel_naming_the_request_as_a_string_still_needs_its_token() -> None:
    async with a_request_in_flight_with_a_question() as ends:
        forged_cancel = {"method": "notifications/cancelled", "params": {"requestId": "1"}}
        await ends.from_client(forged_cancel, token="guessed")
        await ends.from_client({"method": "notifications/cancelled", "params": {"requestId": 1}})
        received = await ends.app_reads()
    assert isinstance(received, JSONRPCNotification)
    assert received.params == {"requestId": 1}
