"""Settings of the S3 claim-check (`channels/claim_check.py`): config fields and command-line options.

Kept apart from the claim-check itself so a config or `asyncmcp --help` loads no AWS library.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field, field_validator

from asyncmcp.channels.base import Option

__all__ = ["DEFAULT_MAX_PAYLOAD_BYTES", "PAYLOAD_OPTIONS", "POINTER_ATTRIBUTES", "PayloadSettings"]

DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024 * 1024
"""Largest object a pointer may make a receiver read: a receiver briefly holds two copies of it."""

POINTER_ATTRIBUTES = 1
"""Attributes an offloaded frame carries on top of its own: its payload's size (`ExtendedPayloadSize`,
as the AWS extended clients write it), counted against the message's attribute limit."""

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class PayloadSettings(BaseModel):
    """S3 claim-check settings of a channel config (SQS, SNS+SQS); off unless `payload_bucket` is set."""

    payload_bucket: str | None = None
    """The S3 bucket large frames are written to. None: frames over the limit are refused."""
    allowed_payload_buckets: tuple[str, ...] | None = None
    """Buckets a received pointer may name (exact names). None: only `payload_bucket`."""
    payload_threshold_bytes: int | None = Field(default=None, ge=1)
    """Offload frames larger than this (body and attributes). None: only those over the destination's limit."""
    keep_payloads: bool = False
    """Keep payload objects after their message is handled (for audit); a lifecycle rule removes them."""
    max_payload_bytes: int = Field(default=DEFAULT_MAX_PAYLOAD_BYTES, ge=1)
    """Largest payload object a received pointer may make this side read."""

    @field_validator("payload_bucket")
    @classmethod
    def _bucket(cls, value: str | None) -> str | None:
        if value is not None and not _BUCKET_NAME.match(value):
            raise ValueError(
                f"must be an S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens (got {value!r})"
            )
        return value

    @field_validator("allowed_payload_buckets")
    @classmethod
    def _buckets(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not all(value):
            raise ValueError("allowed_payload_buckets takes bucket names; got an empty one")
        return value


PAYLOAD_OPTIONS = (
    Option(
        "--payload-bucket",
        "payload_bucket",
        "S3 bucket for frames over the queue's or topic's limit (the AWS extended clients' format); default: off",
        env=("ASYNCMCP_PAYLOAD_BUCKET",),
        metavar="NAME",
    ),
    Option(
        "--allow-payload-bucket",
        "allowed_payload_buckets",
        "a bucket received pointers may name (repeatable); default: --payload-bucket only",
        env=("ASYNCMCP_ALLOWED_PAYLOAD_BUCKETS",),
        repeat=True,
        metavar="NAME",
    ),
    Option(
        "--payload-threshold",
        "payload_threshold_bytes",
        "offload frames above this many bytes; default: the destination's limit",
        parse=int,
        metavar="BYTES",
    ),
    Option("--keep-payloads", "keep_payloads", "keep payload objects after use (audit)", switch=True),
)
"""The command-line options of the claim-check, shared by every channel that offers it."""
