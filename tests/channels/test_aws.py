"""One AWS client per process: connections share it, and the last one to leave closes it."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client

from asyncmcp.channels import aws
from asyncmcp.sqs import SqsClientConfig, SqsServerConfig, SqsWorker, sqs_client
from tests.client_answers import text_of
from tests.servers import build_server

pytestmark = pytest.mark.anyio


async def test_every_connection_of_a_process_shares_one_client_closed_with_the_last(queues: Any) -> None:
    created: list[str] = []
    original = aws.create_client

    def counting(service: str, region: str | None = None) -> Any:
        created.append(service)
        return original(service, region)

    config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)
    with pytest.MonkeyPatch.context() as patch, anyio.fail_after(30):
        patch.setattr(aws, "create_client", counting)
        async with (
            SqsWorker(build_server(), SqsServerConfig(read_queue_url=queues.request)),
            Client(sqs_client(config.model_copy(update={"client_id": "a"}))) as first,
            Client(sqs_client(config.model_copy(update={"client_id": "b"}), None)) as second,
            Client(sqs_client(SqsClientConfig(read_queue_url=queues.request))) as third,  # temporary queue
        ):
            for client in (first, second, third):
                assert text_of(await client.call_tool("echo", {"text": "shared"})) == "shared"
            assert created == ["sqs"]  # the worker and three clients: one client built
            (shared,) = aws._SHARED.values()  # pyright: ignore[reportPrivateUsage]
            assert shared.users == 3  # the worker, the receiver `first` and `second` share, `third`
    assert aws._SHARED == {}  # pyright: ignore[reportPrivateUsage]
