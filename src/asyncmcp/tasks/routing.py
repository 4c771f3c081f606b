"""The `Mcp-Name` routing header of `tasks/*` requests (SEP-2663 over SEP-2243).

Over Streamable HTTP a `tasks/get`, `tasks/update` or `tasks/cancel` carries `Mcp-Name: <taskId>`
so a load balancer can route on it, and a server that reads the body must refuse a request whose
header is missing or names another task (HTTP 400, `-32020`), or an intermediary could be steered
to one task while the server acts on another. The SDK's HTTP front checks `Mcp-Name` only for the
core methods that name something (`tools/call`, `prompts/get`, `resources/read`), so the tasks
methods are checked here: by the extension when it is served over HTTP directly, and by the proxy
before it forwards them behind a queue. Behind the queue any worker answers any task (the store is
shared), so the header routes nothing there; it is honoured for what sits in front of the proxy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import MCP_NAME_HEADER, decode_header_value
from mcp_types import HEADER_MISMATCH

__all__ = ["TASK_METHODS", "check_task_name_header"]

TASK_METHODS: Final = frozenset({"tasks/get", "tasks/update", "tasks/cancel"})
"""The methods whose `params.taskId` the `Mcp-Name` header mirrors."""


def check_task_name_header(method: str, params: Mapping[str, Any] | None, headers: Mapping[str, str]) -> None:
    """Raise `-32020` when a `tasks/*` request's `Mcp-Name` header is missing or is not its `taskId`."""
    if method not in TASK_METHODS:
        return
    task_id = (params or {}).get("taskId")
    if not isinstance(task_id, str):
        return  # the backend refuses the malformed params itself (-32602)
    named = decode_header_value(headers.get(MCP_NAME_HEADER))
    if named is None or named.strip() != task_id:
        raise MCPError(
            code=HEADER_MISMATCH,
            message=f"{MCP_NAME_HEADER} header does not match the request body's 'taskId' parameter (send the task id)",
        )
