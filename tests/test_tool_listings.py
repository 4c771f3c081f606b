"""A kept tool listing (SEP-2549 `ttlMs`) is forgotten when the server says its tools changed.

Played by hand on the memory broker, the test standing in for the server: it answers the listing a
first call carries with a `ttlMs`, sees the next connection's call travel alone, sends
`notifications/tools/list_changed` within that call, and sees the connection after it list again.
Also what `ToolListings` keeps and for how long.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import JSONRPCNotification, JSONRPCResponse

from asyncmcp.channels.memory import MemoryBroker, MemoryChannel, MemoryClientConfig
from asyncmcp.client.tool_listings import ToolListings, tool_listings
from asyncmcp.codec import ATTR_CLIENT_ID, ATTR_REQUEST_TOKEN, Frame, decode_message, encode_message
from asyncmcp.connecting import connect
from tests.waiting import wait_for

pytestmark = pytest.mark.anyio

TOOLS = [{"name": "add", "inputSchema": {"type": "object"}}]
KEPT_LISTING = {"tools": TOOLS, "ttlMs": 60_000, "cacheScope": "private", "resultType": "complete"}


class StandIn:
    """The server's side of the memory queues: answers what the test tells it to."""

    def __init__(self, broker: MemoryBroker, requests: str, replies: str, channel: MemoryChannel) -> None:
        self.broker, self.requests, self.replies, self.channel = broker, requests, replies, channel
        self.seen = 0

    def new_frames(self, method: str) -> list[Frame]:
        return [frame for frame in self.broker.frames(self.requests)[self.seen :] if f'"{method}"' in frame.body]

    async def send(self, request: Frame, message: Any) -> None:
        attributes = {name: request.attributes[name] for name in (ATTR_CLIENT_ID, ATTR_REQUEST_TOKEN)}
        await self.channel.send(self.replies, Frame(encode_message(message), attributes))

    async def answer(self, request: Frame, result: dict[str, Any]) -> None:
        await self.send(request, JSONRPCResponse(jsonrpc="2.0", id=decode_message(request.body).id, result=result))  # pyright: ignore[reportAttributeAccessIssue]

    async def one_call(self, *, listing: bool, changed: bool = False) -> None:
        """Serve the next connection's first call; `listing`: whether it carries one (answered with `TOOLS`)."""
        call = (await wait_for(lambda: self.new_frames("tools/call")))[0]
        if listing:
            for frame in await wait_for(lambda: self.new_frames("tools/list")):
                await self.answer(frame, KEPT_LISTING)
        if changed:
            changed_note = JSONRPCNotification(jsonrpc="2.0", method="notifications/tools/list_changed")
            await self.send(call, changed_note)
            await wait_for(lambda: self.broker.counts(self.replies) == (0, 0))  # the client took it
        await self.answer(call, {"content": [{"type": "text", "text": "3"}], "resultType": "complete"})

    async def round(self, config: MemoryClientConfig, tool: str, *, listing: bool, changed: bool = False) -> None:
        """A new client's first call of `tool`, served; no listing reached the server unless `listing`
        (the session's own would have, after the result, had no listing stood in for it)."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(first_call, config, tool)
            await self.one_call(listing=listing, changed=changed)
        assert listing or not self.new_frames("tools/list")
        self.seen = len(self.broker.frames(self.requests))


async def test_a_list_changed_notification_forgets_the_kept_listing() -> None:
    broker = MemoryBroker()
    requests = broker.create_queue("requests")
    replies = broker.create_queue("replies")
    config = MemoryClientConfig(queue=requests, reply_queue=replies, broker=broker, wait_seconds=0.05)

    with anyio.fail_after(30):
        async with MemoryChannel(broker) as channel:
            server = StandIn(broker, requests, replies, channel)
            for listing, changed in [(True, False), (False, True), (True, False), (False, False)]:
                await server.round(config, "add", listing=listing, changed=changed)


async def test_a_kept_listing_that_does_not_name_the_tool_called_is_not_used() -> None:
    broker = MemoryBroker()
    requests = broker.create_queue("requests")
    replies = broker.create_queue("replies")
    config = MemoryClientConfig(queue=requests, reply_queue=replies, broker=broker, wait_seconds=0.05)
    with anyio.fail_after(30):
        async with MemoryChannel(broker) as channel:
            server = StandIn(broker, requests, replies, channel)
            # The kept listing names `add` only: a call of `sub` (a tool added since) lists again.
            for tool, listing in [("add", True), ("sub", True), ("add", False)]:
                await server.round(config, tool, listing=listing)


async def first_call(config: MemoryClientConfig, tool: str) -> None:
    """A new client's first call of `tool` (the stand-in answers `"3"`)."""
    async with Client(connect(config), mode="2026-07-28") as client:
        assert (await client.call_tool(tool, {})).content[0].text == "3"  # type: ignore[union-attr]


def answer(result: dict[str, Any]) -> JSONRPCResponse:
    return JSONRPCResponse(jsonrpc="2.0", id="x", result=result)


def test_only_a_whole_listing_with_a_lifetime_is_kept() -> None:
    listings = ToolListings()
    listings.keep("no-ttl", answer({"tools": TOOLS}))
    listings.keep("zero", answer({"tools": TOOLS, "ttlMs": 0}))
    listings.keep("not-a-number", answer({"tools": TOOLS, "ttlMs": True}))
    listings.keep("first-page", answer({"tools": TOOLS, "ttlMs": 60_000, "nextCursor": "2"}))
    listings.keep("kept", answer({"tools": TOOLS, "ttlMs": 60_000}))
    assert [key for key in ("no-ttl", "zero", "not-a-number", "first-page", "kept") if listings.fresh(key)] == ["kept"]
    listings.forget()
    assert listings.fresh("kept") is None


def test_a_kept_listing_expires_with_its_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    listings = ToolListings()
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now)
    listings.keep("key", answer({"tools": TOOLS, "ttlMs": 1_000}))
    monkeypatch.setattr(time, "monotonic", lambda: now + 0.999)
    assert listings.fresh("key") is not None
    monkeypatch.setattr(time, "monotonic", lambda: now + 1.0)
    assert listings.fresh("key") is None


def test_configs_equal_but_for_the_client_id_and_timeout_share_their_listings() -> None:
    broker = MemoryBroker()
    config = MemoryClientConfig(queue="requests", reply_queue="replies", broker=broker)
    same = config.model_copy(update={"client_id": "other", "transport_timeout_seconds": 5.0})
    other = config.model_copy(update={"reply_queue": "elsewhere"})
    assert tool_listings(config) is tool_listings(same)
    assert tool_listings(config) is not tool_listings(other)
