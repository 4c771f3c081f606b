"""One async face over the three ways users hand us SQS access.

- an aiobotocore client: awaited directly (the fast path, no threads);
- a boto3 client: each call runs on a worker thread from a limiter of our own, so long polls
  never starve the event loop's default thread pool and never block the loop;
- nothing: an aiobotocore client is built from the default credential chain
  (`AWS_ENDPOINT_URL`, `AWS_REGION`, profiles, instance roles).

Every call is counted per operation, which is how the benchmark reports billable calls.
Service errors become `ChannelError`s that name the queue.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import Counter
from contextlib import AsyncExitStack
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from asyncmcp.errors import AddressNotFoundError, ChannelError

if TYPE_CHECKING:
    from aiobotocore.session import ClientCreatorContext
    from types_aiobotocore_sqs import SQSClient

__all__ = ["NOT_FOUND_CODES", "PERMANENT_CODES", "SqsApi", "create_sqs_client", "default_client_config", "is_permanent"]

logger = logging.getLogger(__name__)

BOTO3_THREADS = 64
"""Threads for boto3 calls. A long poll parks a thread for up to 20 s, so this bounds pollers plus
concurrent sends for callers who pass a boto3 client (aiobotocore needs none)."""

MAX_POOL_CONNECTIONS = 64
"""HTTP connections of a client we build ourselves: long polls hold one each, and sends must not
queue behind them."""

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


def is_permanent(code: str | None) -> bool:
    """Whether an SQS error code means retrying cannot help."""
    return (code or "") in PERMANENT_CODES


def default_client_config() -> AioConfig:
    """The botocore settings asyncmcp uses for clients it builds.

    The read timeout must outlast a 20 s long poll; retries use botocore's standard mode (throttling
    and 5xx are retried with backoff, so they surface as errors only when they persist).
    """
    return AioConfig(
        max_pool_connections=MAX_POOL_CONNECTIONS,
        read_timeout=30,
        connect_timeout=5,
        retries={"mode": "standard", "max_attempts": 4},
    )


def create_sqs_client(region: str | None = None) -> ClientCreatorContext[SQSClient]:
    """An aiobotocore SQS client from the default credential chain, with asyncmcp's settings
    (`async with create_sqs_client() as client`). `region` defaults to AWS_REGION / AWS_DEFAULT_REGION."""
    from aiobotocore.session import get_session

    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    # The stubs' overloads name every AWS service and only SQS's are installed, hence the ignore.
    return get_session().create_client("sqs", region_name=region, config=default_client_config())  # pyright: ignore[reportUnknownMemberType]


def _is_native_async(client: Any) -> bool:
    return asyncio.iscoroutinefunction(getattr(client, "_make_api_call", None))


class SqsApi:
    """Async SQS calls over whichever client the user gave. Use as `async with SqsApi(client) as api`."""

    def __init__(self, client: Any | None = None) -> None:
        self._client: Any = client
        self._native = client is not None and _is_native_async(client)
        self._stack = AsyncExitStack()
        self._limiter = anyio.CapacityLimiter(BOTO3_THREADS)
        self.calls: Counter[str] = Counter()
        """Calls made per operation name (for example 'ReceiveMessage')."""

    async def __aenter__(self) -> SqsApi:
        if self._client is None:
            client: SQSClient = await self._stack.enter_async_context(create_sqs_client())
            self._client = client
            self._native = True
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    async def call(self, operation: str, method: str, queue_url: str | None, **kwargs: Any) -> dict[str, Any]:
        """Run one SQS API call; `operation` is the API name used for counting and errors."""
        if self._client is None:
            raise RuntimeError("SqsApi used outside `async with`")
        self.calls[operation] += 1
        fn = getattr(self._client, method)
        try:
            if self._native:
                return await fn(**kwargs)
            return await anyio.to_thread.run_sync(partial(fn, **kwargs), abandon_on_cancel=True, limiter=self._limiter)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "Unknown"))
            message = str(error.get("Message", exc))
            if code in NOT_FOUND_CODES:
                raise AddressNotFoundError(
                    f"SQS queue {queue_url} does not exist or these credentials cannot see it ({code}); "
                    "create it (`asyncmcp local` creates demo queues) or correct the queue URL",
                    address=queue_url,
                    code=code,
                ) from exc
            raise ChannelError(
                f"SQS {operation} on {queue_url} failed: {code}: {message}",
                address=queue_url,
                code=code,
                permanent=is_permanent(code),
            ) from exc
        except BotoCoreError as exc:
            raise ChannelError(f"SQS {operation} on {queue_url} failed: {exc}", address=queue_url) from exc
