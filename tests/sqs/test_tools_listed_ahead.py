"""A session's first call of a tool it has not listed carries the tools/list the SDK sends after it.

mcp's client follows the first successful call of an unlisted tool with `tools/list` (to check the
result against the tool's output schema) before it returns the result; the transport opened by
`connect()` sends that listing with the call, so the session's own is answered without another trip
through the broker. Counted at the server: how many listings it served, and what the session saw.

A server that says how long its listing stays fresh (SEP-2549 `ttlMs`, `MCPServer(cache_hints=...)`)
lets the process keep it: the next connection from an equal config calls without a listing
(`client/kept_answers.py`). So with its `server/discover`: the next connection opens without one.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.server.caching import CacheHint
from mcp.server.mcpserver import MCPServer
from mcp_types import DiscoverResult, ListToolsResult, RequestId, RequestParams
from pydantic import BaseModel

from asyncmcp.channels.sqs.api import create_sqs_client
from asyncmcp.client.transport import LISTING_ID_PREFIX
from asyncmcp.sqs import SqsClientConfig, sqs_client, sqs_reply_queue
from tests.sqs_helpers import serving

pytestmark = pytest.mark.anyio

HANG_GUARD = 30


class Sum(BaseModel):
    total: int


class CountingServer(MCPServer):
    """Notes the request id of every tools/list it serves; lists `broken` with a schema its results
    do not meet, so only the client's check of the result against that listing can catch it."""

    def __init__(self, listing_delay: float = 0.0, cache_hints: Any = None) -> None:
        super().__init__("listing", cache_hints=cache_hints)
        self.listings: list[RequestId] = []
        self.listing_delay = listing_delay
        self.discovers = 0
        lowlevel = self._lowlevel_server
        discover = lowlevel._handle_discover  # pyright: ignore[reportPrivateUsage]

        async def counted_discover(ctx: Any, params: RequestParams) -> DiscoverResult:
            self.discovers += 1
            return await discover(ctx, params)

        lowlevel.add_request_handler("server/discover", RequestParams, counted_discover)

    async def _handle_list_tools(self, ctx: Any, params: Any) -> ListToolsResult:
        self.listings.append(ctx.request_id)
        await anyio.sleep(self.listing_delay)  # a slow listing: the session asks before it is back
        listed = await super()._handle_list_tools(ctx, params)
        text_total = {"type": "object", "properties": {"total": {"type": "string"}}, "required": ["total"]}
        tools = [t.model_copy(update={"output_schema": text_total}) if t.name == "broken" else t for t in listed.tools]
        return ListToolsResult(tools=tools)


def counting_server(
    listing_delay: float = 0.0, listing_ttl_ms: int | None = None, discover_ttl_ms: int | None = None
) -> CountingServer:
    hints: dict[Any, CacheHint] = {}
    if listing_ttl_ms is not None:
        hints["tools/list"] = CacheHint(ttl_ms=listing_ttl_ms, scope="private")
    if discover_ttl_ms is not None:
        hints["server/discover"] = CacheHint(ttl_ms=discover_ttl_ms)
    server = CountingServer(listing_delay, cache_hints=hints)

    @server.tool()
    def add(a: int, b: int) -> Sum:
        return Sum(total=a + b)

    @server.tool()
    def broken(a: int) -> Sum:
        return Sum(total=a)

    return server


def sent_ahead(request_id: RequestId) -> bool:
    return isinstance(request_id, str) and request_id.startswith(LISTING_ID_PREFIX)


