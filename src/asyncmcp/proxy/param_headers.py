"""SEP-2243 `Mcp-Param-*` header checks for the 2026-07-28 `tools/call` requests the proxy forwards.

A 2026 client mirrors the arguments a tool marks `x-mcp-header` into `Mcp-Param-<Name>` headers,
so HTTP intermediaries can route on them; a server must refuse a call whose headers and body
disagree (HTTP 400, `-32020`), or an intermediary could be steered by a value the tool never sees.
The SDK checks this in its own HTTP front, against the server's tool schemas. The proxy has no
tools of its own (they live behind the queue), so the SDK skips the check there, and the proxy's
forwarding middleware makes it instead: with the SDK's own validator
(`mcp.shared.inbound.validate_mcp_param_headers`, so both refuse exactly the same requests) and the
backend's schemas, which `ToolSchemas` keeps:

- learned from every `tools/list` answer the proxy relays (clients list before they call), kept
  for `SCHEMA_TTL_SECONDS`;
- otherwise fetched with one backend `tools/list` (what the SDK does for a server without a
  schema lookup, on every call);
- a refusal from a kept schema is confirmed against a fresh listing first, so a tool whose
  schema changed in a backend redeploy is never refused for following its new schema.

Like the SDK, the check fails open: a listing that fails or never names the tool skips it.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import MCP_PARAM_HEADER_PREFIX, InboundLadderRejection, validate_mcp_param_headers
from mcp_types import CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY, PROTOCOL_VERSION_META_KEY

from asyncmcp.codec import as_mapping

__all__ = ["ListTools", "ToolSchemas", "check_param_headers"]

logger = logging.getLogger(__name__)

ListTools = Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]
"""Sends one `tools/list` request (these params) to the backend and returns its raw result."""

SCHEMA_TTL_SECONDS = 300.0
"""How long a learned schema is trusted to accept a call without asking the backend again."""

MAX_TOOLS = 1_000
"""Schemas kept at most (oldest forgotten first): a bound on memory, far above real tool lists (tens)."""

LIST_PAGE_CAP = 100
"""Pages of a `tools/list` walk at most: a paginator that never ends skips the check, as in the SDK."""

_ENVELOPE_KEYS = (PROTOCOL_VERSION_META_KEY, CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY)
"""What a listing made on a caller's behalf carries from its `_meta`: who is asking, nothing else."""


class ToolSchemas:
    """Input schemas of the backend's tools, by name, as its `tools/list` answers gave them."""

    def __init__(self, *, ttl_seconds: float = SCHEMA_TTL_SECONDS, max_tools: int = MAX_TOOLS) -> None:
        self._ttl = ttl_seconds
        self._max = max_tools
        self._schemas: OrderedDict[str, tuple[float, Mapping[str, Any]]] = OrderedDict()

    def learn(self, result: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
        """Keep the schema of every tool a `tools/list` result names; returns them by name."""
        listed: dict[str, Mapping[str, Any]] = {}
        tools: object = result.get("tools")
        for tool in cast("list[object]", tools) if isinstance(tools, list) else []:
            entry = as_mapping(tool)
            name = entry.get("name") if entry is not None else None
            schema = as_mapping(entry.get("inputSchema")) if entry is not None else None
            if isinstance(name, str) and schema is not None:
                listed[name] = schema
                self._schemas[name] = (time.monotonic() + self._ttl, schema)
                self._schemas.move_to_end(name)
        while len(self._schemas) > self._max:
            self._schemas.popitem(last=False)
        return listed

    def known(self, name: str) -> Mapping[str, Any] | None:
        """The schema of `name` if it was learned within the TTL."""
        entry = self._schemas.get(name)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    async def fetch(self, name: str, meta: Mapping[str, Any], list_tools: ListTools) -> Mapping[str, Any] | None:
        """List the backend's tools on the caller's behalf (learning every page) and return `name`'s schema."""
        envelope = {key: meta[key] for key in _ENVELOPE_KEYS if key in meta}
        params: dict[str, Any] = {"_meta": envelope}
        seen: set[str] = set()
        for _ in range(LIST_PAGE_CAP):
            try:
                result = await list_tools(params)
            except MCPError as exc:
                logger.info("Mcp-Param header check skipped: the backend's tools/list failed: %s", exc)
                return None
            found = self.learn(result).get(name)
            cursor = result.get("nextCursor")
            if found is not None or not isinstance(cursor, str) or cursor in seen:
                return found
            seen.add(cursor)
            params = {"_meta": envelope, "cursor": cursor}
        logger.warning("Mcp-Param header check skipped: tools/list did not end within %d pages", LIST_PAGE_CAP)
        return None


async def check_param_headers(
    params: Mapping[str, Any] | None, headers: Mapping[str, str], schemas: ToolSchemas, list_tools: ListTools
) -> None:
    """Raise the SDK's `-32020` refusal when a `tools/call`'s `Mcp-Param-*` headers and body disagree."""
    fields = params or {}
    name = fields.get("name")
    raw_arguments: object = fields.get("arguments")
    arguments = as_mapping(raw_arguments)
    if not isinstance(name, str) or (raw_arguments is not None and arguments is None):
        return  # the backend refuses a malformed call itself
    arguments = arguments or {}
    prefix = MCP_PARAM_HEADER_PREFIX.lower()
    if not arguments and not any(header.lower().startswith(prefix) for header in headers):
        return  # nothing that could disagree
    meta = as_mapping(fields.get("_meta")) or {}
    schema = schemas.known(name)
    fresh = schema is None
    if schema is None:
        schema = await schemas.fetch(name, meta, list_tools)
    rejection = _rejection(schema, arguments, headers)
    if rejection is not None and not fresh:
        rejection = _rejection(await schemas.fetch(name, meta, list_tools), arguments, headers)
    if rejection is not None:
        raise MCPError(code=rejection.code, message=rejection.message, data=rejection.data)


def _rejection(
    schema: Mapping[str, Any] | None, arguments: Mapping[str, Any], headers: Mapping[str, str]
) -> InboundLadderRejection | None:
    return validate_mcp_param_headers(schema, arguments, headers) if schema is not None else None
