"""SQS access: the SQS error codes asyncmcp acts on, and `SqsApi` (see `channels/aws.py`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from asyncmcp.channels.aws import AwsApi, AwsService, create_client

if TYPE_CHECKING:
    from aiobotocore.session import ClientCreatorContext
    from types_aiobotocore_sqs import SQSClient

__all__ = ["NOT_FOUND_CODES", "PERMANENT_CODES", "SQS", "SqsApi", "create_sqs_client", "is_permanent"]

NOT_FOUND_CODES = frozenset(
    {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue", "NotFound"}
)
"""The queue is gone (or these credentials cannot see it): `AddressNotFoundError`."""

PERMANENT_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "InvalidParameterValue",
        "InvalidMessageContents",
        "KMS.AccessDeniedException",
        "KMS.DisabledException",
        "KMS.NotFoundException",
        "UnsupportedOperation",
        *NOT_FOUND_CODES,
    }
)
"""SQS error codes that trying again cannot fix; anything else (throttling, 5xx) may pass."""

SQS = AwsService(
    name="sqs",
    label="SQS",
    noun="queue",
    not_found=NOT_FOUND_CODES,
    permanent=PERMANENT_CODES,
    missing_hint="create it (`asyncmcp local` creates demo queues) or correct the queue URL",
)


def is_permanent(code: str | None) -> bool:
    """Whether an SQS error code means retrying cannot help."""
    return SQS.is_permanent(code)


def create_sqs_client(region: str | None = None) -> ClientCreatorContext[SQSClient]:
    """An aiobotocore SQS client from the default credential chain, with asyncmcp's settings
    (`async with create_sqs_client() as client`). `region` defaults to AWS_REGION / AWS_DEFAULT_REGION."""
    return create_client("sqs", region)


class SqsApi(AwsApi):
    """Async SQS calls over whichever client the user gave (boto3, aiobotocore, or None)."""

    def __init__(self, client: Any | None = None) -> None:
        super().__init__(SQS, client)
