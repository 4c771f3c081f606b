"""The fleet's state key kept with the request queue (a queue tag), on the moto endpoint over HTTP."""

from __future__ import annotations

import anyio
import boto3
import pytest

from asyncmcp import SqsServerConfig
from asyncmcp.channels.sqs.transport import STATE_KEY_TAG, SqsTransport
from asyncmcp.server.state_key import StateKey
from tests.faults import ACCESS_DENIED, sqs_behind_faults

pytestmark = pytest.mark.anyio


async def _fleet_key(config: SqsServerConfig, sqs_client: object = None) -> StateKey:
    transport = SqsTransport()
    async with transport.open_server(config, {"sqs_client": sqs_client} if sqs_client else {}) as binding:
        return await StateKey.for_fleet(None, transport, binding)


@pytest.mark.xfail(
    strict=False,
    reason="known race: without a conditional TagQueue a late write can still split the key (closing note, 2026-12-02)",
)
async def test_workers_starting_together_settle_on_one_key_kept_with_the_queue(queues, monkeypatch) -> None:
    monkeypatch.delenv("ASYNCMCP_STATE_KEY", raising=False)
    config = SqsServerConfig(read_queue_url=queues.request)
    keys: list[StateKey] = []

    async def start() -> None:
        keys.append(await _fleet_key(config))

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(start)
        later = await _fleet_key(config)  # a worker started after a restart
    assert len({key.secret for key in [*keys, later]}) == 1
    assert all(key.shared for key in keys)
    tags = boto3.client("sqs").list_queue_tags(QueueUrl=queues.request)["Tags"]
    assert tags[STATE_KEY_TAG].encode() == later.secret


async def test_a_configured_key_wins_and_the_queue_is_not_tagged(queues, monkeypatch) -> None:
    monkeypatch.setenv("ASYNCMCP_STATE_KEY", "from-the-operator")
    with anyio.fail_after(30):
        key = await _fleet_key(SqsServerConfig(read_queue_url=queues.request))
    assert key.secret == b"from-the-operator"
    assert STATE_KEY_TAG not in boto3.client("sqs").list_queue_tags(QueueUrl=queues.request).get("Tags", {})


async def test_without_permission_to_tag_the_queue_the_worker_warns_and_keeps_its_own_key(
    queues, endpoint, monkeypatch, caplog
) -> None:
    monkeypatch.delenv("ASYNCMCP_STATE_KEY", raising=False)

    def tagging(operation: str, body: bytes) -> bool:
        return operation in ("AmazonSQS.TagQueue", "AmazonSQS.ListQueueTags")

    caplog.set_level("WARNING", logger="asyncmcp")
    with anyio.fail_after(30):
        async with sqs_behind_faults(endpoint.url, tagging, ACCESS_DENIED) as (client, _):
            key = await _fleet_key(SqsServerConfig(read_queue_url=queues.request, wait_time_seconds=1), client)
    assert not key.shared
    (warning,) = [r for r in caplog.records if "no shared state key" in r.getMessage()]
    assert "ASYNCMCP_STATE_KEY" in warning.getMessage() and "AccessDenied" in warning.getMessage()
