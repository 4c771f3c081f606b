"""Kept answers (SEP-2549 `ttlMs`): a listing and a `server/discover` the server lets clients keep
stand in for later connections' until a `notifications/tools/list_changed` forgets them.

Played by hand on the memory broker, the test standing in for the server: it answers the listing a
first call carries with a `ttlMs`, sees the next connection's call travel alone, sends
`notifications/tools/list_changed` within that call, and sees that session's own listing and the
next connection's reach it again; the same for the discover a `Client` opens with. Also what
`KeptAnswers` keeps, under which key and for how long.
"""

from __future__ import annotations

import copy
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.caching import MAX_TTL_MS
from mcp_types import JSONRPCNotification, JSONRPCResponse

from asyncmcp.channels.memory import MemoryBroker, MemoryChannel, MemoryClientConfig
from asyncmcp.client.config_keys import settings_key
from asyncmcp.client.kept_answers import KeptAnswers, answer_key, kept_answers
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

    async def one_call(self, *, ahead: bool, changed: bool = False, relist: bool = False) -> None:
        """Serve the next connection's first call; `ahead`: whether a listing comes with it, `relist`:
        whether the session's own listing comes after the result (each answered with `KEPT_LISTING`)."""
        call = (await wait_for(lambda: self.new_frames("tools/call")))[0]
        if ahead:
            for frame in await wait_for(lambda: self.new_frames("tools/list")):
                await self.answer(frame, KEPT_LISTING)
        if changed:
            changed_note = JSONRPCNotification(jsonrpc="2.0", method="notifications/tools/list_changed")
            await self.send(call, changed_note)
            await wait_for(lambda: self.broker.counts(self.replies) == (0, 0))  # the client took it
        await self.answer(call, {"content": [{"type": "text", "text": "3"}], "resultType": "complete"})
        if relist:
            heard = len(self.new_frames("tools/list"))
            (own,) = (await wait_for(lambda: self.new_frames("tools/list")[heard:]))[:1]
            await self.answer(own, KEPT_LISTING)

    async def round(
        self, config: MemoryClientConfig, tool: str, *, ahead: bool, changed: bool = False, relist: bool = False
    ) -> None:
        """A new client's first call of `tool`, served; no listing reached the server but those
        expected (the session's own would have, after the result, had none stood in for it)."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(first_call, config, tool)
            await self.one_call(ahead=ahead, changed=changed, relist=relist)
        assert len(self.new_frames("tools/list")) == ahead + relist
        self.seen = len(self.broker.frames(self.requests))


@asynccontextmanager
async def stand_in() -> AsyncIterator[tuple[StandIn, MemoryClientConfig]]:
    """A stand-in server on fresh memory queues, and the config its clients connect with."""
    broker = MemoryBroker()
    requests = broker.create_queue("requests")
    replies = broker.create_queue("replies")
    config = MemoryClientConfig(queue=requests, reply_queue=replies, broker=broker, wait_seconds=0.05)
    with anyio.fail_after(30):
        async with MemoryChannel(broker) as channel:
            yield StandIn(broker, requests, replies, channel), config


async def test_a_list_changed_notification_forgets_the_kept_listing() -> None:
    async with stand_in() as (server, config):
        await server.round(config, "add", ahead=True)  # listed and kept
        await server.round(config, "add", ahead=False)  # the kept one stands in
        # The tools change during a call: the listing it holds no longer answers, nor is any kept.
        await server.round(config, "add", ahead=False, changed=True, relist=True)
        await server.round(config, "add", ahead=True)
        await server.round(config, "add", ahead=False)


async def test_a_kept_listing_that_does_not_name_the_tool_called_is_not_used() -> None:
    async with stand_in() as (server, config):
        # The kept listing names `add` only: a call of `sub` (a tool added since) lists again.
        for tool, ahead in [("add", True), ("sub", True), ("add", False)]:
            await server.round(config, tool, ahead=ahead)


async def test_a_cancelled_calls_listing_answers_no_later_listing() -> None:
    """The session checks no call its caller gave up on, so the listing that came with it must not
    answer the user's `list_tools()` afterwards: that one reaches the server."""
    async with stand_in() as (server, config), Client(connect(config), mode="2026-07-28") as client:
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.call_tool, "add", {})
            (listing,) = await wait_for(lambda: server.new_frames("tools/list"))
            await server.answer(listing, KEPT_LISTING)
            await wait_for(lambda: server.broker.counts(server.replies) == (0, 0))  # the client took it
            tg.cancel_scope.cancel()  # the caller gives up on the call: the SDK sends notifications/cancelled
        await wait_for(lambda: server.new_frames("notifications/cancelled"))
        server.seen = len(server.broker.frames(server.requests))
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.list_tools)
            (own,) = await wait_for(lambda: server.new_frames("tools/list"))
            await server.answer(own, KEPT_LISTING)