@pytest.mark.parametrize("listing_delay", [0.0, 0.5], ids=["listing-quick", "listing-slow"])
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_first_call_of_a_tool_is_answered_with_one_listing_sent_beside_it(
    queues, mode: str, listing_delay: float
) -> None:
    server = counting_server(listing_delay)
    listings = server.listings
    config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)
    with anyio.fail_after(HANG_GUARD):
        async with (
            serving(queues, server),
            sqs_reply_queue(config) as router,
            Client(sqs_client(config, replies=router), mode=mode) as client,  # type: ignore[arg-type]
        ):
            result = await client.call_tool("add", {"a": 2, "b": 3})
            assert result.structured_content == {"total": 5}
            # The session's own listing never reached the server: the one sent ahead answered it.
            assert len(listings) == 1 and sent_ahead(listings[0])
            assert (await client.call_tool("add", {"a": 1, "b": 1})).structured_content == {"total": 2}
            assert len(listings) == 1  # listed now: nothing more is sent ahead
            # A listing the user asks for later goes to the server: the one sent ahead was used once.
            assert [tool.name for tool in (await client.list_tools()).tools] == ["add", "broken"]
            assert len(listings) == 2 and not sent_ahead(listings[1])


async def test_the_listing_sent_ahead_still_checks_the_result_against_the_output_schema(queues) -> None:
    server = counting_server()
    listings = server.listings
    config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)
    with anyio.fail_after(HANG_GUARD):
        async with serving(queues, server), Client(sqs_client(config)) as client:
            with pytest.raises(RuntimeError, match="Invalid structured content returned by tool broken"):
                await client.call_tool("broken", {"a": 1})
            assert len(listings) == 1 and sent_ahead(listings[0])


async def test_a_call_of_a_tool_already_listed_sends_no_listing(queues) -> None:
    server = counting_server()
    listings = server.listings
    config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)
    with anyio.fail_after(HANG_GUARD):
        async with serving(queues, server), Client(sqs_client(config)) as client:
            await client.list_tools()
            for _ in range(3):
                assert (await client.call_tool("add", {"a": 2, "b": 2})).structured_content == {"total": 4}
            assert len(listings) == 1 and not sent_ahead(listings[0])


async def first_calls(config: SqsClientConfig, connections: int, mode: str = "auto") -> None:
    """`connections` clients one after another, each making its first call (of `add`) and closing."""
    for _ in range(connections):
        async with Client(sqs_client(config), mode=mode) as client:  # type: ignore[arg-type]
            assert (await client.call_tool("add", {"a": 1, "b": 2})).structured_content == {"total": 3}


async def test_a_listing_the_server_lets_clients_keep_serves_the_next_connections_first_call(queues) -> None:
    server = counting_server(listing_ttl_ms=60_000)
    listings = server.listings
    config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)
    with anyio.fail_after(HANG_GUARD):
        async with serving(queues, server):
            await first_calls(config, 3)
            assert len(listings) == 1 and sent_ahead(listings[0])  # the first connection's, kept for the others
            async with Client(sqs_client(config)) as client:
                # The kept listing still checks results: `broken`'s schema came with it.
                with pytest.raises(RuntimeError, match="Invalid structured content returned by tool broken"):
                    await client.call_tool("broken", {"a": 1})
                # What the user lists afterwards goes to the server (the kept listing answered the check).
                assert [tool.name for tool in (await client.list_tools()).tools] == ["add", "broken"]
            assert len(listings) == 2 and not sent_ahead(listings[1])
            # A config that differs in more than its client id and timeout keeps its own.
            other = SqsClientConfig(read_queue_url=queues.request)
            await first_calls(other, 2)
            assert len(listings) == 3 and sent_ahead(listings[2])
            # A 2025-11-25 session's listing carries no ttlMs (its era has none): nothing is kept.
            await first_calls(config, 2, mode="legacy")
            assert len(listings) == 5


@pytest.mark.parametrize("ttl_ms", [None, 0], ids=["no-hint", "ttl-0"])
async def test_a_listing_without_a_lifetime_is_not_kept(queues, ttl_ms: int | None) -> None:
    server = counting_server(listing_ttl_ms=ttl_ms)
    config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)
    with anyio.fail_after(HANG_GUARD):
        async with serving(queues, server):
            await first_calls(config, 3)
    assert len(server.listings) == 3 and all(sent_ahead(request_id) for request_id in server.listings)


