"""A session's first call of a tool it has not listed carries the tools/list the SDK sends after it.

mcp's client follows the first successful call of an unlisted tool with `tools/list` (to check the
result against the tool's output schema) before it returns the result; the transport opened by
`connect()` sends that listing with the call, so the session's own is answered without another trip
through the broker. Counted at the server: how many listings it served, and what the session saw.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp_types import ListToolsResult, RequestId
from pydantic import BaseModel

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

    def __init__(self, listing_delay: float = 0.0) -> None:
        super().__init__("listing")
        self.listings: list[RequestId] = []
        self.listing_delay = listing_delay

    async def _handle_list_tools(self, ctx: Any, params: Any) -> ListToolsResult:
        self.listings.append(ctx.request_id)
        await anyio.sleep(self.listing_delay)  # a slow listing: the session asks before it is back
        listed = await super()._handle_list_tools(ctx, params)
        text_total = {"type": "object", "properties": {"total": {"type": "string"}}, "required": ["total"]}
        tools = [t.model_copy(update={"output_schema": text_total}) if t.name == "broken" else t for t in listed.tools]
        return ListToolsResult(tools=tools)


def counting_server(listing_delay: float = 0.0) -> CountingServer:
    server = CountingServer(listing_delay)

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