DISCOVERED = {
    "supportedVersions": ["2026-07-28"],
    "capabilities": {"tools": {"listChanged": True}},
    "ttlMs": 60_000,
    "cacheScope": "private",
    "resultType": "complete",
}


async def opened(config: MemoryClientConfig, server: StandIn, *, discover: dict[str, Any] | None) -> int | None:
    """A new client opens in auto mode; `discover`: how the stand-in answers its `server/discover`,
    None when it must not reach the stand-in (a kept one answers it; one that reaches it anyway is
    answered, so that the count fails the test, not a hang). Returns the `ttlMs` the session saw."""
    heard = len(server.new_frames("server/discover"))

    async def answer_discovers() -> None:
        answered: list[Frame] = []

        def unanswered() -> list[Frame]:
            return server.new_frames("server/discover")[heard + len(answered) :]

        while True:
            for frame in await wait_for(unanswered, within=math.inf):
                await server.answer(frame, discover or DISCOVERED)
                answered.append(frame)

    async with anyio.create_task_group() as tg:
        tg.start_soon(answer_discovers)
        async with Client(connect(config)) as client:
            assert client.protocol_version == "2026-07-28"
            assert client.server_capabilities.tools is not None and client.server_capabilities.tools.list_changed
            seen = client.session.discover_result
        tg.cancel_scope.cancel()
    assert len(server.new_frames("server/discover")) == heard + (discover is not None)
    return seen.ttl_ms if seen is not None else None


async def test_a_kept_discover_answers_the_next_connections_until_the_tools_change() -> None:
    async with stand_in() as (server, config):
        await opened(config, server, discover=DISCOVERED)  # asked and kept
        aged = await opened(config, server, discover=None)
        assert aged is not None and 0 < aged < DISCOVERED["ttlMs"]  # served with what is left of it
        await opened(config, server, discover=None)
        async with anyio.create_task_group() as tg:  # a connection sees the tools change
            tg.start_soon(first_call, config, "add")
            await server.one_call(ahead=True, changed=True, relist=True)
        server.seen = len(server.broker.frames(server.requests))
        await opened(config, server, discover=DISCOVERED)  # asked again, and kept again
        await opened(config, server, discover=None)


async def test_a_discover_answered_after_the_tools_changed_is_not_kept() -> None:
    """The change reaches the connection while its discover is on the way: the answer that follows
    may predate it, so the next connection asks again."""
    async with stand_in() as (server, config):

        async def open_one() -> None:
            async with Client(connect(config)):
                pass

        async with anyio.create_task_group() as tg:
            tg.start_soon(open_one)
            (frame,) = await wait_for(lambda: server.new_frames("server/discover"))
            await server.send(frame, JSONRPCNotification(jsonrpc="2.0", method="notifications/tools/list_changed"))
            await wait_for(lambda: server.broker.counts(server.replies) == (0, 0))  # the client took it
            await server.answer(frame, DISCOVERED)
        await opened(config, server, discover=DISCOVERED)  # asked again, and kept this time
        await opened(config, server, discover=None)


@pytest.mark.parametrize("ttl_ms", [None, 0], ids=["no-hint", "ttl-0"])
async def test_a_discover_without_a_lifetime_is_not_kept(ttl_ms: int | None) -> None:
    result = {key: value for key, value in DISCOVERED.items() if key != "ttlMs"}
    if ttl_ms is not None:
        result["ttlMs"] = ttl_ms
    async with stand_in() as (server, config):
        for _ in range(3):
            await opened(config, server, discover=result)


async def first_call(config: MemoryClientConfig, tool: str) -> None:
    """A new client's first call of `tool` (the stand-in answers `"3"`)."""
    async with Client(connect(config), mode="2026-07-28") as client:
        assert (await client.call_tool(tool, {})).content[0].text == "3"  # type: ignore[union-attr]


