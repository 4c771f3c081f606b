"""What the proxy's front clients may learn of its backend: what went wrong, not where it lives.

Errors on the way back name the backend's addresses: the client transport's own ("No worker
answered ... on <queue URL>", "<queue URL> does not exist"), and the backend server's ("could not
deliver its answer: ... <reply queue URL> ..."). A queue URL or a topic ARN says which cloud
account and region serve the proxy and what its queues are called, which is nothing a front client
needs and something an attacker probing the proxy would like. So every error the proxy relays has
each URL and ARN replaced with `<backend address>` and each account-like number (twelve digits)
with `<account>`; the proxy logs the original at warning level, for its operator.

Tool results are not touched: what a tool returns is the tool's business, even when it is an error
result (`isError`).
"""

from __future__ import annotations

import re
from typing import Any, cast

from mcp.shared.exceptions import MCPError

__all__ = ["redact", "redacted_error"]

_ADDRESS = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()]+|\barn:[^\s'\"<>()]+")
_ACCOUNT = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")

BACKEND_ADDRESS = "<backend address>"
ACCOUNT = "<account>"


def redact(text: str) -> str:
    """`text` with addresses and account numbers replaced."""
    return _ACCOUNT.sub(ACCOUNT, _ADDRESS.sub(BACKEND_ADDRESS, text))


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in cast("dict[Any, Any]", value).items()}
    if isinstance(value, list):
        return [_redact_value(item) for item in cast("list[Any]", value)]
    return value


def redacted_error(exc: MCPError) -> MCPError | None:
    """The error to relay instead of `exc`, or None when it names nothing of the backend."""
    error = exc.error
    message, data = redact(error.message), _redact_value(error.data)
    if message == error.message and data == error.data:
        return None
    return MCPError(code=error.code, message=message, data=data)
