"""The client side of MCP over SNS+SQS (`from asyncmcp.sns_sqs.client import sns_sqs_client`)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from asyncmcp.channels.sns_sqs.config import SnsSqsClientConfig, SnsSqsTransportConfig
from asyncmcp.client.replies import ReplyRouter
from asyncmcp.connecting import Streams, connect, shared_replies

__all__ = ["sns_sqs_client", "sns_sqs_reply_queue"]


def _client_config(config: SnsSqsClientConfig | SnsSqsTransportConfig) -> SnsSqsClientConfig:
    return config.client_config() if isinstance(config, SnsSqsTransportConfig) else config


def sns_sqs_client(
    config: SnsSqsClientConfig | SnsSqsTransportConfig,
    sqs_client: Any = None,
    sns_client: Any = None,
    *,
    replies: ReplyRouter | None = None,
) -> AbstractAsyncContextManager[Streams]:
    """Connect to the server behind `config.sns_topic_arn`; an async context manager yielding `(read, write)`.

    Replies are read from `config.sqs_queue_url` (or a temporary topic and queue). Pass `replies`
    (from `sns_sqs_reply_queue`) to share one receiver among many clients of this process.
    """
    return connect(_client_config(config), {"sqs_client": sqs_client, "sns_client": sns_client}, replies=replies)


def sns_sqs_reply_queue(
    config: SnsSqsClientConfig | SnsSqsTransportConfig, sqs_client: Any = None, sns_client: Any = None
) -> AbstractAsyncContextManager[ReplyRouter]:
    """One receiver on the config's reply queue, shared by every `sns_sqs_client(..., replies=...)`."""
    return shared_replies(_client_config(config), {"sqs_client": sqs_client, "sns_client": sns_client})
