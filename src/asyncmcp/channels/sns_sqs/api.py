"""SNS access: the SNS error codes asyncmcp acts on, and `SnsApi` (see `channels/aws.py`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from asyncmcp.channels.aws import AwsApi, AwsService, create_client
from asyncmcp.channels.sns_sqs.config import parse_topic_arn

if TYPE_CHECKING:
    from aiobotocore.session import ClientCreatorContext
    from types_aiobotocore_sns import SNSClient

__all__ = ["SNS", "SnsApi", "create_sns_client"]

NOT_FOUND_CODES = frozenset({"NotFound", "NotFoundException", "ResourceNotFound"})
"""The topic is gone (or these credentials cannot see it)."""

PERMANENT_CODES = frozenset(
    {
        "AuthorizationError",
        "AccessDenied",
        "AccessDeniedException",
        "InvalidParameter",
        "InvalidParameterValue",
        "InvalidSecurity",
        "KMSAccessDenied",
        "KMSDisabled",
        "KMSInvalidState",
        "KMSNotFound",
        "ValidationException",
    }
)
"""SNS error codes that trying again cannot fix; throttling and internal errors may pass."""

SNS = AwsService(
    name="sns",
    label="SNS",
    noun="topic",
    not_found=NOT_FOUND_CODES,
    permanent=PERMANENT_CODES,
    missing_hint="create it (`asyncmcp provision --transport sns_sqs NAME` creates a topology) or correct the ARN",
)


def create_sns_client(region: str | None = None) -> ClientCreatorContext[SNSClient]:
    """An aiobotocore SNS client from the default credential chain, with asyncmcp's settings."""
    return create_client("sns", region)


class SnsApi(AwsApi):
    """Async SNS calls over whichever client the user gave (boto3, aiobotocore, or None)."""

    def __init__(self, client: Any | None = None, *, topic_arn: str | None = None, region: str | None = None) -> None:
        """`topic_arn`: the topic this access publishes to. With no client given, a client is built
        for the region its ARN names (SNS serves a topic only in its own region), else for `region`
        (the region of the queue it is used with), else the environment's."""
        parsed = parse_topic_arn(topic_arn) if topic_arn else None
        super().__init__(SNS, client, region=parsed[1] if parsed else region)
