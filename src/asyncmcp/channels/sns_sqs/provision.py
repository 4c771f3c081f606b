"""Creating an SNS+SQS topology, idempotently: topics, queues, subscriptions and queue policies.

```
 clients ──Publish──> <name>-requests (topic) ──raw──> <name>-server (queue) <── workers (competing)
                                           └──raw──> <name>-observer-<label> (queue) <── an observer
 workers ──Publish──> <name>-replies (topic) ──raw, filter mcp-client-id prefix──> <name>-client-<id> (queue)
 or, for a client that names its own topic: that topic ──raw──> its queue
```

Every step is safe to repeat (SNS and SQS return the existing topic, queue or subscription), so
running the provisioning again after adding a client only adds what is missing. Each queue gets
the policy real AWS requires before a topic may deliver to it (moto does not check it); the server
queue gets a dead-letter queue. A temporary client topology (a client that names no queue) is the
same shape for one client, removed when the client closes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from asyncmcp.channels.sns_sqs.api import SnsApi
from asyncmcp.channels.sqs.api import SqsApi
from asyncmcp.channels.sqs.transport import DEAD_LETTER_RECEIVES
from asyncmcp.codec import ATTR_CLIENT_ID

__all__ = [
    "ReplyTopology",
    "SnsSqsTopology",
    "client_filter_policy",
    "create_reply_topology",
    "delete_reply_topology",
    "provision_sns_sqs",
    "subscribe_queue",
]


TEMPORARY_RETENTION_SECONDS = "3600"
"""How long a temporary reply queue keeps an unread reply."""


@dataclass(frozen=True)
class SnsSqsTopology:
    """What `provision_sns_sqs` made (or found)."""

    request_topic_arn: str
    server_queue_url: str
    dead_letter_queue_url: str
    reply_topic_arn: str
    client_queue_urls: dict[str, str] = field(default_factory=dict[str, str])
    observer_queue_urls: dict[str, str] = field(default_factory=dict[str, str])

    def exports(self) -> list[tuple[str, str]]:
        """Environment variables that point `asyncmcp serve` / clients at this topology."""
        out = [
            ("ASYNCMCP_SNS_REQUEST_TOPIC_ARN", self.request_topic_arn),
            ("ASYNCMCP_SNS_SERVER_QUEUE_URL", self.server_queue_url),
            ("ASYNCMCP_SNS_REPLY_TOPIC_ARN", self.reply_topic_arn),
        ]
        for client_id, url in self.client_queue_urls.items():
            out.append((f"ASYNCMCP_SNS_CLIENT_QUEUE_URL_{_env_name(client_id)}", url))
        for label, url in self.observer_queue_urls.items():
            out.append((f"ASYNCMCP_SNS_OBSERVER_QUEUE_URL_{_env_name(label)}", url))
        return out


def _env_name(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).upper()


def client_filter_policy(client_id: str) -> str:
    """The subscription filter that lets only this client's replies into its queue.

    Every connection adds a random suffix to its configured id (`<client_id>.<8 hex>`), so the
    filter matches the prefix: one subscription serves every connection of that client, and it is
    written once (a changed filter takes up to 15 minutes to apply on real SNS).
    """
    return json.dumps({ATTR_CLIENT_ID: [{"prefix": f"{client_id}."}]})


async def _queue(sqs: SqsApi, name: str, fifo: bool, **attributes: str) -> tuple[str, str]:
    """Create (or find) a queue; (url, arn)."""
    if fifo:
        name, attributes = name + ".fifo", {**attributes, "FifoQueue": "true", "ContentBasedDeduplication": "true"}
    response = await sqs.call("CreateQueue", "create_queue", None, QueueName=name, Attributes=attributes)
    url = str(response["QueueUrl"])
    arn = await _queue_arn(sqs, url)
    return url, arn


async def _queue_arn(sqs: SqsApi, url: str) -> str:
    response = await sqs.call(
        "GetQueueAttributes", "get_queue_attributes", url, QueueUrl=url, AttributeNames=["QueueArn"]
    )
    return str(response["Attributes"]["QueueArn"])


async def _topic(sns: SnsApi, name: str, fifo: bool) -> str:
    attributes: dict[str, str] = {}
    if fifo:
        name, attributes = name + ".fifo", {"FifoTopic": "true", "ContentBasedDeduplication": "true"}
    response = await sns.call("CreateTopic", "create_topic", None, Name=name, Attributes=attributes)
    return str(response["TopicArn"])


async def subscribe_queue(
    sqs: SqsApi, sns: SnsApi, topic_arn: str, queue_url: str, queue_arn: str, filter_policy: str | None = None
) -> str:
    """Let `topic_arn` deliver to the queue (its policy) and subscribe it with raw delivery."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "asyncmcp-topic-delivery",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }
    await sqs.set_queue_attributes(queue_url, {"Policy": json.dumps(policy)})
    attributes = {"RawMessageDelivery": "true"}
    if filter_policy is not None:
        attributes["FilterPolicy"] = filter_policy
    response = await sns.call(
        "Subscribe",
        "subscribe",
        topic_arn,
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes=attributes,
        ReturnSubscriptionArn=True,
    )
    return str(response["SubscriptionArn"])


