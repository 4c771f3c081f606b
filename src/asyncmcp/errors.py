"""Exceptions asyncmcp raises, each named for what went wrong and worded to say what to do.

They all derive from `AsyncMcpError` so callers can catch the library's failures in one place
without catching unrelated bugs. Whether a channel failure is worth retrying is decided by the
channel that raised it (`ChannelError.permanent`): only it knows its broker's error codes.
"""

from __future__ import annotations

__all__ = ["AddressNotFoundError", "AsyncMcpError", "ChannelError", "FrameTooLargeError", "root_cause"]


class AsyncMcpError(Exception):
    """Base class of every error asyncmcp raises on purpose."""


class ChannelError(AsyncMcpError):
    """The channel (queue, topic, HTTP endpoint) refused or failed an operation.

    `address` is the queue URL / topic / URL involved and `code` the service's error code when it
    gave one, so logs and callers can tell a missing queue from a throttle. `permanent` says that
    trying again cannot help (no permission, a malformed message); anything else (throttling, a
    5xx, a dropped connection) may pass, so the caller retries or hands the work back.
    """

    def __init__(
        self, message: str, *, address: str | None = None, code: str | None = None, permanent: bool = False
    ) -> None:
        super().__init__(message)
        self.address = address
        self.code = code
        self.permanent = permanent


class AddressNotFoundError(ChannelError):
    """The queue or endpoint does not exist (or the credentials cannot see it); always permanent."""

    def __init__(self, message: str, *, address: str | None = None, code: str | None = None) -> None:
        super().__init__(message, address=address, code=code, permanent=True)


class FrameTooLargeError(ChannelError):
    """A frame is larger than the destination accepts; always permanent."""

    def __init__(self, *, size: int, limit: int, address: str, hint: str = "") -> None:
        super().__init__(
            f"message of {size} bytes exceeds the {limit}-byte limit of {address}; "
            + (hint or "send smaller payloads (for example page large results)"),
            address=address,
            code="FrameTooLarge",
            permanent=True,
        )
        self.size = size
        self.limit = limit


def root_cause(exc: BaseException) -> BaseException:
    """The first leaf of nested exception groups (or `exc` itself): what anyio task groups wrap."""
    inner = getattr(exc, "exceptions", None)
    while isinstance(inner, tuple) and inner and isinstance(inner[0], BaseException):
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return exc
