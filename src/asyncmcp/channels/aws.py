"""One async face over the three ways users hand us access to an AWS service (SQS, SNS, ...).

- an aiobotocore client: awaited directly (the fast path, no threads);
- a boto3 client: each call runs on a worker thread from a limiter of our own, so long polls
  never starve the event loop's default thread pool and never block the loop;
- nothing: an aiobotocore client is built from the default credential chain
  (`AWS_ENDPOINT_URL`, `AWS_REGION`, profiles, instance roles).

Clients asyncmcp builds are shared: every connection of one process (many `sqs_client()`
contexts, the proxy's links, workers) that needs the same service, region and credentials uses one
aiobotocore client and its connection pool, built by the first and closed with the last. Building
one costs tens of milliseconds of CPU (endpoint and credential resolution, the service model); a
process pays it once, not per connection.

Every call is counted per operation, which is how the benchmark reports billable calls. Service
errors become `ChannelError`s that name the address and say whether retrying can help; which codes
mean what is the service's (`AwsService`), never the generic code's.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError, PartialCredentialsError
from typing_extensions import Self

from asyncmcp.errors import AddressNotFoundError, ChannelError

if TYPE_CHECKING:
    from aiobotocore.session import ClientCreatorContext

__all__ = [
    "AwsApi",
    "AwsService",
    "create_client",
    "default_client_config",
    "endpoint_from_environment",
    "region_from_environment",
]

BOTO3_THREADS = 64
"""Threads for boto3 calls. A long poll parks a thread for up to 20 s, so this bounds pollers plus
concurrent sends for callers who pass a boto3 client (aiobotocore needs none)."""

MAX_POOL_CONNECTIONS = 64
"""HTTP connections of a client we build ourselves: long polls hold one each, and sends must not
queue behind them."""


@dataclass(frozen=True)
class AwsService:
    """What asyncmcp needs to know about one AWS service's errors."""

    name: str
    """The botocore service name (`sqs`, `sns`)."""
    label: str
    """How messages name it (`SQS`)."""
    noun: str
    """What its addresses are (`queue`, `topic`)."""
    not_found: frozenset[str]
    """Error codes meaning the address does not exist (or these credentials cannot see it)."""
    permanent: frozenset[str]
    """Error codes that trying again cannot fix; anything else (throttling, 5xx) may pass."""
    missing_hint: str
    """What to do about a missing address, for the error message."""

    def is_permanent(self, code: str | None) -> bool:
        return (code or "") in self.permanent or (code or "") in self.not_found


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


def region_from_environment() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def endpoint_from_environment(service: str) -> str | None:
    """The endpoint the AWS SDKs use for `service` instead of AWS's own (`AWS_ENDPOINT_URL_SQS`,
    then `AWS_ENDPOINT_URL`), if the environment names one (an empty value names none)."""
    return os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}") or os.environ.get("AWS_ENDPOINT_URL") or None


NO_CREDENTIALS_HINT = (
    "set AWS_PROFILE (a profile in ~/.aws), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where "
    "an instance or task role applies"
)


def create_client(service: str, region: str | None = None) -> ClientCreatorContext[Any]:
    """An aiobotocore client of `service` from the default credential chain, with asyncmcp's settings."""
    from aiobotocore.session import get_session

    region = region or region_from_environment()
    # The stubs' overloads name every AWS service and only those asyncmcp uses are installed.
    return get_session().create_client(service, region_name=region, config=default_client_config())  # pyright: ignore[reportUnknownMemberType, reportCallIssue, reportArgumentType, reportUnknownVariableType]


_CREDENTIAL_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
)
"""What decides which endpoint and identity a client built from the environment gets."""


@dataclass
class _Shared:
    lock: asyncio.Lock
    client: Any = None
    users: int = 0
    stack: AsyncExitStack | None = None


_SHARED: dict[tuple[object, ...], _Shared] = {}
"""Clients built from the environment, by (event loop, service, region, environment identity)."""


