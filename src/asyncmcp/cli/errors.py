"""What the CLI tells a user when a command fails: one or two lines, never a traceback.

Errors raised inside a running service arrive wrapped in exception groups (anyio task groups);
the first real cause is what the user needs. A mistake of the user's (a flag, a queue URL,
credentials) is said plainly with what to do; anything else is named with a pointer to `--debug`.
"""

from __future__ import annotations

from asyncmcp.cli.options import UsageError
from asyncmcp.errors import AsyncMcpError, root_cause

__all__ = ["describe", "root_cause"]

USAGE_EXIT = 2
FAILURE_EXIT = 1


def describe(exc: BaseException) -> tuple[str, int]:
    """(message, exit code) for a failed command."""
    cause = root_cause(exc)
    if isinstance(cause, UsageError):
        return str(cause), USAGE_EXIT
    if isinstance(cause, AsyncMcpError | ValueError | TypeError | OSError):
        return str(cause), FAILURE_EXIT
    return f"{type(cause).__name__}: {cause} (run with --debug for the traceback)", FAILURE_EXIT
