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
import boto3
import pytest
from mcp import Client

from asyncmcp.channels.sqs.channel import SqsChannel
from asyncmcp.client import shared_receivers
from asyncmcp.sqs import SqsClientConfig, SqsServerConfig, SqsWorker, sqs_client
from tests.client_answers import text_of
from tests.servers import build_server
from tests.waiting import wait_for

pytestmark = pytest.mark.anyio

HANG_GUARD = 60


def _receivers() -> list[Any]:
    return list(shared_receivers._RECEIVERS.values())  # pyright: ignore[reportPrivateUsage]


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
    assert receiver.task.done()


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


async def test_after_its_queue_is_gone_and_made_again_the_next_connection_reads_through_a_new_receiver(
    queues: Any,
) -> None:
    config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply, wait_time_seconds=1)
    sqs = boto3.client("sqs")
    name = queues.reply.rsplit("/", 1)[1]
    with anyio.fail_after(HANG_GUARD):
        async with (
            SqsWorker(build_server(), SqsServerConfig(read_queue_url=queues.request)),
            Client(sqs_client(config)) as before,
        ):
            assert text_of(await before.call_tool("echo", {"text": "before"})) == "before"
            (dead,) = _receivers()
            await anyio.to_thread.run_sync(lambda: sqs.delete_queue(QueueUrl=queues.reply))
            await wait_for(lambda: dead.router.failure is not None)  # its next poll found the queue gone
            await anyio.to_thread.run_sync(lambda: sqs.create_queue(QueueName=name))
            async with Client(sqs_client(config)) as after:  # not the receiver that stopped reading
                assert text_of(await after.call_tool("echo", {"text": "after"})) == "after"
                assert [receiver for receiver in _receivers() if receiver is not dead]
    assert _receivers() == []
