"""What the proxy's front clients may learn of its backend: what went wrong, not where it lives.

Errors on the way back name the backend's addresses: the client transport's own ("No worker
answered ... on <queue URL>", "<queue URL> does not exist"), and the backend server's ("could not
deliver its answer: ... <reply queue URL> ..."). A queue URL or a topic ARN says which cloud
account and region serve the proxy and what its queues are called, which is nothing a front client
needs and something an attacker probing the proxy would like. So every error the proxy relays has
each URL and ARN replaced with `<backend address>` and each account-like number (twelve digits)
with `<account>`; the proxy logs the original at warning level, for its operator.

Tool results are not touched: what a tool returns is the tool's business, even when it is an error
result (`isError`). Nor is an address the front client sent in its own request (the URI of a
`resources/read` that was not found, echoed in `error.data.uri` as SEP-2164 asks): the client
knows it already, and it names nothing of the backend.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any, cast

from mcp.shared.exceptions import MCPError

__all__ = ["redact", "redacted_error", "strings_of"]

_ADDRESS = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()]+|\barn:[^\s'\"<>()]+")
_ACCOUNT = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")

BACKEND_ADDRESS = "<backend address>"
ACCOUNT = "<account>"


def redact(text: str, sent: Collection[str] = ()) -> str:
    """`text` with addresses and account numbers replaced, except addresses in `sent`."""

    def address(match: re.Match[str]) -> str:
        return match.group(0) if match.group(0) in sent else BACKEND_ADDRESS

    if sent and text in sent:
        return text
    return _ACCOUNT.sub(ACCOUNT, _ADDRESS.sub(address, text))


def _redact_value(value: Any, sent: Collection[str]) -> Any:
    if isinstance(value, str):
        return redact(value, sent)
    if isinstance(value, dict):
        return {key: _redact_value(item, sent) for key, item in cast("dict[Any, Any]", value).items()}
    if isinstance(value, list):
        return [_redact_value(item, sent) for item in cast("list[Any]", value)]
    return value


def strings_of(value: Any) -> set[str]:
    """Every string inside `value` (a request's params): what the front client sent itself."""
    if isinstance(value, str):
        return {value}
    items: list[Any] = []
    if isinstance(value, dict):
        items = list(cast("dict[Any, Any]", value).values())
    elif isinstance(value, list):
        items = cast("list[Any]", value)
    found: set[str] = set()
    for item in items:
        found |= strings_of(item)
    return found


def redacted_error(exc: MCPError, sent: Collection[str] = ()) -> MCPError | None:
    """The error to relay instead of `exc`, or None when it names nothing of the backend.

    `sent`: the strings of the front request (`strings_of(params)`), which are left as they are.
    """
    error = exc.error
    message, data = redact(error.message, sent), _redact_value(error.data, sent)
    if message == error.message and data == error.data:
        return None
    return MCPError(code=error.code, message=message, data=data)
