"""An answer that crosses the client's own cancel is dropped quietly.

A call cancelled by its caller (a timeout of the caller's, the end of a batch) may already be
answered by the time the worker reads the cancel; that answer then reaches a client that no longer
waits for it. It carries the right token and names a request this client made, so it is no sign of
a forged or stray frame and must not be logged as one (the benchmark's fan-out rounds, which end by
cancelling their calls, printed a warning per client and round). Played here by hand on the memory
broker: the test takes the request, the caller cancels, the test answers.
"""

from __future__ import annotations

import logging

import anyio
import pytest
from mcp import Client
from mcp_types import JSONRPCResponse

from asyncmcp.channels.memory import MemoryBroker, MemoryChannel, MemoryClientConfig
from asyncmcp.codec import ATTR_CLIENT_ID, ATTR_REQUEST_TOKEN, Frame, decode_message, encode_message
from asyncmcp.connecting import connect
from tests.waiting import wait_for

pytestmark = pytest.mark.anyio


async def test_an_answer_crossing_the_callers_cancel_is_dropped_without_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = MemoryBroker()
    requests = broker.create_queue("requests")
    replies = broker.create_queue("replies")
    config = MemoryClientConfig(queue=requests, reply_queue=replies, broker=broker, wait_seconds=0.05)
    caplog.set_level(logging.WARNING, logger="asyncmcp")
    with anyio.fail_after(30):
        async with Client(connect(config), mode="2026-07-28") as client, MemoryChannel(broker) as server:
            with anyio.move_on_after(0.5):  # the caller gives up: the SDK sends notifications/cancelled
                await client.call_tool("echo", {"text": "late"})
            (call,) = [frame for frame in broker.frames(requests) if '"tools/call"' in frame.body]
            await wait_for(lambda: any("notifications/cancelled" in frame.body for frame in broker.frames(requests)))
            request = decode_message(call.body)
            answer = JSONRPCResponse(jsonrpc="2.0", id=request.id, result={"content": []})  # pyright: ignore[reportAttributeAccessIssue]
            attributes = {name: call.attributes[name] for name in (ATTR_CLIENT_ID, ATTR_REQUEST_TOKEN)}
            await server.send(replies, Frame(encode_message(answer), attributes))
            await wait_for(lambda: broker.counts(replies) == (0, 0))  # the client took it
    assert not [record for record in caplog.records if "dropped a frame" in record.getMessage()], caplog.text
