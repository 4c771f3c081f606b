"""SQS access: the SQS error codes asyncmcp acts on, and `SqsApi` (see `channels/aws.py`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from asyncmcp.channels.aws import AwsApi, AwsService, create_client, endpoint_from_environment
from asyncmcp.errors import ChannelError

if TYPE_CHECKING:
    from aiobotocore.session import ClientCreatorContext
    from types_aiobotocore_sqs import SQSClient

__all__ = [
    "NOT_FOUND_CODES",
    "PERMANENT_CODES",
    "SQS",
    "SqsApi",
    "create_sqs_client",
    "is_permanent",
    "region_of_queue_url",
]

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


_AWS_QUEUE_HOST = re.compile(r"^(?:sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?|([a-z0-9-]+)\.queue\.amazonaws\.com)$")
"""The hosts of AWS's own queue URLs (`sqs.REGION.amazonaws.com`, the legacy `REGION.queue.amazonaws.com`)."""


def region_of_queue_url(queue_url: str) -> str | None:
    """The region an AWS queue URL names in its host; None for any other URL (a local endpoint's)."""
    match = _AWS_QUEUE_HOST.match((urlsplit(queue_url).hostname or "").lower())
    return (match.group(1) or match.group(2)) if match else None


class SqsApi(AwsApi):
    """Async SQS calls over whichever client the user gave (boto3, aiobotocore, or None)."""

    def __init__(self, client: Any | None = None, *, queue_url: str | None = None) -> None:
        """`queue_url`: the queue this access is for. With no client given, a client is built for the
        region its URL names (else the environment's), and a URL that is not AWS's is refused
        unless the environment names an endpoint (`AWS_ENDPOINT_URL`): the call would go to AWS."""
        region = region_of_queue_url(queue_url) if queue_url else None
        if client is None and queue_url and region is None and endpoint_from_environment("sqs") is None:
            origin = urlsplit(queue_url)
            raise ChannelError(
                f"{queue_url} is not an AWS queue URL, but AWS_ENDPOINT_URL is not set, so the call would go "
                f"to AWS: `export AWS_ENDPOINT_URL={origin.scheme}://{origin.netloc}` (`asyncmcp local` prints it)",
                address=queue_url,
                permanent=True,
            )
        super().__init__(SQS, client, region=region)

    async def set_queue_attributes(self, queue_url: str, attributes: Mapping[str, str]) -> None:
        """Set `attributes` of an existing queue: provisioning sets a policy after `CreateQueue`,
        which refuses an existing queue whose attributes differ from those it is given."""
        await self.call(
            "SetQueueAttributes", "set_queue_attributes", queue_url, QueueUrl=queue_url, Attributes=dict(attributes)
        )
