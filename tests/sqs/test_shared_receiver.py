"""Connections of one process that name one reply queue read it through one receiver.

Two receivers of one process on one queue take each other's replies and hand them back through the
broker (a visibility change each, and a pause so that the other receiver's poll takes it), so two
`Client`s opened from the same config would wait on each other. `connect()` shares one receiver per
reply address and config among the connections of a process, opened by the first and closed with
the last. Counted on the embedded endpoint: receivers open, replies handed back.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client

from asyncmcp import connecting
from asyncmcp.channels.sqs.channel import SqsChannel
from asyncmcp.sqs import SqsClientConfig, SqsServerConfig, SqsWorker, sqs_client
from tests.client_answers import text_of
from tests.servers import build_server

pytestmark = pytest.mark.anyio

HANG_GUARD = 60


def _receivers() -> list[Any]:
    return list(connecting._RECEIVERS.values())  # pyright: ignore[reportPrivateUsage]


async def test_clients_of_one_config_share_one_receiver_and_hand_nothing_back(queues: Any) -> None:
    config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)
    with anyio.fail_after(HANG_GUARD):
        async with (
            SqsWorker(build_server(), SqsServerConfig(read_queue_url=queues.request)),
            Client(sqs_client(config)) as first,
            Client(sqs_client(config.model_copy(update={"client_id": "b", "transport_timeout_seconds": 20}))) as second,
        ):
            (receiver,) = _receivers()
            assert receiver.users == 2
            for turn in range(6):
                for client in (first, second):
                    assert text_of(await client.call_tool("echo", {"text": f"{turn}"})) == f"{turn}"
            channel = receiver.router.channel
            assert isinstance(channel, SqsChannel)
            assert channel.calls["ChangeMessageVisibilityBatch"] == 0  # no reply was handed back
            async with Client(sqs_client(config)) as third:  # joins the running receiver
                assert receiver.users == 3
                assert text_of(await third.call_tool("echo", {"text": "third"})) == "third"
            assert receiver.users == 2
    assert _receivers() == []  # closed with the last connection
    assert receiver.closed.is_set()


async def test_other_configs_and_given_clients_get_receivers_of_their_own(queues: Any) -> None:
    import aiobotocore.session

    config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)
    with anyio.fail_after(HANG_GUARD):
        async with (
            SqsWorker(build_server(), SqsServerConfig(read_queue_url=queues.request)),
            aiobotocore.session.get_session().create_client("sqs") as own,  # pyright: ignore[reportUnknownMemberType]
            Client(sqs_client(config)) as plain,
            Client(sqs_client(config.model_copy(update={"max_messages": 5}))) as fewer,
            Client(sqs_client(config, own)) as given,
            Client(sqs_client(SqsClientConfig(read_queue_url=queues.request))) as temporary,
        ):
            # `plain` and `fewer`; the given client's and the temporary queue's receivers are their own
            assert len(_receivers()) == 2
            for client in (plain, fewer, given, temporary):
                assert text_of(await client.call_tool("echo", {"text": "own"})) == "own"
    assert _receivers() == []


async def test_a_missing_reply_queue_fails_every_connection_waiting_for_it(queues: Any) -> None:
    missing = queues.reply.rsplit("/", 1)[0] + "/no-such-queue"
    config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=missing, transport_timeout_seconds=5)
    failures: list[str] = []

    async def open_one() -> None:
        try:
            async with Client(sqs_client(config)) as client:
                await client.list_tools()
        except Exception as exc:  # what each user sees, inside the SDK's task groups
            leaf: BaseException = exc
            while inner := getattr(leaf, "exceptions", None):
                leaf = inner[0]
            failures.append(str(leaf))

    with anyio.fail_after(HANG_GUARD):
        async with anyio.create_task_group() as tg:
            tg.start_soon(open_one)
            tg.start_soon(open_one)
    assert len(failures) == 2
    assert all("no-such-queue" in failure for failure in failures), failures
    assert _receivers() == []
