"""Configuration of the SNS+SQS channel, with the names of the original asyncmcp documents.

A server reads its SQS queue (subscribed to the request topic) and publishes replies to each
client's topic; a client publishes requests to the server's topic and reads replies from its own
queue (subscribed to its topic). `SnsSqsTransportConfig` is the original documents' one class for
both sides (`sqs_queue_url` + `sns_topic_arn`: on a server its queue and its reply topic, on a
client its queue and the request topic); `SnsSqsServerConfig` / `SnsSqsClientConfig` are the
explicit forms, with the same fields and defaults as the SQS configs.
"""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import Field, field_validator

from asyncmcp.channels.config import ClientSettings, ServerSettings
from asyncmcp.channels.sqs.config import SqsPolling, check_queue_url

__all__ = ["SnsSqsClientConfig", "SnsSqsServerConfig", "SnsSqsTransportConfig", "check_topic_arn", "parse_topic_arn"]

_TOPIC_ARN = re.compile(
    r"^arn:(aws|aws-cn|aws-us-gov|aws-iso[a-z-]*):sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,256}(\.fifo)?)$"
)


def parse_topic_arn(arn: str) -> tuple[str, str, str, str] | None:
    """(partition, region, account, name) of an SNS topic ARN, or None when it is not one."""
    match = _TOPIC_ARN.match(arn)
    return (match.group(1), match.group(2), match.group(3), match.group(4)) if match else None


def check_topic_arn(value: str, field_name: str) -> str:
    if parse_topic_arn(value) is None:
        raise ValueError(
            f"{field_name} must be an SNS topic ARN such as arn:aws:sns:us-east-1:123456789012:mcp-requests "
            f"(got {value!r}); `aws sns list-topics` prints them"
        )
    return value


class SnsSqsServerConfig(SqsPolling, ServerSettings):
    """A server on SNS+SQS: its queue (subscribed to the request topic) and where replies go."""

    transport: ClassVar[str] = "sns_sqs"

    sqs_queue_url: str
    """The server's SQS queue, subscribed to the request topic (raw delivery or the SNS envelope)."""
    sns_topic_arn: str | None = None
    """The reply topic for clients that name none of their own (their queues subscribe to it with a
    filter policy on their client id). None: every client must name its topic."""
    allowed_reply_topics: tuple[str, ...] | None = None
    """Topic ARNs (globs) the server may publish replies to. None: topics of the queue's own account
    and region only."""

    @field_validator("sqs_queue_url")
    @classmethod
    def _queue(cls, value: str) -> str:
        return check_queue_url(value, "sqs_queue_url")

    @field_validator("sns_topic_arn")
    @classmethod
    def _topic(cls, value: str | None) -> str | None:
        return None if value is None else check_topic_arn(value, "sns_topic_arn")

    @property
    def request_address(self) -> str:
        return self.sqs_queue_url


class SnsSqsClientConfig(SqsPolling, ClientSettings):
    """A client on SNS+SQS: the server's request topic, and where this client's replies arrive."""

    transport: ClassVar[str] = "sns_sqs"

    sns_topic_arn: str
    """The server's request topic."""
    sqs_queue_url: str | None = None
    """This client's reply queue. None: a temporary topic and queue are made for this client and
    removed when it closes."""
    client_topic_arn: str | None = None
    """The topic `sqs_queue_url` is subscribed to, named to the server as the reply address
    (`_meta.clientTopicArn` on initialize). None with a queue: the server's default reply topic,
    whose subscription filters on this client's id."""
    visibility_timeout_seconds: int = Field(default=5, ge=1, le=43200)
    """Visibility of a received reply (replies are deleted as soon as they reach the client)."""

    @field_validator("sns_topic_arn")
    @classmethod
    def _topic(cls, value: str) -> str:
        return check_topic_arn(value, "sns_topic_arn")

    @field_validator("client_topic_arn")
    @classmethod
    def _client_topic(cls, value: str | None) -> str | None:
        return None if value is None else check_topic_arn(value, "client_topic_arn")

    @field_validator("sqs_queue_url")
    @classmethod
    def _queue(cls, value: str | None) -> str | None:
        return None if value is None else check_queue_url(value, "sqs_queue_url")

    @property
    def server_address(self) -> str:
        return self.sns_topic_arn

    @property
    def named_reply_address(self) -> str | None:
        return self.sqs_queue_url


class SnsSqsTransportConfig(SqsPolling):
    """The original documents' config, for either side: `sns_sqs_server(config, ...)` reads
    `sqs_queue_url` as its queue and `sns_topic_arn` as its reply topic; `sns_sqs_client(config, ...)`
    reads `sqs_queue_url` as its reply queue and `sns_topic_arn` as the server's request topic."""

    sqs_queue_url: str
    sns_topic_arn: str
    client_topic_arn: str | None = None
    """Client side: the topic its queue is subscribed to (see `SnsSqsClientConfig`)."""
    client_id: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    transport_timeout_seconds: float | None = Field(default=None, gt=0)
    keep_fresh_answers: bool = True
    """Client side: see `ClientSettings.keep_fresh_answers`."""

    @field_validator("sqs_queue_url")
    @classmethod
    def _queue(cls, value: str) -> str:
        return check_queue_url(value, "sqs_queue_url")

    @field_validator("sns_topic_arn", "client_topic_arn")
    @classmethod
    def _topic(cls, value: str | None) -> str | None:
        return None if value is None else check_topic_arn(value, "sns_topic_arn")

    def _polling(self) -> dict[str, object]:
        return self.model_dump(include=set(SqsPolling.model_fields))

    def server_config(self) -> SnsSqsServerConfig:
        return SnsSqsServerConfig(
            sqs_queue_url=self.sqs_queue_url,
            sns_topic_arn=self.sns_topic_arn,
            transport_timeout_seconds=self.transport_timeout_seconds,
            **self._polling(),  # pyright: ignore[reportArgumentType]
        )

    def client_config(self) -> SnsSqsClientConfig:
        """The client side; what this config leaves unset takes the client config's own default (a
        generated `client_id`, the client's timeout and short visibility), not this config's None."""
        settings = self._polling()
        if "visibility_timeout_seconds" not in self.model_fields_set:
            settings.pop("visibility_timeout_seconds")
        for name in ("client_id", "transport_timeout_seconds", "keep_fresh_answers"):
            if name in self.model_fields_set:
                settings[name] = getattr(self, name)
        return SnsSqsClientConfig(
            sns_topic_arn=self.sns_topic_arn,
            sqs_queue_url=self.sqs_queue_url,
            client_topic_arn=self.client_topic_arn,
            **settings,  # pyright: ignore[reportArgumentType]
        )