@pytest.mark.parametrize("ttl_ms", [None, 60_000], ids=["sent-ahead", "kept"])
async def test_a_listing_for_a_call_that_failed_answers_no_later_listing(queues, ttl_ms: int | None) -> None:
    """The session checks no failed call, so the listing that came with it (sent ahead, or a kept
    one) must not answer the user's next `list_tools()`: that one goes to the server."""
    server = counting_server(listing_ttl_ms=ttl_ms)
    listings = server.listings
    config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)
    with anyio.fail_after(HANG_GUARD):
        async with serving(queues, server):
            await first_calls(config, 1)
            async with Client(sqs_client(config)) as client:
                failed = await client.call_tool("add", {"a": "not a number", "b": 2})
                assert failed.is_error
                before = len(listings)
                await client.list_tools()
                assert len(listings) == before + 1 and not sent_ahead(listings[-1])
    assert len(listings) == (2 if ttl_ms else 3)  # sent ahead: with each first call; kept: with the first


async def test_a_connection_through_a_receiver_of_other_credentials_keeps_no_listing(queues) -> None:
    """A receiver opened with broker clients of the caller's own sends with their credentials:
    another authorization context, which neither uses nor fills the config's kept listings."""
    server = counting_server(listing_ttl_ms=60_000)
    config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)
    with anyio.fail_after(HANG_GUARD):
        async with serving(queues, server):
            await first_calls(config, 1)  # kept for the config
            async with create_sqs_client() as own, sqs_reply_queue(config, own) as router:
                for _ in range(2):
                    async with Client(sqs_client(config, replies=router)) as client:
                        assert (await client.call_tool("add", {"a": 1, "b": 2})).structured_content == {"total": 3}
            await first_calls(config, 1)  # still the first connection's
    assert len(server.listings) == 3 and all(sent_ahead(request_id) for request_id in server.listings)


@pytest.mark.parametrize("ttl_ms", [None, 0, 60_000], ids=["no-hint", "ttl-0", "kept"])
async def test_a_discover_the_server_lets_clients_keep_opens_the_next_connections(queues, ttl_ms: int | None) -> None:
    """Counted at the server: with a lifetime, the first connection of a config discovers and the
    next ones open on its answer (then a first result takes one exchange: the call); without one,
    or from a receiver of other credentials, each connection discovers."""
    server = counting_server(discover_ttl_ms=ttl_ms)
    config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)
    with anyio.fail_after(HANG_GUARD):
        async with serving(queues, server):
            await first_calls(config, 3)
            assert server.discovers == (1 if ttl_ms else 3)
            async with (
                create_sqs_client() as own,
                sqs_reply_queue(config, own) as router,
                Client(sqs_client(config, replies=router)) as client,
            ):
                assert (await client.call_tool("add", {"a": 1, "b": 2})).structured_content == {"total": 3}
            assert server.discovers == (2 if ttl_ms else 4)
            await first_calls(config, 1, mode="legacy")  # initialize: a 2025-11-25 session discovers nothing
            assert server.discovers == (2 if ttl_ms else 4)


async def test_a_config_that_keeps_no_fresh_answers_asks_the_server_on_every_connection(queues) -> None:
    """`keep_fresh_answers=False` neither reads nor fills what the config's other connections keep."""
    server = counting_server(listing_ttl_ms=60_000, discover_ttl_ms=60_000)
    config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)
    asking = config.model_copy(update={"keep_fresh_answers": False})
    with anyio.fail_after(HANG_GUARD):
        async with serving(queues, server):
            await first_calls(asking, 2)
            assert (server.discovers, len(server.listings)) == (2, 2)
            await first_calls(config, 2)  # nothing was kept for it: its first connection asks
            assert (server.discovers, len(server.listings)) == (3, 3)
            await first_calls(asking, 1)  # what is kept now is not read
            assert (server.discovers, len(server.listings)) == (4, 4)