def _shared_key(service: str, region: str | None) -> tuple[object, ...]:
    loop = asyncio.get_running_loop()
    return (id(loop), service, region, *(os.environ.get(name) for name in _CREDENTIAL_ENV))


async def _acquire(service: str, region: str | None = None) -> tuple[tuple[object, ...], Any]:
    key = _shared_key(service, region)
    shared = _SHARED.setdefault(key, _Shared(asyncio.Lock()))
    async with shared.lock:
        if shared.client is None:
            stack = AsyncExitStack()
            shared.client = await stack.enter_async_context(create_client(service, region))
            shared.stack = stack
        shared.users += 1
        return key, shared.client


async def _release(key: tuple[object, ...]) -> None:
    shared = _SHARED.get(key)
    if shared is None:
        return
    async with shared.lock:
        shared.users -= 1
        if shared.users > 0 or shared.stack is None:
            return
        stack, shared.stack, shared.client = shared.stack, None, None
        del _SHARED[key]
    await stack.aclose()


def _is_native_async(client: Any) -> bool:
    return asyncio.iscoroutinefunction(getattr(client, "_make_api_call", None))


class AwsApi:
    """Async calls to `service` over whichever client the user gave. Use as `async with api:`."""

    def __init__(self, service: AwsService, client: Any | None = None, *, region: str | None = None) -> None:
        self.service = service
        self._region = region
        """The region of a client built here (one an address names); None: the environment's."""
        self._client: Any = client
        self._native = client is not None and _is_native_async(client)
        self._lease: tuple[object, ...] | None = None
        self._limiter = anyio.CapacityLimiter(BOTO3_THREADS)
        self.calls: Counter[str] = Counter()
        """Calls made per operation name (for example 'ReceiveMessage')."""

    async def __aenter__(self) -> Self:
        if self._client is None:
            service = self.service
            try:
                self._lease, self._client = await _acquire(service.name, self._region)
            except NoRegionError:
                raise ChannelError(
                    f"no AWS region for {service.label}: set AWS_REGION (for example `export AWS_REGION=us-east-1`)",
                    permanent=True,
                ) from None
            self._native = True
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._lease is not None:
            lease, self._lease, self._client = self._lease, None, None
            with anyio.CancelScope(shield=True):
                await _release(lease)

    @property
    def region(self) -> str | None:
        """The region the client calls (its own setting, else the environment's)."""
        meta = getattr(self._client, "meta", None)
        region = getattr(meta, "region_name", None)
        return region if isinstance(region, str) else region_from_environment()

    async def call(self, operation: str, method: str, address: str | None, **kwargs: Any) -> dict[str, Any]:
        """Run one API call; `operation` is the API name used for counting and errors."""
        if self._client is None:
            raise RuntimeError(f"{type(self).__name__} used outside `async with`")
        self.calls[operation] += 1
        fn = getattr(self._client, method)
        service = self.service
        try:
            if self._native:
                return await fn(**kwargs)
            return await anyio.to_thread.run_sync(partial(fn, **kwargs), abandon_on_cancel=True, limiter=self._limiter)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "Unknown"))
            message = str(error.get("Message", exc))
            if code in service.not_found:
                raise AddressNotFoundError(
                    f"{service.label} {service.noun} {address} does not exist or these credentials cannot see it "
                    f"({code}); {service.missing_hint}",
                    address=address,
                    code=code,
                ) from exc
            raise ChannelError(
                f"{service.label} {operation} on {address} failed: {code}: {message}",
                address=address,
                code=code,
                permanent=service.is_permanent(code),
            ) from exc
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise ChannelError(
                f"no usable AWS credentials for {service.label} ({exc}): {NO_CREDENTIALS_HINT}",
                address=address,
                code="NoCredentials",
                permanent=True,
            ) from None
        except BotoCoreError as exc:
            raise ChannelError(f"{service.label} {operation} on {address} failed: {exc}", address=address) from exc
