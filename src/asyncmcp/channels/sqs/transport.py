"""The SQS channel as a registered transport: how a server or a client opens it from its config.

This is the only place that knows how SQS access, the channel, the reply policy and a temporary
reply queue go together; the generic assembly (`serving.py`, `connecting.py`), the proxy and the
CLI ask it through the `ChannelTransport` interface. botocore is imported only when a channel is
opened, so listing this transport's options (`asyncmcp --help`) loads no AWS library.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio

from asyncmcp.channels.base import (
    TEMPORARY_ALIVE_SECONDS,
    TEMPORARY_PREFIX,
    ChannelTransport,
    ClientBinding,
    Option,
    ServerBinding,
)
from asyncmcp.channels.payload_settings import PAYLOAD_OPTIONS
from asyncmcp.channels.sqs.config import SqsClientConfig, SqsServerConfig
from asyncmcp.channels.sqs.policy import SqsReplyPolicy
from asyncmcp.errors import ChannelError

__all__ = ["DEAD_LETTER_RECEIVES", "HANDED_BACK_RECEIVES", "STATE_KEY_TAG", "SqsTransport", "warn_about_redrive"]

logger = logging.getLogger(__name__)

STATE_KEY_TAG = "asyncmcp-state-key"
"""The request queue tag that keeps the fleet's state key when the operator gave none."""

DELETE_TIMEOUT = 5.0
"""Bound on deleting a temporary reply queue when its client closes."""

HANDED_BACK_RECEIVES = 40
"""How often a frame meant for another worker (a client's answer to a server request, a cancel) may
be received before it reaches it (`receiving.HANDBACK_MAX_RECEIVES`; a test ties the two): a redrive
policy must let it be received that often, or it moves to the dead-letter queue instead."""

DEAD_LETTER_RECEIVES = HANDED_BACK_RECEIVES + 1
"""The `maxReceiveCount` provisioning sets (SQS moves a message when it would be received once more):
one spare, since `ApproximateReceiveCount` is approximate. A message no worker can serve
(`on_bad_message='dead-letter'`) is received that often first (a visibility timeout apart, one
warning each), and a request whose answer cannot be sent is retried for as long."""

_SERVER_OPTIONS = (
    Option(
        "--request-queue-url",
        "read_queue_url",
        "the SQS queue to read requests from",
        env=("ASYNCMCP_REQUEST_QUEUE_URL",),
        metavar="URL",
    ),
    Option(
        "--allow-reply-queue",
        "allowed_reply_queues",
        "reply queue URL glob the server may answer (repeatable); default: the request queue's account and region",
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
        "--request-queue-url",
        "read_queue_url",
        "the backend server's SQS request queue",
        env=("REQUEST_QUEUE_URL", "ASYNCMCP_REQUEST_QUEUE_URL"),
        metavar="URL",
    ),
    Option(
        "--response-queue-url",
        "response_queue_url",
        "reply queue shared by every session; default: a temporary queue",
        env=("RESPONSE_QUEUE_URL",),
        metavar="URL",
    ),
    *PAYLOAD_OPTIONS,
)


