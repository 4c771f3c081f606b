"""One MCP deployment per channel, so the protocol suite runs over every transport unchanged.

A `Deployment` serves the test server on its channel and hands out client configs; the protocol
feature tests (tests/test_protocol_features.py) take one as a fixture parametrized over the
transports. SQS uses the request and reply queues of the `queues` fixture; SNS+SQS provisions a
topology per test (topics, queues, raw-delivery subscriptions, a reply queue filtered for the
client id `tester`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from asyncmcp.channels.config import ClientSettings
from asyncmcp.channels.sns_sqs.config import SnsSqsClientConfig, SnsSqsServerConfig
from asyncmcp.channels.sns_sqs.provision import SnsSqsTopology, provision_sns_sqs
from asyncmcp.channels.sqs.config import SqsClientConfig, SqsServerConfig
from asyncmcp.channels.webhook.config import WebhookClientConfig, WebhookServerConfig
from asyncmcp.channels.webhook.signing import generate_secret
from asyncmcp.serving import Worker
from asyncmcp.streamable_http_webhook.config import StreamableHTTPWebhookClientConfig, StreamableHTTPWebhookConfig

SNS_CLIENT_ID = "tester"
"""The client id whose filtered reply queue each SNS+SQS topology provisions."""


@dataclass
class SqsDeployment:
    request: str
    reply: str
    name: str = "sqs"

    def server_config(self, **fields: Any) -> SqsServerConfig:
        return SqsServerConfig(read_queue_url=self.request, **fields)

    def client_config(self, *, private: bool = False, **fields: Any) -> ClientSettings:
        """A client of the server; `private`: with a temporary reply address of its own."""
        return SqsClientConfig(
            read_queue_url=self.request, response_queue_url=None if private else self.reply, **fields
        )

    @asynccontextmanager
    async def serving(self, server: Any = None, **fields: Any) -> AsyncIterator[Worker]:
        from tests.servers import build_server

        async with Worker(server or build_server(), self.server_config(**fields)) as worker:
            yield worker


@dataclass
class SnsSqsDeployment:
    topology: SnsSqsTopology
    name: str = "sns_sqs"

    def server_config(self, **fields: Any) -> SnsSqsServerConfig:
        return SnsSqsServerConfig(
            sqs_queue_url=self.topology.server_queue_url, sns_topic_arn=self.topology.reply_topic_arn, **fields
        )

    def client_config(self, *, private: bool = False, **fields: Any) -> ClientSettings:
        """The provisioned, filtered reply queue for the default client id; a temporary topic and
        queue for a private client or one with another id (its replies go to its own topic)."""
        if private or fields.get("client_id", SNS_CLIENT_ID) != SNS_CLIENT_ID:
            return SnsSqsClientConfig(sns_topic_arn=self.topology.request_topic_arn, **fields)
        fields.setdefault("client_id", SNS_CLIENT_ID)
        return SnsSqsClientConfig(
            sns_topic_arn=self.topology.request_topic_arn,
            sqs_queue_url=self.topology.client_queue_urls[SNS_CLIENT_ID],
            **fields,
        )

    @asynccontextmanager
    async def serving(self, server: Any = None, **fields: Any) -> AsyncIterator[Worker]:
        from tests.servers import build_server

        async with Worker(server or build_server(), self.server_config(**fields)) as worker:
            yield worker


WEBHOOK_SECRET = generate_secret()
"""The signing secret the webhook deployment's server and clients share."""


@dataclass
class WebhookDeployment:
    """A webhook server on its own HTTP server (127.0.0.1, a free port); clients get a receiver each."""

    name: str = "webhook"
    url: str | None = None

    def server_config(self, **fields: Any) -> WebhookServerConfig:
        fields.setdefault("port", 0)
        return WebhookServerConfig(signing_secrets=(WEBHOOK_SECRET,), allow_loopback=True, **fields)

    def client_config(self, *, private: bool = False, **fields: Any) -> ClientSettings:
        assert self.url is not None, "client_config() is for inside serving()"
        return WebhookClientConfig(server_url=self.url, signing_secrets=(WEBHOOK_SECRET,), **fields)

    @asynccontextmanager
    async def serving(self, server: Any = None, **fields: Any) -> AsyncIterator[Worker]:
        from tests.servers import build_server

        async with Worker(server or build_server(), self.server_config(**fields)) as worker:
            assert worker.binding is not None
            self.url = worker.binding.endpoint
            yield worker


@dataclass
class HybridDeployment:
    """A Streamable HTTP + webhook server on 127.0.0.1 whose every tool answers by webhook."""

    name: str = "hybrid"
    url: str | None = None

    def server_config(self, **fields: Any) -> StreamableHTTPWebhookConfig:
        fields.setdefault("port", 0)
        fields.setdefault("webhook_tools", frozenset({"*"}))
        return StreamableHTTPWebhookConfig(signing_secrets=(WEBHOOK_SECRET,), allow_loopback=True, **fields)

    def client_config(self, *, private: bool = False, **fields: Any) -> ClientSettings:
        assert self.url is not None, "client_config() is for inside serving()"
        return StreamableHTTPWebhookClientConfig(server_url=self.url, signing_secrets=(WEBHOOK_SECRET,), **fields)

    @asynccontextmanager
    async def serving(self, server: Any = None, **fields: Any) -> AsyncIterator[Worker]:
        from tests.servers import build_server

        async with Worker(server or build_server(), self.server_config(**fields)) as worker:
            self.url = worker.endpoint
            yield worker


Deployment = SqsDeployment | SnsSqsDeployment | WebhookDeployment | HybridDeployment


async def provision_topology(client_ids: tuple[str, ...] = (SNS_CLIENT_ID,), **options: Any) -> SnsSqsTopology:
    """A fresh SNS+SQS topology on the endpoint in the environment."""
    from asyncmcp.channels.sns_sqs.api import SnsApi
    from asyncmcp.channels.sqs.api import SqsApi

    async with SqsApi() as sqs, SnsApi() as sns:
        return await provision_sns_sqs(f"t-{uuid.uuid4().hex[:8]}", client_ids=client_ids, sqs=sqs, sns=sns, **options)
