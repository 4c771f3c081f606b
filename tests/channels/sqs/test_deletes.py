"""Deletes batched over time, counted on the embedded endpoint (never timed).

One client calling one tool after another used to cost a DeleteMessage per message on each side;
now deletes wait (within the margin visibility leaves) to share DeleteMessageBatch calls.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client

from asyncmcp import SqsClientConfig, SqsServerConfig
from asyncmcp.sqs import SqsWorker, sqs_client, sqs_reply_queue
from tests.servers import build_server
from tests.sqs_helpers import queue_counts

pytestmark = pytest.mark.anyio

CALLS = 20


async def test_sequential_calls_acknowledge_many_messages_per_delete_call(queues: Any) -> None:
    client_config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)
    worker = SqsWorker(build_server(), SqsServerConfig(read_queue_url=queues.request))
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            await tg.start(worker.run)
            async with sqs_reply_queue(client_config) as router:
                async with Client(sqs_client(client_config, replies=router)) as client:
                    for index in range(CALLS):
                        await client.call_tool("echo", {"text": str(index)})
                assert worker.binding is not None
                server_calls, client_calls = worker.binding.channel.calls, router.channel.calls
                # 21 messages each side (server/discover + 20 calls): at most 3 delete calls per side.
                for calls in (server_calls, client_calls):
                    assert calls["DeleteMessage"] + calls["DeleteMessageBatch"] <= 3, calls
            worker.stop()  # a graceful stop: its own wake ends the long poll, pending deletes flush
    # Everything was acknowledged: the last, not-yet-full batches were flushed on the way out.
    assert queue_counts(queues.request) == (0, 0)
    assert queue_counts(queues.reply) == (0, 0)