class SqsTransport(ChannelTransport):
    """`sqs`: a request queue per server, reply queues for clients."""

    name = "sqs"
    summary = "AWS SQS: a request queue per server, reply queues for clients"
    server_config = SqsServerConfig
    client_config = SqsClientConfig
    client_names = ("sqs_client", "s3_client")
    server_options = _SERVER_OPTIONS
    client_options = _CLIENT_OPTIONS
    provision_options = (Option("--fifo", "fifo", "FIFO queues", switch=True),)

    @asynccontextmanager
    async def open_server(self, config: SqsServerConfig, clients: Mapping[str, Any]) -> AsyncIterator[ServerBinding]:
        from asyncmcp.channels.claim_check import open_claim_check
        from asyncmcp.channels.sqs.api import SqsApi
        from asyncmcp.channels.sqs.channel import SqsChannel

        api = SqsApi(clients.get("sqs_client"), queue_url=config.read_queue_url)
        async with (
            api,
            open_claim_check(config, clients, region=api.region) as payloads,
            SqsChannel.from_config(api, config, payloads) as channel,
        ):
            attributes = await channel.learn_limits(config.read_queue_url)
            warn_about_redrive(config.on_bad_message, attributes, config.read_queue_url)
            policy = SqsReplyPolicy(config.read_queue_url, config.allowed_reply_queues)
            yield ServerBinding(channel, config.read_queue_url, policy)

    @asynccontextmanager
    async def open_client(
        self, config: SqsClientConfig, clients: Mapping[str, Any], *, purpose: str = "reply"
    ) -> AsyncIterator[ClientBinding]:
        from asyncmcp.channels.claim_check import open_claim_check
        from asyncmcp.channels.sqs.api import SqsApi
        from asyncmcp.channels.sqs.channel import SqsChannel

        async with AsyncExitStack() as stack:
            api = await stack.enter_async_context(SqsApi(clients.get("sqs_client"), queue_url=config.read_queue_url))
            payloads = await stack.enter_async_context(open_claim_check(config, clients, region=api.region))
            channel = await stack.enter_async_context(SqsChannel.from_config(api, config, payloads))
            reply_queue = config.response_queue_url
            private = reply_queue is None
            if reply_queue is None:
                reply_queue = await channel.create_reply_address(f"{TEMPORARY_PREFIX}{purpose}-{secrets.token_hex(8)}")
                stack.push_async_callback(_delete_quietly, channel, reply_queue)
                alive = await stack.enter_async_context(anyio.create_task_group())
                alive.start_soon(_keep_marking_alive, channel, reply_queue)
                stack.callback(alive.cancel_scope.cancel)
            yield ClientBinding(channel, config.read_queue_url, reply_queue, reply_queue, private)

    async def provision(
        self, name: str, values: Mapping[str, Any], clients: Mapping[str, Any]
    ) -> list[tuple[str, str]]:
        """`<name>-requests` (with a dead-letter queue `<name>-requests-dlq`) and `<name>-replies`."""

        from asyncmcp.channels.sqs.api import SqsApi

        fifo = bool(values.get("fifo"))
        suffix = ".fifo" if fifo else ""
        kind = {"FifoQueue": "true"} if fifo else {}
        async with SqsApi(clients.get("sqs_client")) as api:

            async def queue(queue_name: str, **attributes: str) -> str:
                response = await api.call(
                    "CreateQueue",
                    "create_queue",
                    None,
                    QueueName=queue_name + suffix,
                    Attributes={**kind, **attributes},
                )
                return str(response["QueueUrl"])

            dead = await queue(f"{name}-requests-dlq")
            arn = await api.call(
                "GetQueueAttributes", "get_queue_attributes", dead, QueueUrl=dead, AttributeNames=["QueueArn"]
            )
            redrive = {
                "deadLetterTargetArn": arn["Attributes"]["QueueArn"],
                "maxReceiveCount": str(DEAD_LETTER_RECEIVES),
            }
            # Set apart from CreateQueue, which refuses an existing queue whose attributes differ: a
            # topology provisioned with another count is brought up to date, not refused.
            request = await queue(f"{name}-requests")
            await api.set_queue_attributes(request, {"RedrivePolicy": json.dumps(redrive)})
            reply = await queue(f"{name}-replies", VisibilityTimeout="5")
        return [
            ("ASYNCMCP_REQUEST_QUEUE_URL", request),
            ("ASYNCMCP_REPLY_QUEUE_URL", reply),
            ("ASYNCMCP_DEAD_LETTER_QUEUE_URL", dead),
        ]

    async def sweep(self, config: SqsClientConfig, clients: Mapping[str, Any], *, idle_seconds: float) -> list[str]:
        """Temporary queues of the request queue's account and region (sqs:ListQueues, sqs:ListQueueTags,
        sqs:DeleteQueue on `asyncmcp-*`)."""
        from asyncmcp.channels.sqs.api import SqsApi
        from asyncmcp.channels.sqs.channel import SqsChannel

        api = SqsApi(clients.get("sqs_client"), queue_url=config.read_queue_url)
        async with api, SqsChannel.from_config(api, config) as channel:
            return await channel.sweep_temporary(TEMPORARY_PREFIX, idle_seconds)

    async def fleet_secret(self, binding: ServerBinding) -> str | None:
        """Kept as the request queue's `asyncmcp-state-key` tag (sqs:ListQueueTags, sqs:TagQueue)."""
        from asyncmcp.channels.sqs.channel import SqsChannel

        channel = binding.channel
        if not isinstance(channel, SqsChannel):
            return None
        return await channel.stored_secret(binding.address, STATE_KEY_TAG)

    async def check_ready(self, binding: ClientBinding) -> None:
        """The request queue and the reply queue both exist: one GetQueueAttributes each. The reply
        queue is asked directly, since its receiver would notice it is gone only when its long poll
        ends (up to `wait_time_seconds` later)."""
        from asyncmcp.channels.sqs.channel import SqsChannel

        channel = binding.channel
        if isinstance(channel, SqsChannel):
            await channel.learn_limits(binding.server_address)
            await channel.learn_limits(binding.receive_address)


def warn_about_redrive(on_bad_message: str, attributes: Mapping[str, str], queue_url: str) -> None:
    """Say at start what the request queue's redrive policy would get wrong: dead-lettering asked for
    with nowhere to move bad messages, or a `maxReceiveCount` a frame handed between workers can
    reach (it would then move to the dead-letter queue, not to the worker waiting for it)."""
    policy = attributes.get("RedrivePolicy")
    if policy is None:
        if on_bad_message == "dead-letter":
            logger.warning(
                "on_bad_message='dead-letter' but %s has no RedrivePolicy: bad messages will be retried "
                "until they expire; attach a dead-letter queue",
                queue_url,
            )
        return
    try:
        receives = int(json.loads(policy)["maxReceiveCount"])
    except (ValueError, KeyError, TypeError):
        return  # SQS validates the policy it stores; nothing to say about one it did not
    if receives < HANDED_BACK_RECEIVES:
        logger.warning(
            "%s dead-letters a message after %d receives, but with several workers a client's answer to a "
            "server request or a cancel may be handed between them up to %d times: set its RedrivePolicy "
            "maxReceiveCount to at least %d (docs/operations.md)",
            queue_url,
            receives,
            HANDED_BACK_RECEIVES,
            DEAD_LETTER_RECEIVES,
        )


async def _keep_marking_alive(channel: Any, address: str) -> None:
    """Re-tag a temporary queue while its owner runs, so a sweeper never takes it for a leftover."""
    while True:
        await anyio.sleep(TEMPORARY_ALIVE_SECONDS)
        try:
            await channel.mark_alive(address)
        except ChannelError as exc:
            logger.warning("could not mark temporary reply queue %s as alive: %s", address, exc)


async def _delete_quietly(channel: Any, address: str) -> None:
    """Delete a temporary reply queue, bounded in time and never raising (used on close)."""
    with anyio.move_on_after(DELETE_TIMEOUT, shield=True):
        try:
            await channel.delete_reply_address(address)
        except ChannelError as exc:
            logger.warning("could not delete temporary reply queue %s: %s", address, exc)
