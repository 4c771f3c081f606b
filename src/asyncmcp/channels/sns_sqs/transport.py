"""The SNS+SQS channel as a registered transport: opening it for a server or a client, and provisioning.

A server reads its queue and publishes each reply to the topic its client named (attribute
`mcp-reply-to`, or `_meta.clientTopicArn` on a seed client's initialize), else to its default
reply topic. A client publishes to the request topic and reads its queue; with no queue
configured it gets a temporary topic and queue of its own, removed when it closes.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio

from asyncmcp.channels.base import ChannelTransport, ClientBinding, Option, ServerBinding
from asyncmcp.channels.payload_settings import PAYLOAD_OPTIONS
from asyncmcp.channels.sns_sqs.config import SnsSqsClientConfig, SnsSqsServerConfig
from asyncmcp.errors import ChannelError

__all__ = ["CLIENT_TOPIC_META_KEY", "SnsSqsTransport"]

logger = logging.getLogger(__name__)

CLIENT_TOPIC_META_KEY = "clientTopicArn"
"""The original asyncmcp handshake for SNS+SQS: a client's reply topic named in `initialize` `_meta`."""

DELETE_TIMEOUT = 5.0
"""Bound on removing a temporary reply topology when its client closes."""

_SERVER_OPTIONS = (
    Option(
        "--queue-url",
        "sqs_queue_url",
        "the server's SQS queue, subscribed to the request topic",
        env=("ASYNCMCP_SNS_SERVER_QUEUE_URL",),
        metavar="URL",
    ),
    Option(
        "--reply-topic-arn",
        "sns_topic_arn",
        "the reply topic for clients that name none of their own",
        env=("ASYNCMCP_SNS_REPLY_TOPIC_ARN",),
        metavar="ARN",
    ),
    Option(
        "--allow-reply-topic",
        "allowed_reply_topics",
        "reply topic ARN glob the server may publish to (repeatable); default: the queue's account and region",
        repeat=True,
        metavar="GLOB",
    ),
    Option(
        "--visibility-timeout",
        "visibility_timeout_seconds",
        "seconds a received request stays hidden (extended while its handler runs)",
        parse=int,
        metavar="SECONDS",
    ),
    *PAYLOAD_OPTIONS,
)

_CLIENT_OPTIONS = (
    Option(
        "--request-topic-arn",
        "sns_topic_arn",
        "the backend server's request topic",
        env=("ASYNCMCP_SNS_REQUEST_TOPIC_ARN",),
        metavar="ARN",
    ),
    Option(
        "--reply-queue-url",
        "sqs_queue_url",
        "the queue replies arrive on; default: a temporary topic and queue",
        env=("ASYNCMCP_SNS_REPLY_QUEUE_URL",),
        metavar="URL",
    ),
    Option(
        "--reply-topic-arn",
        "client_topic_arn",
        "the topic --reply-queue-url is subscribed to; default: the server's reply topic",
        metavar="ARN",
    ),
    *PAYLOAD_OPTIONS,
)

_PROVISION_OPTIONS = (
    Option("--client", "client_ids", "a client id to make a filtered reply queue for (repeatable)", repeat=True),
    Option("--observer", "observers", "a label to make an observer queue for (repeatable)", repeat=True),
    Option("--fifo", "fifo", "FIFO topics and queues", switch=True),
)


