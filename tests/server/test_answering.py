"""What a server's answer can carry, against the moto endpoint behind a shim that enforces the
characters SQS carries (moto stores anything; SQS refuses what is not an XML 1.0 character).

A tool result may hold text no broker carries as is: a lone surrogate (what `os.listdir` returns
for a file name that is not UTF-8) or a noncharacter such as U+FFFF. The answer must still reach
the caller, once, from the multi-client engine and from the seed's single-connection server.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client, ClientSession
from mcp.server import MCPServer

from asyncmcp import SqsClientConfig, SqsServerConfig
from asyncmcp.sqs import SqsWorker, sqs_client, sqs_server
from tests.client_answers import text_of
from tests.faults import sqs_behind_faults
from tests.sqs_rules import INVALID_MESSAGE_CONTENTS, refuses_characters

pytestmark = pytest.mark.anyio

WITHIN = 20.0

UNCARRIED = {
    "lone surrogate": ("report-\udcff.txt", "report-\ufffd.txt"),
    "noncharacters": ("edge \ufffe and \uffff", "edge \ufffe and \uffff"),
    "control character": ("bell \x07", "bell \x07"),
}
"""What a tool returns, and what its caller must receive: a lone surrogate has no UTF-8 form and
becomes U+FFFD; everything else arrives exactly."""


def listing_server(runs: list[str]) -> MCPServer:
    server = MCPServer("listing")

    @server.tool()
    async def listing(kind: str) -> str:
        """Return a name no broker carries as is."""
        runs.append(kind)
        return UNCARRIED[kind][0]

    return server


@pytest.mark.parametrize("kind", list(UNCARRIED))
async def test_a_result_the_broker_cannot_carry_as_is_reaches_the_caller_once(queues: Any, endpoint: Any, kind: str):
    runs: list[str] = []
    server_config = SqsServerConfig(read_queue_url=queues.request, visibility_timeout_seconds=2, wait_time_seconds=1)
    client_config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)
    with anyio.fail_after(WITHIN):
        async with (
            sqs_behind_faults(endpoint.url, refuses_characters, INVALID_MESSAGE_CONTENTS) as (server_sqs, shim),
            SqsWorker(listing_server(runs), server_config, server_sqs) as worker,
            Client(sqs_client(client_config)) as client,
        ):
            assert text_of(await client.call_tool("listing", {"kind": kind})) == UNCARRIED[kind][1]
            assert text_of(await client.call_tool("listing", {"kind": kind})) == UNCARRIED[kind][1]
            assert shim.failed == []  # nothing was sent that SQS would refuse
            assert worker.engine is not None
            assert worker.engine.stats["undeliverable"] == 0
    assert runs == [kind, kind]


@pytest.mark.parametrize("kind", list(UNCARRIED))
async def test_the_single_connection_server_survives_a_result_the_broker_cannot_carry(
    queues: Any, endpoint: Any, kind: str
):
    runs: list[str] = []
    app = listing_server(runs)._lowlevel_server  # pyright: ignore[reportPrivateUsage]
    server_config = SqsServerConfig(read_queue_url=queues.request, visibility_timeout_seconds=2, wait_time_seconds=1)
    client_config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)

    async def run_server(server_sqs: Any) -> None:
        async with sqs_server(server_config, server_sqs) as (read, write):
            await app.run(read, write, app.create_initialization_options())

    with anyio.fail_after(WITHIN):
        async with (
            sqs_behind_faults(endpoint.url, refuses_characters, INVALID_MESSAGE_CONTENTS) as (server_sqs, shim),
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(run_server, server_sqs)
            async with sqs_client(client_config) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                for _ in range(2):  # the server is still there for a second call
                    assert text_of(await session.call_tool("listing", {"kind": kind})) == UNCARRIED[kind][1]
            assert shim.failed == []
            tg.cancel_scope.cancel()
    assert runs == [kind, kind]
