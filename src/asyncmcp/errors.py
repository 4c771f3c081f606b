"""Exceptions asyncmcp raises, each named for what went wrong and worded to say what to do.

They all derive from `AsyncMcpError` so callers can catch the library's failures in one place
without catching unrelated bugs.
"""

from __future__ import annotations

_PERMANENT_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "InvalidParameterValue",
        "InvalidMessageContents",
        "KMS.AccessDeniedException",
    }
)


class AsyncMcpError(Exception):
    """Base class of every error asyncmcp raises on purpose."""


class ChannelError(AsyncMcpError):
    """The channel (queue, topic, HTTP endpoint) refused or failed an operation.

    `address` is the queue URL / topic / URL involved and `code` the service's error code when
    it gave one, so logs and callers can tell a missing queue from a throttle.
    """

    def __init__(self, message: str, *, address: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.address = address
        self.code = code

    @property
    def permanent(self) -> bool:
        """Whether trying again cannot help (a missing queue, no permission, a malformed message).

        Anything else (throttling, a 5xx, a dropped connection) may pass: retry or hand back.
        """
        return (self.code or "") in _PERMANENT_CODES


class AddressNotFoundError(ChannelError):
    """The queue or endpoint does not exist (or the credentials cannot see it)."""

    @property
    def permanent(self) -> bool:
        return True


class FrameTooLargeError(ChannelError):
    """A frame is larger than the destination accepts, attributes included."""

    @property
    def permanent(self) -> bool:
        return True

    def __init__(self, *, size: int, limit: int, address: str) -> None:
        super().__init__(
            f"message of {size} bytes (body plus attributes) exceeds the {limit}-byte limit of {address}; "
            "send smaller payloads (for example page large results) or raise the queue's MaximumMessageSize",
            address=address,
            code="FrameTooLarge",
        )
        self.size = size
        self.limit = limit
