"""Configuration of the SQS channel, with the fields and defaults of the original asyncmcp documents.

Both classes are frozen pydantic models validated at construction, so a wrong value fails at
start-up with a message naming the field instead of deep inside a poll loop. The settings every
channel shares (in-flight limit, dedupe window, client id, ...) come from `channels/config.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, cast

from pydantic import Field, field_validator, model_validator
from typing_extensions import Self

from asyncmcp.channels.config import FROZEN, ClientSettings, ServerSettings
from asyncmcp.channels.payload_settings import POINTER_ATTRIBUTES, PayloadSettings
from asyncmcp.codec import MAX_FRAME_ATTRIBUTES, MAX_ROUTING_ATTRIBUTES, MAX_USER_ATTRIBUTES

__all__ = ["SqsClientConfig", "SqsPolling", "SqsServerConfig", "check_queue_url", "custom_attribute_value"]


def check_queue_url(value: str, field_name: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError(
            f"{field_name} must be a queue URL such as https://sqs.us-east-1.amazonaws.com/123456789012/mcp-requests "
            f"(got {value!r}); `aws sqs get-queue-url --queue-name NAME` prints it"
        )
    return value


def custom_attribute_value(name: str, value: Any) -> str:
    """One `message_attributes` value as the string asyncmcp sends (every attribute travels as an
    SQS `String`).

    A string is kept; a bool becomes `"true"`/`"false"`; any other number its decimal text; an SQS
    attribute dict (`{"DataType": "String" or "Number", "StringValue": ...}`, as boto3 takes it) its
    `StringValue`. Anything else (binary values included) is refused, naming the attribute.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping):
        fields = cast("Mapping[str, Any]", value)
        text = fields.get("StringValue")
        kind = str(fields.get("DataType", "String"))
        if isinstance(text, str) and kind.split(".", 1)[0] in ("String", "Number"):
            return text
    raise ValueError(
        f"message_attributes[{name!r}] must be a string, a number, a bool or "
        f"{{'DataType': 'String', 'StringValue': '...'}} (got {type(cast(object, value)).__name__}); "
        "binary values are not supported"
    )


class SqsPolling(PayloadSettings):
    """Polling settings shared by the server and client configs, and the S3 claim-check's (`PayloadSettings`)."""

    model_config = FROZEN

    max_messages: int = Field(default=10, ge=1, le=10)
    """Maximum messages to retrieve per poll (1-10)."""
    wait_time_seconds: int = Field(default=20, ge=0, le=20)
    """Long-poll duration. With a value above 0 the receiver polls back to back (after a poll that
    returned frames, the work they made ready runs first: `receiving.YIELDS_BEFORE_POLL`)."""
    visibility_timeout_seconds: int = Field(default=30, ge=1, le=43200)
    """Seconds a received message stays invisible; a heartbeat extends it while a handler runs."""
    poll_interval_seconds: float = Field(default=5.0, ge=0)
    """Pause between polls, used only for short polling (`wait_time_seconds=0`)."""
    message_attributes: dict[str, str] | None = None
    """Extra string attributes stamped on every message this side sends. Takes what the original
    documents' dict took, converted to strings (`custom_attribute_value` says how)."""

    @field_validator("message_attributes", mode="before")
    @classmethod
    def _attribute_values(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        items = cast("Mapping[Any, Any]", value)
        return {str(name): custom_attribute_value(str(name), raw) for name, raw in items.items()}

    @field_validator("message_attributes")
    @classmethod
    def _custom_attributes(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value and len(value) > MAX_USER_ATTRIBUTES:
            raise ValueError(
                f"message_attributes takes at most {MAX_USER_ATTRIBUTES} entries: a message carries at most "
                f"{MAX_FRAME_ATTRIBUTES} attributes and asyncmcp uses up to {MAX_ROUTING_ATTRIBUTES} for routing"
            )
        for name in value or {}:
            if name.startswith("mcp-") or name.lower().startswith(("aws.", "amazon.")):
                raise ValueError(f"message_attributes name {name!r} is reserved; choose another prefix")
        return value

    @model_validator(mode="after")
    def _attributes_fit_an_offloaded_message(self) -> Self:
        """A frame offloaded to S3 carries one attribute more (its payload's size), so with a
        `payload_bucket` the user's attributes must leave room for it."""
        room = MAX_USER_ATTRIBUTES - POINTER_ATTRIBUTES
        if self.payload_bucket is not None and self.message_attributes and len(self.message_attributes) > room:
            raise ValueError(
                f"message_attributes takes at most {room} entries when payload_bucket is set: a message carries at "
                f"most {MAX_FRAME_ATTRIBUTES} attributes, asyncmcp uses up to {MAX_ROUTING_ATTRIBUTES} for routing "
                f"and an S3 pointer {POINTER_ATTRIBUTES} more"
            )
        return self


class SqsServerConfig(SqsPolling, ServerSettings):
    """Where a server reads requests and how it treats them (plus the `ServerSettings` every channel has).

    `transport_timeout_seconds` bounds one request: a handler still running after it is
    cancelled and the client gets a timeout error. None (the default) lets handlers run as long
    as they need; the visibility heartbeat keeps the request from reaching another worker.
    """

    transport: ClassVar[str] = "sqs"

    read_queue_url: str
    """URL of the SQS queue where the server receives requests."""
    allowed_reply_queues: tuple[str, ...] | None = None
    """Glob patterns of reply queue URLs the server may send to. None: queues of the request queue's
    own account and region only."""

    @field_validator("read_queue_url")
    @classmethod
    def _read_queue_url(cls, value: str) -> str:
        return check_queue_url(value, "read_queue_url")

    @property
    def request_address(self) -> str:
        return self.read_queue_url


class SqsClientConfig(SqsPolling, ClientSettings):
    """Where a client sends requests and where it reads replies (plus the `ClientSettings` every channel has).

    `transport_timeout_seconds` (default 45 s) bounds how long a request may wait without any sign
    of life (its answer, progress or a worker's keep-alive) before it fails with an error naming the
    request queue; a tool that a worker runs may take as long as it needs.
    """

    transport: ClassVar[str] = "sqs"

    read_queue_url: str
    """URL of the server's request queue."""
    response_queue_url: str | None = None
    """URL of this client's reply queue, which other clients may share. None: a temporary queue is
    created for this client and deleted when it closes."""
    visibility_timeout_seconds: int = Field(default=5, ge=1, le=43200)
    """Visibility of a received reply. Replies are deleted as soon as they are handed to the client, so
    this only bounds how long a reply stays hidden if a receiver vanishes mid-poll; keep it short."""

    @field_validator("read_queue_url")
    @classmethod
    def _read_queue_url(cls, value: str) -> str:
        return check_queue_url(value, "read_queue_url")

    @field_validator("response_queue_url")
    @classmethod
    def _response_queue_url(cls, value: str | None) -> str | None:
        return None if value is None else check_queue_url(value, "response_queue_url")

    @property
    def server_address(self) -> str:
        return self.read_queue_url

    @property
    def named_reply_address(self) -> str | None:
        return self.response_queue_url
