"""The proxy's backend links hand a worker's frames only to the front request they name.

The test is the worker, at the frame level on the memory channel: it takes the link's request
from the request queue and answers with frames of its own choosing, so what reaches the front
request is exactly what the link let through.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import anyio
import pytest

from asyncmcp.channels.memory import MemoryChannel
from asyncmcp.codec import ATTR_CLIENT_ID, ATTR_RELATED_REQUEST_ID, ATTR_REPLY_TO, ATTR_REQUEST_TOKEN, Frame
from asyncmcp.proxy.backend import Backend, BackendOpener
from asyncmcp.testing import MemoryBroker, MemoryClientConfig
from tests.waiting import wait_for

pytestmark = pytest.mark.anyio

WITHIN = 10.0


async def test_an_unlabelled_notification_does_not_go_to_the_only_call_in_flight() -> None:
    broker = MemoryBroker()
    request_queue = broker.create_queue("requests")
    opener = BackendOpener("memory", MemoryClientConfig(queue=request_queue, broker=broker))
    notices: list[tuple[str, Any]] = []

    async def on_notice(method: str, params: Mapping[str, Any] | None) -> None:
        notices.append((method, params))

    async def worker(channel: MemoryChannel) -> None:
        await wait_for(lambda: broker.frames(request_queue))
        (taken,) = await channel.receive(request_queue, 1)
        taken.ack()
        request = json.loads(taken.frame.body)
        attributes = taken.frame.attributes
        reply_to = attributes[ATTR_REPLY_TO]
        back = {ATTR_CLIENT_ID: attributes[ATTR_CLIENT_ID], ATTR_REQUEST_TOKEN: attributes[ATTR_REQUEST_TOKEN]}
        for text, labels in (
            ("unlabelled", back),
            ("labelled", {**back, ATTR_RELATED_REQUEST_ID: str(request["id"])}),
        ):
            note = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": text}}
            await channel.send(reply_to, Frame(json.dumps(note), labels))
        answer = {"jsonrpc": "2.0", "id": request["id"], "result": {"content": [], "resultType": "complete"}}
        await channel.send(reply_to, Frame(json.dumps(answer), back))

    with anyio.fail_after(WITHIN):
        async with (
            Backend(opener).running() as backend,
            MemoryChannel(broker) as channel,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(worker, channel)
            await backend.shared.request(
                "tools/call", {"name": "echo", "arguments": {}}, front_id=1, on_notice=on_notice
            )
    assert [params["data"] for _, params in notices] == ["labelled"]