def answer(result: dict[str, Any]) -> JSONRPCResponse:
    return JSONRPCResponse(jsonrpc="2.0", id="x", result=copy.deepcopy(result))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_only_a_whole_listing_with_a_finite_lifetime_is_kept() -> None:
    listings = KeptAnswers()
    refused = {
        "no-ttl": {"tools": TOOLS},
        "zero": {"tools": TOOLS, "ttlMs": 0},
        "negative": {"tools": TOOLS, "ttlMs": -5},
        "not-a-number": {"tools": TOOLS, "ttlMs": True},
        "infinite": {"tools": TOOLS, "ttlMs": math.inf},
        "nan": {"tools": TOOLS, "ttlMs": math.nan},
        "first-page": {"tools": TOOLS, "ttlMs": 60_000, "nextCursor": "2"},
    }
    for key, result in [*refused.items(), ("kept", {"tools": TOOLS, "ttlMs": 60_000})]:
        listings.keep(key, answer(result), listings.generation)
    assert [key for key in [*refused, "kept"] if listings.fresh(key)] == ["kept"]
    listings.forget()
    assert listings.fresh("kept") is None


def test_a_listing_asked_before_the_tools_changed_is_not_kept() -> None:
    listings = KeptAnswers()
    asked_at = listings.generation
    listings.forget()  # a list_changed while the listing was on its way
    listings.keep("key", answer({"tools": TOOLS, "ttlMs": 60_000}), asked_at)
    assert listings.fresh("key") is None


def test_a_kept_listing_ages_and_expires_with_its_ttl() -> None:
    clock = Clock()
    listings = KeptAnswers(clock)
    kept = answer({"tools": TOOLS, "ttlMs": 1_000})
    listings.keep("key", kept, listings.generation)
    clock.now += 0.4
    served = listings.fresh("key")
    assert served is not None
    assert served[0].result["ttlMs"] == 600 and served[1] == pytest.approx(0.6)  # a cache behind sees what is left
    served[0].result["tools"].clear()  # the session's copy: the kept one is untouched
    kept.result["tools"].clear()  # nor does the answer it was kept from share it
    again = listings.fresh("key")
    assert again is not None and again[0].result["tools"] == TOOLS
    clock.now += 0.6
    assert listings.fresh("key") is None


def test_a_lifetime_beyond_a_day_counts_as_a_day() -> None:
    listings = KeptAnswers()
    listings.keep("key", answer({"tools": TOOLS, "ttlMs": 10**15}), listings.generation)
    served = listings.fresh("key")
    assert served is not None and served[1] <= MAX_TTL_MS / 1000


def test_what_a_listing_is_kept_under() -> None:
    client = {"io.modelcontextprotocol/clientInfo": {"name": "c", "version": "1"}}
    key = answer_key("tools/list", "2026-07-28", client)
    assert key is not None
    assert answer_key("tools/list", "2026-07-28", {**client, "traceparent": "00-1-2-01", "tracestate": "a=b"}) == key
    assert answer_key("tools/list", "2026-07-28", {"io.modelcontextprotocol/clientInfo": {"name": "d"}}) != key
    assert answer_key("server/discover", "2026-07-28", client) not in (key, None)  # another request
    assert answer_key("tools/list", "2026-07-28", {**client, "user-field": 1}) is None  # the caller's own _meta
    assert answer_key("tools/list", "2025-11-25", client) is None  # an era without the hint
    assert answer_key("tools/list", None, client) is None
    assert answer_key("resources/read", "2026-07-28", client) is None  # its answer depends on its params


class UnhashableBroker(MemoryBroker):
    __hash__ = None  # type: ignore[assignment]


def test_configs_equal_but_for_their_per_connection_fields_share_their_kept_answers() -> None:
    broker = MemoryBroker()
    config = MemoryClientConfig(queue="requests", reply_queue="replies", broker=broker)
    per_connection = {"client_id": "other", "transport_timeout_seconds": 5.0, "keep_fresh_answers": False}
    same = config.model_copy(update=per_connection)
    other = config.model_copy(update={"reply_queue": "elsewhere"})
    assert kept_answers(config) is kept_answers(same)
    assert kept_answers(config) is not kept_answers(other)
    # A value without a hash cannot tell two configs apart: nothing is shared.
    unhashable = config.model_copy(update={"broker": UnhashableBroker()})
    assert settings_key(unhashable) is None and kept_answers(unhashable) is None