class SnsSqsTransport(ChannelTransport):
    """`sns_sqs`: requests published to the server's topic, replies to each client's topic."""

    name = "sns_sqs"
    summary = "AWS SNS+SQS: topics for requests and replies, each subscriber reading its own queue"
    server_config = SnsSqsServerConfig
    client_config = SnsSqsClientConfig
    client_names = ("sqs_client", "sns_client", "s3_client")
    server_options = _SERVER_OPTIONS
    client_options = _CLIENT_OPTIONS
    provision_options = _PROVISION_OPTIONS

    @asynccontextmanager
    async def open_server(self, config: SnsSqsServerConfig, clients: Mapping[str, Any]) -> AsyncIterator[ServerBinding]:
        from asyncmcp.channels.sns_sqs.policy import SnsReplyPolicy
        from asyncmcp.channels.sqs.transport import warn_about_redrive

        async with self._channel(config, clients) as (channel, sqs, sns):
            attributes = await channel.queues.learn_limits(config.sqs_queue_url)
            warn_about_redrive(config.on_bad_message, attributes, config.sqs_queue_url)
            policy = SnsReplyPolicy(config.sqs_queue_url, config.allowed_reply_topics, region=sns.region)
            yield ServerBinding(
                channel,
                config.sqs_queue_url,
                policy,
                default_reply_to=config.sns_topic_arn,
                handshake_meta_key=CLIENT_TOPIC_META_KEY,
            )
            _ = sqs

    @asynccontextmanager
    async def open_client(
        self, config: SnsSqsClientConfig, clients: Mapping[str, Any], *, purpose: str = "reply"
    ) -> AsyncIterator[ClientBinding]:
        from asyncmcp.channels.sns_sqs.provision import create_reply_topology

        async with AsyncExitStack() as stack:
            channel, sqs, sns = await stack.enter_async_context(self._channel(config, clients))
            queue, reply_to, private = config.sqs_queue_url, config.client_topic_arn, False
            if queue is None:
                name = f"asyncmcp-{purpose}-{secrets.token_hex(8)}"
                topology = await create_reply_topology(
                    name, sqs=sqs, sns=sns, visibility_timeout=config.visibility_timeout_seconds
                )
                stack.push_async_callback(_remove_quietly, topology, sqs, sns)
                queue, reply_to, private = topology.queue_url, topology.topic_arn, True
            yield ClientBinding(
                channel,
                config.sns_topic_arn,
                queue,
                reply_to,
                private,
                handshake_meta_key=CLIENT_TOPIC_META_KEY,
            )

    async def check_ready(self, binding: ClientBinding) -> None:
        from asyncmcp.channels.sns_sqs.channel import SnsSqsChannel

        if isinstance(binding.channel, SnsSqsChannel):
            await binding.channel.learn_topic_limit(binding.server_address)

    async def provision(
        self, name: str, values: Mapping[str, Any], clients: Mapping[str, Any]
    ) -> list[tuple[str, str]]:
        from asyncmcp.channels.sns_sqs.api import SnsApi
        from asyncmcp.channels.sns_sqs.provision import provision_sns_sqs
        from asyncmcp.channels.sqs.api import SqsApi

        async with SqsApi(clients.get("sqs_client")) as sqs, SnsApi(clients.get("sns_client")) as sns:
            topology = await provision_sns_sqs(
                name,
                client_ids=tuple(values.get("client_ids") or ()),
                observers=tuple(values.get("observers") or ()),
                fifo=bool(values.get("fifo")),
                sqs=sqs,
                sns=sns,
            )
        return topology.exports()

    @asynccontextmanager
    async def _channel(
        self, config: SnsSqsServerConfig | SnsSqsClientConfig, clients: Mapping[str, Any]
    ) -> AsyncIterator[tuple[Any, Any, Any]]:
        from asyncmcp.channels.claim_check import open_claim_check
        from asyncmcp.channels.sns_sqs.api import SnsApi
        from asyncmcp.channels.sns_sqs.channel import SnsSqsChannel
        from asyncmcp.channels.sqs.api import SqsApi
        from asyncmcp.channels.sqs.channel import SqsChannel

        # The queue URL names the region to build a client for, and a URL that is not AWS's is refused
        # without an endpoint in the environment (the call would go to AWS), as for the SQS channel. A
        # client's SNS client is built for its request topic's region; a server's for its queue's, the
        # region its reply policy allows by default.
        request_topic = config.sns_topic_arn if isinstance(config, SnsSqsClientConfig) else None
        async with (
            SqsApi(clients.get("sqs_client"), queue_url=config.sqs_queue_url) as sqs,
            SnsApi(clients.get("sns_client"), topic_arn=request_topic, region=sqs.region) as sns,
            open_claim_check(config, clients, region=sqs.region) as payloads,
            SqsChannel.from_config(sqs, config, payloads) as queues,
            SnsSqsChannel(queues, sns) as channel,
        ):
            yield channel, sqs, sns


async def _remove_quietly(topology: Any, sqs: Any, sns: Any) -> None:
    """Remove a temporary reply topology, bounded in time and never raising (used on close)."""
    from asyncmcp.channels.sns_sqs.provision import delete_reply_topology

    with anyio.move_on_after(DELETE_TIMEOUT, shield=True):
        try:
            await delete_reply_topology(topology, sqs=sqs, sns=sns)
        except ChannelError as exc:
            logger.warning("could not remove temporary reply topic/queue %s: %s", topology.queue_url, exc)