async def provision_sns_sqs(
    name: str,
    *,
    client_ids: tuple[str, ...] = (),
    observers: tuple[str, ...] = (),
    fifo: bool = False,
    sqs: SqsApi,
    sns: SnsApi,
) -> SnsSqsTopology:
    """Create the topology named `name` (see the module docstring); safe to run again."""
    request_topic = await _topic(sns, f"{name}-requests", fifo)
    reply_topic = await _topic(sns, f"{name}-replies", fifo)
    dead_url, dead_arn = await _queue(sqs, f"{name}-server-dlq", fifo)
    redrive = json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": str(DEAD_LETTER_RECEIVES)})
    server_url, server_arn = await _queue(sqs, f"{name}-server", fifo)
    # Apart from CreateQueue, which refuses an existing queue whose attributes differ (another count).
    await sqs.set_queue_attributes(server_url, {"RedrivePolicy": redrive})
    await subscribe_queue(sqs, sns, request_topic, server_url, server_arn)
    topology = SnsSqsTopology(request_topic, server_url, dead_url, reply_topic)
    for client_id in client_ids:
        url, arn = await _queue(sqs, f"{name}-client-{client_id}", fifo, VisibilityTimeout="5")
        await subscribe_queue(sqs, sns, reply_topic, url, arn, client_filter_policy(client_id))
        topology.client_queue_urls[client_id] = url
    for label in observers:
        url, arn = await _queue(sqs, f"{name}-observer-{label}", fifo)
        await subscribe_queue(sqs, sns, request_topic, url, arn)
        topology.observer_queue_urls[label] = url
    return topology


@dataclass(frozen=True)
class ReplyTopology:
    """A temporary reply topic and queue for one client."""

    topic_arn: str
    queue_url: str


async def create_reply_topology(name: str, *, sqs: SqsApi, sns: SnsApi, visibility_timeout: int) -> ReplyTopology:
    """A topic and a queue subscribed to it (raw delivery), both named `name`, for one client."""
    topic = await _topic(sns, name, fifo=False)
    attributes: dict[str, Any] = {
        "MessageRetentionPeriod": TEMPORARY_RETENTION_SECONDS,
        "VisibilityTimeout": str(visibility_timeout),
    }
    url, arn = await _queue(sqs, name, False, **attributes)
    await subscribe_queue(sqs, sns, topic, url, arn)
    return ReplyTopology(topic, url)


async def delete_reply_topology(topology: ReplyTopology, *, sqs: SqsApi, sns: SnsApi) -> None:
    """Remove a temporary reply topology (deleting the topic removes its subscriptions)."""
    await sns.call("DeleteTopic", "delete_topic", topology.topic_arn, TopicArn=topology.topic_arn)
    await sqs.call("DeleteQueue", "delete_queue", topology.queue_url, QueueUrl=topology.queue_url)
