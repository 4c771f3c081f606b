"""MCP over SNS+SQS against its floor: publish, long-poll receive and delete on both hops.

The floor is what any request/response over SNS+SQS must pay with the same client library and no
MCP: publish the request to a topic, long-poll it from the queue subscribed to that topic (raw
delivery) and delete it; then the same for the reply. It is interleaved call by call with
tools/call over SNS+SQS in both eras, back to back as an agent calls (no pause between calls).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from mcp import Client

from asyncmcp.channels.aws import create_client
from asyncmcp.channels.sns_sqs.api import SnsApi
from asyncmcp.channels.sns_sqs.provision import SnsSqsTopology, create_reply_topology, provision_sns_sqs
from asyncmcp.channels.sqs.api import SqsApi
from asyncmcp.client.replies import ReplyRouter
from asyncmcp.codec import ATTR_CLIENT_ID, ATTR_REPLY_TO
from asyncmcp.connecting import connect, shared_replies
from asyncmcp.serving import Worker
from asyncmcp.sns_sqs import SnsSqsClientConfig, SnsSqsServerConfig
from benchmarks.harness import client_pool, worker_processes
from benchmarks.latency import Figure, RoundTrips, echo, interleaved, long_poll
from benchmarks.throughput import Throughput, measure_throughput

__all__ = ["SNS_CLIENT_ID", "SnsStack", "measure_sns_round_trips", "measure_sns_throughput", "sns_stack"]

SNS_CLIENT_ID = "bench"
"""The client id whose filtered reply queue the benchmark topology provisions."""

_BODY = json.dumps(
    {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "x" * 64}}}
)


@dataclass
class SnsStack:
    """An in-process SNS+SQS worker, clients of both eras on one shared reply queue, and the floor's route."""

    topology: SnsSqsTopology
    worker: Worker
    router: ReplyRouter
    modern: Client
    legacy: Client
    config: SnsSqsClientConfig
    floor: tuple[str, str, str, str]
    """(request topic, request queue, reply topic, reply queue) of the raw floor, its own topology."""

    def calls(self) -> Counter[str]:
        assert self.worker.binding is not None
        return self.worker.binding.channel.calls + self.router.channel.calls


@asynccontextmanager
async def sns_stack(server: Any) -> AsyncIterator[SnsStack]:
    async with AsyncExitStack() as stack:
        sqs = await stack.enter_async_context(SqsApi())
        sns = await stack.enter_async_context(SnsApi())
        topology = await provision_sns_sqs("bench-sns", client_ids=(SNS_CLIENT_ID,), sqs=sqs, sns=sns)
        hop_one = await create_reply_topology("bench-sns-floor-req", sqs=sqs, sns=sns, visibility_timeout=30)
        hop_two = await create_reply_topology("bench-sns-floor-rep", sqs=sqs, sns=sns, visibility_timeout=30)
        worker = await stack.enter_async_context(
            Worker(
                server,
                SnsSqsServerConfig(sqs_queue_url=topology.server_queue_url, sns_topic_arn=topology.reply_topic_arn),
            )
        )
        config = SnsSqsClientConfig(
            sns_topic_arn=topology.request_topic_arn,
            sqs_queue_url=topology.client_queue_urls[SNS_CLIENT_ID],
            client_id=SNS_CLIENT_ID,
        )
        router = await stack.enter_async_context(shared_replies(config))
        modern = await stack.enter_async_context(Client(connect(config, replies=router)))
        legacy = await stack.enter_async_context(Client(connect(config, replies=router), mode="legacy"))
        floor = (hop_one.topic_arn, hop_one.queue_url, hop_two.topic_arn, hop_two.queue_url)
        yield SnsStack(topology, worker, router, modern, legacy, config, floor)


async def raw_sns_round_trip(sns: Any, sqs: Any, floor: tuple[str, str, str, str]) -> None:
    """The floor: publish, long-poll receive, delete; for the request and then for the reply."""
    request_topic, request_queue, reply_topic, reply_queue = floor
    attributes = {
        ATTR_CLIENT_ID: {"DataType": "String", "StringValue": "0" * 32},
        ATTR_REPLY_TO: {"DataType": "String", "StringValue": reply_topic},
    }
    for topic, queue in ((request_topic, request_queue), (reply_topic, reply_queue)):
        await sns.publish(TopicArn=topic, Message=_BODY, MessageAttributes=attributes)
        for message in await long_poll(sqs, queue):
            await sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


async def measure_sns_round_trips(stack: SnsStack, *, samples: int, warmup: int) -> RoundTrips:
    """Interleave one sample of each figure per iteration, back to back; `warmup` iterations discarded."""
    async with create_client("sns") as sns, create_client("sqs") as sqs:
        figures: list[Figure] = [
            ("sns-raw", lambda: raw_sns_round_trip(sns, sqs, stack.floor)),
            ("sns-modern", lambda: echo(stack.modern)),
            ("sns-legacy", lambda: echo(stack.legacy)),
        ]
        return await interleaved(figures, samples=samples, warmup=warmup)


async def measure_sns_throughput(*, clients: int, rounds: int, window: float, max_in_flight: int) -> Throughput:
    """1 against 2 `asyncmcp serve --transport sns_sqs` processes competing on one queue, each set-up
    on a topology of its own and `clients` clients on one shared reply queue; rounds alternate as
    in `throughput.py`."""
    async with AsyncExitStack() as stack:
        sqs = await stack.enter_async_context(SqsApi())
        sns = await stack.enter_async_context(SnsApi())
        pools: list[list[Client]] = []
        for workers in (1, 2):
            topology = await provision_sns_sqs(f"bench-sns-tp{workers}", client_ids=(SNS_CLIENT_ID,), sqs=sqs, sns=sns)
            await stack.enter_async_context(
                worker_processes(
                    workers, topology.server_queue_url, max_in_flight=max_in_flight,
                    reply_topic_arn=topology.reply_topic_arn,
                )
            )  # fmt: skip
            config = SnsSqsClientConfig(
                sns_topic_arn=topology.request_topic_arn,
                sqs_queue_url=topology.client_queue_urls[SNS_CLIENT_ID],
                client_id=SNS_CLIENT_ID,
            )
            router = await stack.enter_async_context(shared_replies(config))
            pools.append(await stack.enter_async_context(client_pool(config, router, clients)))
        return await measure_throughput(
            pools[0], pools[1], concurrency=(clients,), rounds=rounds, window=window, max_in_flight=max_in_flight
        )
